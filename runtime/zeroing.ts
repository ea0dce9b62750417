/**
 * Clearing reused pages without committing memory the guest never wrote (issue #10, item 2).
 *
 * A page handed out again must read as zeros (mmap(2): anonymous mappings are initialized to
 * zero). Writing zeros over a page the guest never touched faults it in (about 3 us per 4 KiB
 * on our machines) and commits it for good, since linear memory never shrinks; reading it
 * maps the kernel's shared zero page and commits nothing. So a zeroer reads before it writes,
 * in blocks of 4 KiB (the host's page, the unit in which memory is committed), and in a block
 * that holds a non-zero byte writes from its first non-zero 32-bit word to the block's end:
 *
 *   block: | 0 0 0 0 0 0 x 0 0 0 0 0 0 y 0 0 0 |  | 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 |
 *                       ^ first word                 never written: still the zero page
 *                       `--------- written --------'
 *
 * Why to the block's end and not to its last non-zero word: a block with data in it is
 * resident already, so zeros written there commit nothing, and a fill is several times faster
 * than the scan it saves (bench/zeroing.ts); the scan stops at the first non-zero word.
 *
 * Two implementations of one contract: `jsZeroer` runs anywhere; `wasmZeroer(memory)` scans
 * with SIMD in a tiny module (runtime/zeroer.wat) that imports the guest's memory, and is null
 * where that module cannot be built or linked. Both write exactly the same bytes and return
 * the same count, so the engine may pick either; bench/zeroing.ts measures them against a
 * plain fill(0).
 */
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE } from "./page-size.js";
import { ZEROER_SHARED_WASM, ZEROER_WASM } from "./zeroer-wasm.js";

/**
 * The block a zeroer looks at: 4 KiB, the smallest libc page and the host's page on the
 * machines we run on (where the host's page is larger, a block with data is resident all the
 * more). Every libc page size is a multiple of it.
 */
export const CLEAR_BLOCK = 4096;

export interface Zeroer {
  /**
   * Makes bytes [from, to) of `bytes` read as zero; `from`/`to` are multiples of pageSize (a
   * power of two, 4096..65536). Looks at each 4 KiB block: one that reads as zero is left
   * untouched, so it is never faulted in or committed; in one with a non-zero byte, the bytes
   * from its first non-zero 32-bit word to its end are written. Returns the bytes written.
   *
   * Words are the 32-bit words counted from each block's start. Arguments outside this
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

/** 32-bit words in a block of CLEAR_BLOCK bytes. */
const BLOCK_WORDS = CLEAR_BLOCK / 4;

/**
 * Clears `words` block by block; returns the words written. Spans that meet (blocks written
 * from their first word on, in a row) are written with one fill: one fill per block cost
 * twice a plain fill.
 */
function clearWords(words: Int32Array): number {
  let written = 0;
  let runStart = 0;
  let runEnd = 0;
  for (let block = 0; block < words.length; block += BLOCK_WORDS) {
    const blockEnd = block + BLOCK_WORDS;
    let first = firstGroup(words, block, blockEnd);
    if (first === blockEnd) continue;
    while (words[first] === 0) first++;
    written += blockEnd - first;
    if (first !== runEnd) {
      words.fill(0, runStart, runEnd);
      runStart = first;
    }
    runEnd = blockEnd;
  }
  words.fill(0, runStart, runEnd);
  return written;
}

/**
 * The same for a view whose start is not 4-byte aligned (an Int32Array cannot be laid over
 * it): scans bytes, then widens the span to the words the aligned path would write.
 */
function clearBlockBytes(bytes: Uint8Array, start: number, end: number): number {
  let first = start;
  while (first < end && bytes[first] === 0) first++;
  if (first === end) return 0;
  const spanStart = start + ((first - start) & ~3);
  bytes.fill(0, spanStart, end);
  return (end - spanStart) / 4;
}

/** Scans and clears in JavaScript; works on any Uint8Array, shared or not. */
export const jsZeroer: Zeroer = {
  clear(bytes: Uint8Array, from: number, to: number, pageSize: number): number {
    checkClear(bytes, from, to, pageSize);
    if (bytes.byteOffset % 4 !== 0) {
      let written = 0;
      for (let block = from; block < to; block += CLEAR_BLOCK) written += clearBlockBytes(bytes, block, block + CLEAR_BLOCK);
      return 4 * written;
    }
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + from, (to - from) / 4);
    return 4 * clearWords(words);
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
  let clearBlocks: (from: number, blocks: number) => number;
  try {
    known = memory.buffer;
    const module = zeroerModule(typeof SharedArrayBuffer !== "undefined" && known instanceof SharedArrayBuffer);
    if (module === null) return null;
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    clearBlocks = instance.exports.clear as typeof clearBlocks;
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
      return 4 * (clearBlocks(bytes.byteOffset + from, (to - from) / CLEAR_BLOCK) >>> 0);
    },
  };
}
