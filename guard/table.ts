/**
 * The host's side of the protection table: where it lives, and the bytes it holds, derived
 * from the engine's state through the AddressSpace facade's read methods.
 *
 *   0     null limit      table start (old heap base)     heap base (new)
 *   | null |  image, stack  | table: 1 byte per 4 KiB   |  brk area, mappings ...
 *            allowed without  granule of memory up to the
 *            a table lookup   limit; TABLE bytes = no access
 *
 * The table takes the place where the heap would begin: the host attaches the engine with a
 * heap base just above it, so the engine never hands its pages out, and the guest's brk heap
 * starts right after it (mallocng's guard page included). A module without `__heap_base`
 * (wasi-libc's own malloc owns the memory it starts with) gets the table at the end of its
 * memory instead. Guest accesses into the table are checked like any other and trap.
 */
import type { AddressSpace } from "../runtime/address-space.js";
import { Prot } from "../runtime/linux.js";
import { Access, GRANULE, GRANULE_SHIFT, Kind, protectionByte } from "./protection.js";

export const ADDRESS_LIMIT = 2 ** 32;

export interface TableLayout {
  /** First byte of the table: also the end of the region checked without a lookup. */
  start: number;
  /** Table bytes: one per granule below `limitBytes`, rounded up to a granule. */
  bytes: number;
  /** The heap base the engine is attached with. */
  heapBase: number;
}

/**
 * Where the table goes for a module whose heap would start at `heapBase` (null: none exported).
 * The new heap base is on a libc page, so no page is half image, half brk area.
 */
export function tableLayout(heapBase: number | null, memoryBytes: number, limitBytes: number, pageSize: number): TableLayout {
  const start = roundUp(heapBase ?? memoryBytes, GRANULE);
  const bytes = roundUp(Math.ceil(limitBytes / GRANULE), GRANULE);
  return { start, bytes, heapBase: roundUp(start + bytes, pageSize) };
}

export function roundUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}

/** The protection byte the engine's state gives libc page `page` (above the heap base). */
export function pageByte(space: AddressSpace, page: number): number {
  const start = space.mappingAt(page);
  if (start >= 0) return mappingByte(space.record(start).prot);
  if (page < space.brk.brkEndPage) return protectionByte(Kind.BRK, Access.READ_WRITE);
  // Pages the engine has not accounted for yet exist (the caller checked): the guest grew them.
  if (page >= space.ownedPages || space.touchesForeign(page, page + 1)) return protectionByte(Kind.FOREIGN, Access.READ_WRITE);
  return protectionByte(Kind.NONE, 0);
}

/**
 * PROT_WRITE and PROT_EXEC imply reading, as on x86 and arm64 (mmap(2): "on some hardware
 * architectures ... PROT_WRITE implies PROT_READ"); PROT_NONE allows nothing.
 */
export function mappingByte(prot: number): number {
  const read = prot & (Prot.READ | Prot.WRITE | Prot.EXEC) ? Access.READ : 0;
  const write = prot & Prot.WRITE ? Access.WRITE : 0;
  return protectionByte(Kind.MAPPING, read | write);
}

/** Writes the table bytes of libc pages [from, to) from the engine's state, stopping at memory's end. */
export function refreshPages(space: AddressSpace, table: Uint8Array, tableStart: number, from: number, to: number, memoryBytes: number): void {
  const granulesPerPage = space.pageSize >> GRANULE_SHIFT;
  const regionStart = space.brk.regionStartPage;
  const end = Math.min(to, Math.floor(memoryBytes / space.pageSize));
  for (let page = Math.max(from, regionStart); page < end; ) {
    const start = space.mappingAt(page);
    // A whole mapping at once: one record read for all its pages.
    const run = start >= 0 ? Math.min(end, start + space.record(start).pages) - page : 1;
    const value = start >= 0 ? mappingByte(space.record(start).prot) : pageByte(space, page);
    const first = tableStart + page * granulesPerPage;
    table.fill(value, first, first + run * granulesPerPage);
    page += run;
  }
}

/**
 * The bytes below the heap base: the image, and the table itself. The first granule is never
 * accessible: the checks look it up only for addresses below the null limit (the rest of it,
 * static data, is below the table and passes without a lookup).
 */
export function writeFixedPart(table: Uint8Array, tableStart: number, layout: TableLayout): void {
  const imageEnd = layout.start >> GRANULE_SHIFT;
  table[tableStart] = protectionByte(Kind.NONE, 0);
  table.fill(protectionByte(Kind.IMAGE, Access.READ_WRITE), tableStart + 1, tableStart + imageEnd);
  table.fill(protectionByte(Kind.TABLE, 0), tableStart + imageEnd, tableStart + (layout.heapBase >> GRANULE_SHIFT));
}
