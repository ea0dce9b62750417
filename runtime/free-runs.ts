/**
 * Free runs: every maximal run of free pages, in two places.
 *
 *   brk end                                                              ownedPages
 *   | mapping | hole | mapping | hole ... | mapping |  wilderness            |
 *   +---------+------+---------+----------+---------+------------------------+
 *              indexed by length (FreeRunIndex)       the free run that ends at the end of
 *              good fit in O(1)                       memory; grows when memory grows
 *
 * The wilderness is kept out of the index, as dlmalloc keeps its "top" chunk out of its bins
 * (Doug Lea, "A Memory Allocator", 1996: the top chunk is used only when no bin fits): it is the
 * only free run that can grow, so it is the last one to hand out. Placement then fills holes
 * first and memory grows only when no hole fits; growth extends the wilderness instead of
 * leaving a hole below new pages. It may be empty (wildStart === end).
 *
 * This part knows nothing about why pages are taken or freed; it keeps the runs exact and
 * merged. The page table's `used` bits are the caller's.
 */
import { FreeRunIndex } from "./free-index.js";
import type { PageTable } from "./page-table.js";
import type { SharedRegion } from "./shared-state.js";

export class FreeRuns {
  readonly index = new FreeRunIndex(0);
  /** First page of the wilderness: pages [wildStart, end) are free. */
  wildStart = 0;
  /** End of the pages the runs cover (the engine's owned pages). */
  end = 0;

  constructor(private readonly table: PageTable) {}

  get wildernessPages(): number {
    return this.end - this.wildStart;
  }

  /** Free pages in all runs. */
  get freePages(): number {
    return this.index.freePages + this.end - this.wildStart;
  }

  ensureCapacity(capacity: number): void {
    this.index.ensureCapacity(capacity);
  }

  /** Moves the runs into `region`, made for `capacity` pages (shared-state.ts). */
  share(region: SharedRegion, capacity: number): void {
    this.index.share(region, capacity);
    region.bindScalars("wilderness", this as FreeRuns, ["wildStart", "end"]);
  }

  /**
   * Pages [this.end, newEnd) came into existence. `free` says whether they are free (our own
   * growth) or used (foreign growth, image): used pages close the wilderness, which then
   * becomes an ordinary run in the index.
   */
  extend(newEnd: number, free: boolean): void {
    if (free) {
      // The wilderness reaches the old end (possibly empty there): it now reaches the new end.
      this.end = newEnd;
      return;
    }
    if (this.wildStart < this.end) this.index.insert(this.wildStart, this.end - this.wildStart);
    this.end = newEnd;
    this.wildStart = newEnd;
  }

  /** Free pages from `page` on, within the run that starts there (0 when `page` is not a run start). */
  runFrom(page: number): number {
    if (page === this.wildStart) return this.end - page;
    return page < this.index.capacity ? this.index.runLength[page] : 0;
  }

  /** A free run of at least `pages` pages that is not the wilderness, or -1 (good fit, O(1)). */
  findHole(pages: number): number {
    return this.index.findFit(pages);
  }

  /** Returns pages [from, to) to the runs, merged with free neighbours. */
  release(from: number, to: number): void {
    const index = this.index;
    const left = index.runEndingAt(from - 1);
    if (to === this.wildStart) {
      // Joins the wilderness (and the hole below it, if any).
      if (left >= 0) {
        index.remove(left);
        this.wildStart = left;
      } else {
        this.wildStart = from;
      }
      return;
    }
    const right = to < index.capacity ? index.runLength[to] : 0;
    if (left >= 0) {
      if (right > 0) index.remove(to);
      index.reshape(left, left, to + right - left);
    } else if (right > 0) {
      index.reshape(to, from, to + right - from);
    } else {
      index.insert(from, to - from);
    }
  }

  /**
   * Takes the free pages [from, to) out of the run that holds them. The page table's used bits
   * must still show them free (the run is found from them).
   */
  take(from: number, to: number): void {
    if (from >= this.wildStart) {
      // From the wilderness: what lies below `from` becomes a hole.
      if (from > this.wildStart) this.index.insert(this.wildStart, from - this.wildStart);
      this.wildStart = to;
      return;
    }
    const runStart = this.table.prevUsed(from - 1) + 1;
    const index = this.index;
    const runEnd = runStart + index.runLength[runStart];
    if (from > runStart) {
      index.reshape(runStart, runStart, from - runStart);
      if (to < runEnd) index.insert(to, runEnd - to);
    } else if (to < runEnd) {
      index.reshape(runStart, to, runEnd - to);
    } else {
      index.remove(runStart);
    }
  }

  /** Every run as [start, length], the wilderness last when it is not empty. */
  *allRuns(): Generator<[number, number]> {
    yield* this.index.allRuns();
    if (this.wildStart < this.end) yield [this.wildStart, this.end - this.wildStart];
  }

  /** The hole whose last page is `page`, or -1 (the wilderness is not a hole). */
  holeEndingAt(page: number): number {
    return this.index.runEndingAt(page);
  }

  get byteLength(): number {
    return this.index.capacity * 16;
  }
}
