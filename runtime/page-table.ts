/**
 * The page table: one bit per libc page in four flat bitmaps, so that the whole table can later
 * live in a SharedArrayBuffer (STYLE.md, "plan for threads").
 *
 *   used     1 = image, brk area, mapping, recycled or foreign page; 0 = free
 *   dirty    1 = the page may hold non-zero bytes (it was handed out since it came from
 *                memory.grow); 0 = it reads as zeros
 *   starts   1 = the first page of a mapping (its record is in the mapping table)
 *   foreign  1 = the guest (or its WASI host) grew this page itself: never ours to hand out
 *
 * Only the engine's parts write these bitmaps; everything outside runtime/ reads the engine
 * through the AddressSpace facade.
 */
import { anySet, allSet, clearBit, clearRange, growBitmap, nextSet, prevSet, setBit, setRange, testBit, wordsFor } from "./bitmap.js";
import type { SharedRegion } from "./shared-state.js";

export class PageTable {
  used: Uint32Array = new Uint32Array(0);
  dirty: Uint32Array = new Uint32Array(0);
  starts: Uint32Array = new Uint32Array(0);
  foreign: Uint32Array = new Uint32Array(0);
  /** Pages the bitmaps can hold. */
  capacity = 0;
  /** True once the bitmaps live in shared memory (share()): they cover every page then. */
  private shared = false;

  /** Moves the bitmaps into `region`, made for `capacity` pages (shared-state.ts). */
  share(region: SharedRegion, capacity: number): void {
    const words = wordsFor(capacity);
    this.used = region.uint32("table.used", words);
    this.dirty = region.uint32("table.dirty", words);
    this.starts = region.uint32("table.starts", words);
    this.foreign = region.uint32("table.foreign", words);
    this.capacity = capacity;
    this.shared = true;
  }

  /** Makes the bitmaps cover pages [0, pages) (capacity doubles, from 1024 pages). */
  ensureCapacity(pages: number): number {
    if (pages <= this.capacity) return this.capacity;
    if (this.shared) throw new Error(`wasi-mman: page ${pages} is past the shared page table (${this.capacity} pages)`);
    let capacity = Math.max(1024, this.capacity);
    while (capacity < pages) capacity *= 2;
    this.used = growBitmap(this.used, capacity);
    this.dirty = growBitmap(this.dirty, capacity);
    this.starts = growBitmap(this.starts, capacity);
    this.foreign = growBitmap(this.foreign, capacity);
    this.capacity = capacity;
    return capacity;
  }

  isUsed(page: number): boolean {
    return testBit(this.used, page);
  }

  isDirty(page: number): boolean {
    return testBit(this.dirty, page);
  }

  isStart(page: number): boolean {
    return testBit(this.starts, page);
  }

  isForeign(page: number): boolean {
    return testBit(this.foreign, page);
  }

  anyUsed(from: number, to: number): boolean {
    return anySet(this.used, from, to);
  }

  allUsed(from: number, to: number): boolean {
    return allSet(this.used, from, to);
  }

  anyForeign(from: number, to: number): boolean {
    return anySet(this.foreign, from, to);
  }

  anyDirty(from: number, to: number): boolean {
    return anySet(this.dirty, from, to);
  }

  /** First page of [from, to) that is dirty, or -1. */
  nextDirty(from: number, to: number): number {
    return nextSet(this.dirty, from, to);
  }

  /** First mapping start in [from, to), or -1. */
  nextStart(from: number, to: number): number {
    return nextSet(this.starts, from, to);
  }

  /** Last mapping start at or below `page` and at or above `floor`, or -1. */
  prevStart(page: number, floor: number): number {
    return prevSet(this.starts, page, floor);
  }

  /** Last used page at or below `page`, or -1. */
  prevUsed(page: number): number {
    return prevSet(this.used, page, 0);
  }

  markUsed(from: number, to: number): void {
    if (to - from === 1) setBit(this.used, from);
    else setRange(this.used, from, to);
  }

  markFree(from: number, to: number): void {
    if (to - from === 1) clearBit(this.used, from);
    else clearRange(this.used, from, to);
  }

  markDirty(from: number, to: number): void {
    if (to - from === 1) setBit(this.dirty, from);
    else setRange(this.dirty, from, to);
  }

  markClean(from: number, to: number): void {
    if (to - from === 1) clearBit(this.dirty, from);
    else clearRange(this.dirty, from, to);
  }

  markForeign(from: number, to: number): void {
    setRange(this.foreign, from, to);
  }

  setStart(page: number): void {
    setBit(this.starts, page);
  }

  clearStart(page: number): void {
    clearBit(this.starts, page);
  }

  /** Bytes of the bitmaps. */
  get byteLength(): number {
    return this.used.byteLength + this.dirty.byteLength + this.starts.byteLength + this.foreign.byteLength;
  }
}
