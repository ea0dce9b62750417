/**
 * Clearing: every page handed out reads as zeros (mmap(2): anonymous memory is zero-filled),
 * without writing a byte the guest did not write.
 *
 * Two facts decide the design (measured here; ../shared/NOTES.md and docs/semantics.md):
 * the first write to a never-touched page faults it in and commits it (about 3 us per 4 KiB),
 * while reading it maps the kernel's shared zero page and commits nothing. So a page that was
 * handed out before ("dirty") is not filled blindly: the zeroer looks at it first and writes
 * only the span that holds non-zero bytes. A page the guest never wrote is then never written
 * by the host either, and the process's resident memory follows what the guest wrote.
 *
 * The dirty bit still pays: a page fresh from memory.grow is known to be zero and is not even
 * looked at, so a program that never reuses memory pays nothing here.
 */
import type { LinearMemory } from "./memory.js";
import type { PageTable } from "./page-table.js";
import type { Counters } from "./statistics.js";
import { CLEAR_BLOCK, jsZeroer, type Zeroer } from "./zeroing.js";

/**
 * Below this many bytes a clear is done in JavaScript even when the wasm zeroer exists: a call
 * into wasm costs more than scanning a few blocks in JavaScript (a one-page mmap and munmap
 * pair took 175 ns with the JavaScript zeroer, 334 ns with the wasm one), while over larger
 * ranges the SIMD scan is 3-8 times faster (bench/zeroing.ts).
 */
const SMALL_CLEAR_BYTES = 65536;

export class Clearing {
  /** The zeroer for ranges of SMALL_CLEAR_BYTES and more (the wasm one where it can be built). */
  zeroer: Zeroer = jsZeroer;
  /** A word view over the memory's current buffer, replaced when the buffer is (growth). */
  private words: Int32Array = new Int32Array(0);

  constructor(
    private readonly table: PageTable,
    private readonly pageSize: number,
    private counters: Counters,
  ) {}

  /** Counts into `counters` from now on (a shared address space's: statistics.ts). */
  useCounters(counters: Counters): void {
    this.counters = counters;
  }

  /** Makes the dirty pages of [from, to) read as zeros and marks them clean. */
  clearDirty(memory: LinearMemory, from: number, to: number): void {
    const table = this.table;
    if (to - from === 1) {
      // One page: the most common mapping, worth its own path.
      if (!table.isDirty(from)) return;
      this.zero(memory, from, to);
      table.markClean(from, to);
      return;
    }
    if (!table.anyDirty(from, to)) return;
    for (let page = table.nextDirty(from, to); page >= 0; ) {
      let end = page + 1;
      while (end < to && table.isDirty(end)) end++;
      this.zero(memory, page, end);
      page = end < to ? table.nextDirty(end, to) : -1;
    }
    table.markClean(from, to);
  }

  /** clearDirty() for a range the caller knows is dirty throughout (recycled pages). */
  clearAllDirty(memory: LinearMemory, from: number, to: number): void {
    this.zero(memory, from, to);
    this.table.markClean(from, to);
  }

  /** Makes pages [from, to) that stay in use read as zeros (MADV_DONTNEED, MREMAP_DONTUNMAP). */
  zeroInUse(memory: LinearMemory, from: number, to: number): void {
    this.zero(memory, from, to);
  }

  /**
   * Copies `pages` pages from page `from` to page `to`, whose pages read as zeros already (they
   * were just taken): 4 KiB blocks of the source that read as zeros are skipped, so a move
   * (mremap) writes, and commits, only what the guest wrote. The ranges do not overlap.
   */
  copyWritten(memory: LinearMemory, from: number, to: number, pages: number): void {
    const bytes = memory.bytes();
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    const source = from * this.pageSize;
    const target = to * this.pageSize;
    const length = pages * this.pageSize;
    for (let offset = 0; offset < length; ) {
      if (isZeroBlock(words, (source + offset) >>> 2)) {
        offset += CLEAR_BLOCK;
        continue;
      }
      // Copy the run of blocks holding data in one call.
      let end = offset + CLEAR_BLOCK;
      while (end < length && !isZeroBlock(words, (source + end) >>> 2)) end += CLEAR_BLOCK;
      bytes.copyWithin(target + offset, source + offset, source + end);
      offset = end;
    }
  }

  private zero(memory: LinearMemory, from: number, to: number): void {
    const size = this.pageSize;
    const bytes = memory.bytes();
    this.counters.checkedBytes += (to - from) * size;
    if ((to - from) * size < SMALL_CLEAR_BYTES && bytes.byteOffset === 0) {
      this.counters.clearedBytes += this.zeroSmall(bytes, from * size, to * size);
      return;
    }
    const zeroer = (to - from) * size < SMALL_CLEAR_BYTES ? jsZeroer : this.zeroer;
    this.counters.clearedBytes += zeroer.clear(bytes, from * size, to * size, size);
  }

  /**
   * The JavaScript zeroer's rule for a few blocks, over a word view kept across calls (a view
   * per call cost as much as clearing a page): per 4 KiB block, from the first non-zero word
   * to the block's end. Returns the bytes written.
   */
  private zeroSmall(bytes: Uint8Array, start: number, end: number): number {
    // One engine, one memory: its buffer changes only when it grows, and then its length does
    // (reading .buffer here cost half of a page's fill).
    if (this.words.length !== bytes.length >>> 2) this.words = new Int32Array(bytes.buffer, 0, bytes.byteLength >>> 2);
    const words = this.words;
    let written = 0;
    for (let block = start; block < end; block += CLEAR_BLOCK) {
      const blockEnd = (block + CLEAR_BLOCK) >>> 2;
      let word = block >>> 2;
      while (word < blockEnd && (words[word] | words[word + 1] | words[word + 2] | words[word + 3]) === 0) word += 4;
      if (word === blockEnd) continue;
      while (words[word] === 0) word++;
      // Uint8Array.fill is a memset; Int32Array.fill of zeros was several times slower here.
      bytes.fill(0, word * 4, blockEnd * 4);
      written += (blockEnd - word) * 4;
    }
    return written;
  }

}

/** True when the 4 KiB block from word `first` is all zero (stops at the first word that is not). */
function isZeroBlock(words: Int32Array, first: number): boolean {
  const end = first + CLEAR_BLOCK / 4;
  for (let i = first; i < end; i += 4) {
    if ((words[i] | words[i + 1] | words[i + 2] | words[i + 3]) !== 0) return false;
  }
  return true;
}
