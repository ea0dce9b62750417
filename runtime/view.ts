/**
 * Read-only views of the engine for memory maps, the CLI, the demo and tests. Nothing here
 * changes state: a view may be taken at any moment, also from a trace hook, without changing
 * where the next mapping lands.
 */
import type { BrkArea } from "./brk-area.js";
import type { FreeRuns } from "./free-runs.js";
import type { MappingRecord } from "./mapping-table.js";
import type { Mappings } from "./mappings.js";
import type { PageTable } from "./page-table.js";

/** What a page of linear memory is, for pageKinds() and the memory map. */
export const PageKind = {
  IMAGE: 0,
  BRK: 1,
  MAPPED: 2,
  FREE_CLEAN: 3,
  FREE_DIRTY: 4,
  FOREIGN: 5,
} as const;
export type PageKind = (typeof PageKind)[keyof typeof PageKind];

interface Extent {
  readonly ownedPages: number;
  readonly pageSize: number;
  readonly memory: { byteLength(): number } | null;
}

export class AddressSpaceView {
  constructor(
    private readonly extent: Extent,
    private readonly table: PageTable,
    private readonly runs: FreeRuns,
    private readonly maps: Mappings,
    private readonly brk: BrkArea,
  ) {}

  /**
   * One PageKind per libc page of linear memory (recycled pages show as free, dirty). Pages the
   * guest grew since the last call are foreign already, though the engine adopts them only at
   * its next call.
   */
  pageKinds(): Uint8Array {
    const owned = this.extent.ownedPages;
    const memory = this.extent.memory;
    const total = memory === null ? owned : Math.max(owned, memory.byteLength() / this.extent.pageSize);
    const kinds = new Uint8Array(total).fill(PageKind.FOREIGN, owned);
    const t = this.table;
    const regionStart = this.brk.regionStartPage;
    const brkEnd = this.brk.brkEndPage;
    for (let page = 0; page < owned; page++) {
      let kind: PageKind;
      if (page < regionStart) kind = PageKind.IMAGE;
      else if (t.isForeign(page)) kind = PageKind.FOREIGN;
      else if (!t.isUsed(page)) kind = t.isDirty(page) ? PageKind.FREE_DIRTY : PageKind.FREE_CLEAN;
      else kind = page < brkEnd ? PageKind.BRK : PageKind.FREE_DIRTY;
      kinds[page] = kind;
    }
    // Mappings (also those inside the brk area) are marked from their records.
    for (let start = this.maps.next(regionStart, owned); start >= 0; ) {
      const end = start + this.maps.pagesOf(start);
      kinds.fill(PageKind.MAPPED, start, end);
      start = this.maps.next(end, owned);
    }
    return kinds;
  }

  /** Every mapping record, lowest address first. */
  records(): MappingRecord[] {
    const list: MappingRecord[] = [];
    const owned = this.extent.ownedPages;
    for (let start = this.maps.next(this.brk.regionStartPage, owned); start >= 0; ) {
      const record = this.maps.record(start);
      list.push(record);
      start = this.maps.next(start + record.pages, owned);
    }
    return list;
  }

  /** Free pages in the wilderness (the run at the end of memory). */
  get wildernessPages(): number {
    return this.runs.wildernessPages;
  }

  /** Bytes of JavaScript memory the per-page bookkeeping takes. */
  get bookkeepingBytes(): number {
    return this.table.byteLength + this.runs.byteLength + this.maps.records.byteLength;
  }

  /** Bytes of the page bitmaps alone (used, dirty, starts, foreign) for the memory as it is. */
  get bitmapBytes(): number {
    const memory = this.extent.memory;
    const pages = memory === null ? this.extent.ownedPages : Math.max(this.extent.ownedPages, memory.byteLength() / this.extent.pageSize);
    return ((pages + 31) >>> 5) * 4 * 4;
  }
}
