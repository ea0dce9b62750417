/**
 * Placement: where a mapping without a usable address goes, chosen for memory that never
 * comes back (docs/semantics.md, "Placement", has the measurements behind each rule):
 *
 * 1. A recycled mapping of exactly this size, if one is held (below).
 * 2. A hole: the good-fit free run from the index (O(1), flat from 100 to 100,000 mappings),
 *    carved from its low end, so that what is left of the hole stays in one piece next to the
 *    next mapping. The hole that starts at the break is carved from its high end instead, so
 *    the brk area can still grow into what is left.
 * 3. The wilderness (the free run at the end of memory), from its low end; memory grows only
 *    here, and only by what the wilderness lacks.
 *
 * Recycling: munmap of a whole anonymous mapping of up to RECYCLE_MAX_PAGES pages keeps its
 * pages aside (still marked used, now dirty) for the next mmap of the same size, instead of
 * merging them into the free runs at once. A malloc/free loop of large blocks then costs one
 * stack push and pop per pair rather than a search, a split and a merge. Recycled pages go back
 * to the free runs (flush) before any placement that finds no hole, before memory grows, and
 * before any call that looks at the free map (a hint, MAP_FIXED, brk, mremap), so no policy
 * ever sees them as used. Bounded: RECYCLE_DEPTH mappings per size.
 */
import type { Clearing } from "./clearing.js";
import type { FreeRuns } from "./free-runs.js";
import type { LinearMemory } from "./memory.js";
import type { PageTable } from "./page-table.js";
import type { SharedRegion } from "./shared-state.js";

export const RECYCLE_MAX_PAGES = 32;
export const RECYCLE_DEPTH = 16;

export class Placement {
  /** Recycled mappings: RECYCLE_DEPTH first pages per size (1..RECYCLE_MAX_PAGES). */
  private recycled: Int32Array = new Int32Array((RECYCLE_MAX_PAGES + 1) * RECYCLE_DEPTH);
  private recycledCount: Int32Array = new Int32Array(RECYCLE_MAX_PAGES + 1);
  /** Pages held in the recycle stacks. */
  recycledPages = 0;

  constructor(
    private readonly table: PageTable,
    private readonly runs: FreeRuns,
    private readonly clearing: Clearing,
  ) {}

  /** Moves the recycle stacks into `region` (shared-state.ts); they are empty yet. */
  share(region: SharedRegion): void {
    this.recycled = region.int32("recycle.stacks", this.recycled.length);
    this.recycledCount = region.int32("recycle.counts", this.recycledCount.length);
    region.bindScalars("recycle.scalars", this as Placement, ["recycledPages"]);
  }

  /** Takes the free pages [from, to): marked used, and made to read as zeros. */
  take(memory: LinearMemory, from: number, to: number): void {
    this.runs.take(from, to);
    this.table.markUsed(from, to);
    this.clearing.clearDirty(memory, from, to);
  }

  /** A recycled mapping of `pages` pages, taken, or -1. */
  fromRecycled(memory: LinearMemory, pages: number): number {
    if (pages > RECYCLE_MAX_PAGES || this.recycledCount[pages] === 0) return -1;
    const start = this.recycled[pages * RECYCLE_DEPTH + --this.recycledCount[pages]];
    this.recycledPages -= pages;
    // Every recycled page is dirty (recycle() marked it): cleared as one range.
    this.clearing.clearAllDirty(memory, start, start + pages);
    return start;
  }

  /** `pages` pages taken from a hole (rule 2), or -1 when no hole fits. */
  inHole(memory: LinearMemory, pages: number, brkEnd: number): number {
    const run = this.runs.findHole(pages);
    if (run < 0) return -1;
    const start = run === brkEnd ? run + this.runs.runFrom(run) - pages : run;
    this.take(memory, start, start + pages);
    return start;
  }

  /** `pages` pages from the low end of the wilderness (rule 3), or -1 when it is too short. */
  inWilderness(memory: LinearMemory, pages: number): number {
    if (this.runs.wildernessPages < pages) return -1;
    const start = this.runs.wildStart;
    this.take(memory, start, start + pages);
    return start;
  }

  /**
   * Keeps the whole anonymous mapping [from, from+pages) aside for the next mmap of its size
   * (the caller dropped its record). Returns false, changing nothing, when it does not qualify.
   */
  recycle(from: number, pages: number): boolean {
    if (pages > RECYCLE_MAX_PAGES || this.recycledCount[pages] === RECYCLE_DEPTH) return false;
    this.table.markDirty(from, from + pages);
    this.recycled[pages * RECYCLE_DEPTH + this.recycledCount[pages]++] = from;
    this.recycledPages += pages;
    return true;
  }

  /** True when a mapping of `pages` pages could be recycled now. */
  canRecycle(pages: number): boolean {
    return pages <= RECYCLE_MAX_PAGES && this.recycledCount[pages] !== RECYCLE_DEPTH;
  }

  /** Gives every recycled mapping's pages back to the free runs. */
  flush(): void {
    if (this.recycledPages === 0) return;
    for (let pages = 1; pages <= RECYCLE_MAX_PAGES; pages++) {
      for (let i = 0; i < this.recycledCount[pages]; i++) {
        const start = this.recycled[pages * RECYCLE_DEPTH + i];
        this.table.markFree(start, start + pages);
        this.runs.release(start, start + pages);
      }
      this.recycledCount[pages] = 0;
    }
    this.recycledPages = 0;
  }

  /** Every recycled range as [first page, pages] (for invariants). */
  recycledRanges(): [number, number][] {
    const ranges: [number, number][] = [];
    for (let pages = 1; pages <= RECYCLE_MAX_PAGES; pages++) {
      for (let i = 0; i < this.recycledCount[pages]; i++) ranges.push([this.recycled[pages * RECYCLE_DEPTH + i], pages]);
    }
    return ranges;
  }
}
