/**
 * The report block of a guard fault: the access, the page and what it is (from the engine's
 * state and the page's last change), the guest function and the wasm stack.
 */
import type { AddressSpace, MappingRecord } from "../runtime/address-space.js";
import { MapFlags, Prot } from "../runtime/linux.js";
import { straceLine } from "../hosts/trace-format.js";
import type { TraceRecord } from "../syscalls/calls.js";
import { Access, decodeFaultInfo, kindOf, Kind, OP_NAMES } from "./protection.js";

export interface Fault {
  /** The first byte the access was refused at. */
  address: number;
  /** The fault word (protection.ts faultInfo). */
  info: number;
  /** The whole access: for a bulk operation its range, else the load or store itself. */
  base: number;
  length: number;
  nullLimit: number;
  tableStart: number;
  tableEnd: number;
  tableByte: number;
  memoryBytes: number;
  stack: string;
}

/** A call that changed pages: its trace record. */
export type PageChange = TraceRecord;

/** "call #7 munmap(0x30000, 8192) = 0", in the strace format of --strace. */
export function callText(change: PageChange): string {
  return `call #${change.seq} ${straceLine(change)}`;
}

function hex(value: number): string {
  return `0x${(value >>> 0).toString(16)}`;
}

export function protText(prot: number): string {
  if (prot === Prot.NONE) return "PROT_NONE";
  const names: string[] = [];
  if (prot & Prot.READ) names.push("PROT_READ");
  if (prot & Prot.WRITE) names.push("PROT_WRITE");
  if (prot & Prot.EXEC) names.push("PROT_EXEC");
  return names.join("|");
}

/** What the page holding `fault.address` is, in one phrase. */
export function describePage(fault: Fault, space: AddressSpace, changeOf: (page: number) => PageChange | null): string {
  const address = fault.address;
  if (address < fault.nullLimit) return `null pointer: nothing is ever mapped below ${hex(fault.nullLimit)}`;
  if (address >= fault.tableStart && address < fault.tableEnd) return "the guard's protection table (host memory: the guest may not touch it)";
  if (address >= fault.memoryBytes) return `beyond the end of linear memory (${hex(fault.memoryBytes)}): never mapped`;
  const page = Math.floor(address / space.pageSize);
  const change = changeOf(page);
  const start = space.mappingAt(page);
  if (start >= 0) {
    const record = space.record(start);
    return `${mappingText(record, space)}${change === null ? "" : `; last changed by ${callText(change)}`}`;
  }
  if (kindOf(fault.tableByte) !== Kind.NONE) return `a page of kind ${kindOf(fault.tableByte)} (the table and the engine disagree: a guard bug)`;
  if (change === null) return "never mapped";
  switch (change.call) {
    case "munmap":
      return `unmapped by ${callText(change)}`;
    case "mremap":
      return `released by ${callText(change)} (the mapping moved or shrank)`;
    case "brk":
      return `released by ${callText(change)} (the break moved below it)`;
    default:
      return `not mapped; last changed by ${callText(change)}`;
  }
}

function mappingText(record: MappingRecord, space: AddressSpace): string {
  const pageSize = space.pageSize;
  const range = `${hex(record.start * pageSize)}-${hex((record.start + record.pages) * pageSize)}`;
  const brk = space.brk;
  // mallocng's first brk reserves two pages and maps a PROT_NONE page over the first with
  // MAP_FIXED (musl 1.2.3 src/malloc/mallocng/malloc.c, alloc_meta): a guard below its heap.
  if (record.prot === Prot.NONE && record.pages === 1 && record.start === brk.regionStartPage && record.start < brk.brkEndPage) {
    return `mallocng's guard page: a PROT_NONE page mapped with MAP_FIXED at the start of the brk area ${range} (an access below the heap)`;
  }
  const what = record.file !== null ? `file mapping (offset ${hex(record.fileOffset)})` : (record.flags & MapFlags.TYPE) === MapFlags.SHARED ? "shared anonymous mapping" : "anonymous mapping";
  if (record.prot === Prot.NONE) return `PROT_NONE reservation ${range} (${what})`;
  return `${protText(record.prot)} part of ${/^[aeiou]/.test(what) ? "an" : "a"} ${what} ${range}`;
}

/** The wasm frames of a trap's JavaScript stack, innermost first, without the guard's own. */
export function wasmFrames(stack: string): string[] {
  return stack
    .split("\n")
    .map((line) => line.trim())
    // A wasm frame names its function by index (V8: "wasm://wasm/<hash>:wasm-function[9]:0x3f8");
    // a JavaScript frame's URL or path may hold "wasm" too (a page under /wasm-app/).
    .filter((line) => line.startsWith("at ") && /wasm-function\[\d+\]/.test(line))
    .filter((line) => !/^at __guard_(miss|range)\b/.test(line));
}

/**
 * A fault as data, for what shows it elsewhere than on stderr (the `run --html` report, the
 * demo page, the browser tests): every field of the report block, and the block itself.
 */
export interface FaultSummary {
  /** The first byte the access was refused at. */
  address: number;
  /** The libc page holding it (its index: address / pageSize), and the page size. */
  page: number;
  pageSize: number;
  access: "read" | "write" | "read-modify-write";
  /** Bytes of the load or store; for a bulk operation, the length of its range. */
  size: number;
  operation: string;
  /** What the page is: the phrase of the report's page line. */
  what: string;
  /** The innermost guest function, from the name section, or "(unknown)". */
  functionName: string;
  /** The report block, as run --guard prints it. */
  text: string;
}

export function summarizeFault(fault: Fault, space: AddressSpace, changeOf: (page: number) => PageChange | null): FaultSummary {
  const { size, access, op } = decodeFaultInfo(fault.info);
  const kind = access === Access.READ_WRITE ? "read-modify-write" : access === Access.WRITE ? "write" : "read";
  const bulk = fault.length !== size || fault.base !== fault.address;
  const what = bulk
    ? `${kind} at ${hex(fault.address)} by ${OP_NAMES[op]} of ${fault.length} bytes at ${hex(fault.base)}`
    : `${kind} of ${size} byte${size === 1 ? "" : "s"} at ${hex(fault.address)} (${OP_NAMES[op]})`;
  const page = Math.floor(fault.address / space.pageSize);
  const frames = wasmFrames(fault.stack);
  const functionName = frames.length > 0 ? frames[0].replace(/^at /, "").replace(/ \(.*$/, "") : "(unknown)";
  const pageText = describePage(fault, space, changeOf);
  const text = [
    `wasi-mman guard: invalid ${what}`,
    `  page ${hex(page * space.pageSize)} (${space.pageSize} bytes): ${pageText}`,
    `  in ${functionName}`,
    "  wasm stack:",
    ...(frames.length > 0 ? frames.map((frame) => `    ${frame}`) : ["    (not available)"]),
    "  (SIGSEGV: exit status 139)",
  ].join("\n");
  return {
    address: fault.address,
    page,
    pageSize: space.pageSize,
    access: kind,
    size: bulk ? fault.length : size,
    operation: OP_NAMES[op],
    what: pageText,
    functionName,
    text,
  };
}
