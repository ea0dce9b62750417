/**
 * Clearing reused pages without committing memory the guest never wrote (issue #10, item 2).
 *
 * A page handed out again must read as zeros (mmap(2): anonymous mappings are initialized to
 * zero). Writing zeros over a page the guest never touched faults it in (about 3 us per 4 KiB
 * on our machines) and commits it for good, since linear memory never shrinks; reading it
 * maps the kernel's shared zero page and commits nothing. So a zeroer reads before it writes,
 * page by page, and writes only the span from the first to the last non-zero 32-bit word:
 *
 *   page:  | 0 0 0 0 | 0 0 x 0 | 0 0 0 0 | 0 y 0 0 | 0 0 0 0 |
 *                          ^ first word         ^ last word
 *                          `------- written --------'
 *
 * Two implementations of one contract: `jsZeroer` runs anywhere; `wasmZeroer(memory)` scans
 * with SIMD in a tiny module (runtime/zeroer.wat) that imports the guest's memory, and is null
 * where that module cannot be built or linked. Both write exactly the same bytes and return
 * the same count, so the engine may pick either; bench/zeroing.ts measures them against a
 * plain fill(0).
 */
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE } from "./page-size.js";
import { ZEROER_SHARED_WASM, ZEROER_WASM } from "./zeroer-wasm.js";

export interface Zeroer {
  /**
   * Makes bytes [from, to) of `bytes` read as zero; `from`/`to` are multiples of pageSize (a
   * power of two, 4096..65536). Writes only what is not zero already, page by page (a page
   * that reads as zero is left untouched, so it is never faulted in or committed; in a page
   * with non-zero bytes only the span from the first to the last non-zero word is written).
   * Returns the number of bytes written.
   *
   * Words are the 32-bit words counted from each page's start. Arguments outside this
   * contract are a bug in the host: clear() throws a RangeError and writes nothing.
   */
  clear(bytes: Uint8Array, from: number, to: number, pageSize: number): number;
}

/** Throws unless clear()'s arguments are within its contract (so no zeroer writes out of range). */
function checkClear(bytes: Uint8Array, from: number, to: number, pageSize: number): void {
  const pageSizeOk =
    Number.isInteger(pageSize) && pageSize >= MIN_PAGE_SIZE && pageSize <= MAX_PAGE_SIZE && (pageSize & (pageSize - 1)) === 0;
  // `%` is NaN or a fraction for NaN and non-integers, so these also reject them.
  if (!pageSizeOk || from % pageSize !== 0 || to % pageSize !== 0 || !(from >= 0 && from <= to && to <= bytes.length)) {
    throw new RangeError(
      `wasi-mman: clear(${String(from)}, ${String(to)}, page size ${String(pageSize)}) is not a page-aligned range of ${bytes.length} bytes`,
    );
  }
}

/**
 * Index in words[start, end) of the first group of eight words with a non-zero bit, or `end`.
 * Int32, not Float64: a Float64Array would read the pattern of -0.0 as equal to 0.
 */
function firstGroup(words: Int32Array, start: number, end: number): number {
  let group = start;
  while (
    group < end &&
    (words[group] | words[group + 1] | words[group + 2] | words[group + 3] |
      words[group + 4] | words[group + 5] | words[group + 6] | words[group + 7]) === 0
  ) {
    group += 8;
  }
  return group;
}

/**
 * Index in words[start, end) of the last group of eight words with a non-zero bit, or -1.
 * Reads forward, as zeroer.wat does: backwards, memory came at about half the speed here.
 */
function lastGroup(words: Int32Array, start: number, end: number): number {
  let last = -1;
  for (let group = start; group < end; group += 8) {
    if ((words[group] | words[group + 1] | words[group + 2] | words[group + 3] |
      words[group + 4] | words[group + 5] | words[group + 6] | words[group + 7]) !== 0) last = group;
  }
  return last;
}

/**
 * Clears `words`, pages of `pageWords` words; returns the words written. The steps of
 * zeroer.wat: per page the first non-zero group, then the page's last group if it is non-zero
 * (fully written pages), else the last non-zero group after the first; spans that meet are
 * written with one fill (one fill per page cost twice a plain fill at 4 KiB).
 */
function clearWords(words: Int32Array, pageWords: number): number {
  let written = 0;
  let runStart = 0;
  let runEnd = 0;
  for (let page = 0; page < words.length; page += pageWords) {
    const pageEnd = page + pageWords;
    const firstNonZero = firstGroup(words, page, pageEnd);
    if (firstNonZero === pageEnd) continue;
    let first = firstNonZero;
    while (words[first] === 0) first++;
    let last = pageEnd - 8;
    if (firstGroup(words, last, pageEnd) === pageEnd) last = Math.max(firstNonZero, lastGroup(words, firstNonZero + 8, last));
    last += 7;
    while (words[last] === 0) last--;
    written += last + 1 - first;
    if (first !== runEnd) {
      words.fill(0, runStart, runEnd);
      runStart = first;
    }
    runEnd = last + 1;
  }
  words.fill(0, runStart, runEnd);
  return written;
}

/**
 * The same for a view whose start is not 4-byte aligned (an Int32Array cannot be laid over
 * it): scans bytes, then widens the span to the words the aligned path would write.
 */
function clearPageBytes(bytes: Uint8Array, start: number, end: number): number {
  let first = start;
  while (first < end && bytes[first] === 0) first++;
  if (first === end) return 0;
  let last = end - 1;
  while (bytes[last] === 0) last--;
  const spanStart = start + ((first - start) & ~3);
  const spanEnd = start + ((last - start) | 3) + 1;
  bytes.fill(0, spanStart, spanEnd);
  return (spanEnd - spanStart) / 4;
}

/** Scans and clears in JavaScript; works on any Uint8Array, shared or not. */
export const jsZeroer: Zeroer = {
  clear(bytes: Uint8Array, from: number, to: number, pageSize: number): number {
    checkClear(bytes, from, to, pageSize);
    if (bytes.byteOffset % 4 !== 0) {
      let written = 0;
      for (let page = from; page < to; page += pageSize) written += clearPageBytes(bytes, page, page + pageSize);
      return 4 * written;
    }
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + from, (to - from) / 4);
    return 4 * clearWords(words, pageSize / 4);
  },
};

/** Base64 to bytes with what every host has (atob; Node's Buffer is not in browsers). */
function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// Compiled once per process for each kind of memory; null once compiling has failed.
let plainModule: WebAssembly.Module | null | undefined;
let sharedModule: WebAssembly.Module | null | undefined;

/** The compiled zeroer for a shared or non-shared memory, or null where this engine rejects it. */
function zeroerModule(shared: boolean): WebAssembly.Module | null {
  const cached = shared ? sharedModule : plainModule;
  if (cached !== undefined) return cached;
  let module: WebAssembly.Module | null;
  try {
    // Synchronous: the module is a few hundred bytes, far below the size browsers refuse to
    // compile synchronously on the main thread.
    module = new WebAssembly.Module(decodeBase64(shared ? ZEROER_SHARED_WASM : ZEROER_WASM));
  } catch {
    // CompileError: no SIMD (or, for the shared one, no threads) in this engine.
    module = null;
  }
  if (shared) sharedModule = module;
  else plainModule = module;
  return module;
}

/**
 * A zeroer that scans and clears in wasm with SIMD, over `memory` itself; clear() takes views
 * over that memory only (as LinearMemory.bytes() gives them) and throws a RangeError for any
 * other. Null when the module cannot serve this memory: no WebAssembly or no SIMD in this
 * engine, a shared memory where the engine has no threads, or a memory64 memory (the module
 * imports a 32-bit memory, so linking fails); the engine then uses `jsZeroer`.
 */
export function wasmZeroer(memory: WebAssembly.Memory): Zeroer | null {
  if (typeof WebAssembly === "undefined") return null;
  let known: ArrayBufferLike;
  let clearPages: (from: number, pages: number, pageSize: number) => number;
  try {
    known = memory.buffer;
    const module = zeroerModule(typeof SharedArrayBuffer !== "undefined" && known instanceof SharedArrayBuffer);
    if (module === null) return null;
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    clearPages = instance.exports.clear as typeof clearPages;
  } catch {
    // LinkError: the memory does not match the import (memory64).
    return null;
  }
  return {
    clear(bytes: Uint8Array, from: number, to: number, pageSize: number): number {
      checkClear(bytes, from, to, pageSize);
      // The module writes memory by address: a view over another buffer would have it clear
      // the wrong bytes. Reading memory.buffer is slow, so only when the buffer changed (grow).
      if (bytes.buffer !== known) {
        known = memory.buffer;
        if (bytes.buffer !== known) throw new RangeError("wasi-mman: wasmZeroer.clear got a view over another memory");
      }
      if (from === to) return 0;
      // Addresses above 2^31 pass as negative i32 with the same bits; the result is in words
      // (see zeroer.wat), unsigned.
      return 4 * (clearPages(bytes.byteOffset + from, (to - from) / pageSize, pageSize) >>> 0);
    },
  };
}
