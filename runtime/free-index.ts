/**
 * The summary level over the page bitmap: an index of maximal free runs of pages, segregated
 * by length, that answers "where is a free run of at least N pages?" in constant time.
 *
 * Why not a summary bitmap: a per-word "has a free bit" summary finds a free page fast, but a
 * run of N pages can straddle words and a map with many small holes makes it scan all of them
 * (100,000 live mappings with one-page holes between them means 100,000 words). Indexing the
 * runs themselves by length keeps the cost flat: this is TLSF's two-level segregated fit
 * (Masmano et al., "TLSF: a New Dynamic Memory Allocator for Real-Time Systems", ECRTS 2004),
 * applied to page runs instead of byte blocks.
 *
 * Layout, all flat typed arrays indexed by page (so the whole index can later live in a
 * SharedArrayBuffer):
 *
 *     page:        s                        s+len-1
 *                  +------------------------+
 *     runLength    | len  0   0  ...  0   0 |
 *     runStartAt   | -1  -1  -1  ... -1   s |   (boundary tag at the last page)
 *     next/prev    | links in the bucket list of len (only meaningful at s)
 *                  +------------------------+
 *
 * Buckets: lengths below 16 have a bucket each (fl 0, sl = len); above, fl = floor(log2 len) - 3
 * and sl = the next 4 bits, so a bucket spans at most 1/16 of its lengths.
 */

import { isSharedBuffer, type SharedRegion } from "./shared-state.js";

const SL_BITS = 4;
const SL_COUNT = 1 << SL_BITS;
/** Enough first-level classes for runs up to 2^31 pages. */
const FL_COUNT = 29;

function fls(value: number): number {
  return 31 - Math.clz32(value);
}

function ctz(value: number): number {
  return 31 - Math.clz32(value & -value);
}

export class FreeRunIndex {
  /** At the first page of a free run: its length in pages; 0 elsewhere. */
  runLength: Int32Array;
  /** At the last page of a free run: its first page; -1 elsewhere. */
  runStartAt: Int32Array;
  private next: Int32Array;
  private prev: Int32Array;
  private heads: Int32Array = new Int32Array(FL_COUNT * SL_COUNT).fill(-1);
  private firstLevelMap = 0;
  private secondLevelMaps: Uint32Array = new Uint32Array(FL_COUNT);
  /** Free pages in all runs (for statistics and invariants). */
  freePages = 0;
  runs = 0;

  constructor(capacity: number) {
    this.runLength = new Int32Array(capacity);
    this.runStartAt = new Int32Array(capacity).fill(-1);
    this.next = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
  }

  get capacity(): number {
    return this.runLength.length;
  }

  /** Moves the index into `region`, made for `capacity` pages (shared-state.ts); it is empty yet. */
  share(region: SharedRegion, capacity: number): void {
    this.runLength = region.int32("runs.length", capacity);
    this.runStartAt = region.int32("runs.startAt", capacity, -1);
    this.next = region.int32("runs.next", capacity);
    this.prev = region.int32("runs.prev", capacity);
    this.heads = region.int32("runs.heads", FL_COUNT * SL_COUNT, -1);
    this.secondLevelMaps = region.uint32("runs.secondLevel", FL_COUNT);
    region.bindScalars("runs.scalars", this as FreeRunIndex, ["firstLevelMap", "freePages", "runs"] as never[]);
  }

  /** Makes room for pages [0, capacity). */
  ensureCapacity(capacity: number): void {
    if (capacity <= this.runLength.length) return;
    if (isSharedBuffer(this.runLength.buffer)) throw new Error(`wasi-mman: page ${capacity} is past the shared free-run index`);
    const grow = (old: Int32Array, fill: number): Int32Array => {
      const next = new Int32Array(capacity);
      if (fill !== 0) next.fill(fill, old.length);
      next.set(old);
      return next;
    };
    this.runLength = grow(this.runLength, 0);
    this.runStartAt = grow(this.runStartAt, -1);
    this.next = grow(this.next, 0);
    this.prev = grow(this.prev, 0);
  }

  private static bucketOf(length: number): number {
    if (length < SL_COUNT) return length;
    const top = fls(length);
    const fl = top - (SL_BITS - 1);
    const sl = (length >>> (top - SL_BITS)) ^ SL_COUNT;
    return fl * SL_COUNT + sl;
  }

  /** Adds the free run [start, start+length). The caller has coalesced it with its neighbours. */
  insert(start: number, length: number): void {
    const bucket = FreeRunIndex.bucketOf(length);
    const head = this.heads[bucket];
    this.runLength[start] = length;
    this.runStartAt[start + length - 1] = start;
    this.next[start] = head;
    this.prev[start] = -1;
    if (head >= 0) this.prev[head] = start;
    this.heads[bucket] = start;
    const fl = bucket >>> SL_BITS;
    this.firstLevelMap |= 1 << fl;
    this.secondLevelMaps[fl] |= 1 << (bucket & (SL_COUNT - 1));
    this.freePages += length;
    this.runs++;
  }

  /** Removes the free run that starts at `start`; returns its length. */
  remove(start: number): number {
    const length = this.runLength[start];
    const bucket = FreeRunIndex.bucketOf(length);
    const next = this.next[start];
    const prev = this.prev[start];
    if (prev >= 0) this.next[prev] = next;
    else this.heads[bucket] = next;
    if (next >= 0) this.prev[next] = prev;
    if (this.heads[bucket] < 0) {
      const fl = bucket >>> SL_BITS;
      this.secondLevelMaps[fl] &= ~(1 << (bucket & (SL_COUNT - 1)));
      if (this.secondLevelMaps[fl] === 0) this.firstLevelMap &= ~(1 << fl);
    }
    this.runLength[start] = 0;
    this.runStartAt[start + length - 1] = -1;
    this.freePages -= length;
    this.runs--;
    return length;
  }

  /**
   * Changes the run at `start` to [newStart, newStart+newLength) (it shrank or grew at an end).
   * When the length stays in the same bucket, only the tags move: the common case of a page
   * taken from or returned to a large run costs no list operations.
   */
  reshape(start: number, newStart: number, newLength: number): void {
    const length = this.runLength[start];
    if (newStart === start && FreeRunIndex.bucketOf(newLength) === FreeRunIndex.bucketOf(length)) {
      this.runStartAt[start + length - 1] = -1;
      this.runLength[start] = newLength;
      this.runStartAt[start + newLength - 1] = start;
      this.freePages += newLength - length;
      return;
    }
    this.remove(start);
    this.insert(newStart, newLength);
  }

  /** The first page of the free run whose last page is `page`, or -1. */
  runEndingAt(page: number): number {
    return page >= 0 && page < this.runStartAt.length ? this.runStartAt[page] : -1;
  }

  /**
   * A free run of at least `pages` pages, or -1. Good fit in O(1): the request is rounded up to
   * the next bucket boundary so that any run of a non-empty bucket at or above it fits; when
   * none does, the request's own bucket is searched, since it may hold a run that fits exactly.
   */
  findFit(pages: number): number {
    let rounded = pages;
    if (pages >= SL_COUNT) rounded += (1 << (fls(pages) - SL_BITS)) - 1;
    const bucket = FreeRunIndex.bucketOf(rounded);
    let fl = bucket >>> SL_BITS;
    if (fl < FL_COUNT) {
      let slMap = this.secondLevelMaps[fl] & (~0 << (bucket & (SL_COUNT - 1)));
      if (slMap === 0) {
        const flMap = fl + 1 < 32 ? this.firstLevelMap & (~0 << (fl + 1)) : 0;
        if (flMap !== 0) {
          fl = ctz(flMap);
          slMap = this.secondLevelMaps[fl];
        }
      }
      if (slMap !== 0) return this.heads[fl * SL_COUNT + ctz(slMap)];
    }
    // Rounding up skipped the request's own bucket: look there for a run that is long enough.
    for (let run = this.heads[FreeRunIndex.bucketOf(pages)]; run >= 0; run = this.next[run]) {
      if (this.runLength[run] >= pages) return run;
    }
    return -1;
  }

  /** Every run as [start, length] (for invariants and the memory map). */
  *allRuns(): Generator<[number, number]> {
    for (let bucket = 0; bucket < this.heads.length; bucket++) {
      for (let run = this.heads[bucket]; run >= 0; run = this.next[run]) {
        yield [run, this.runLength[run]];
      }
    }
  }
}
