/**
 * Mappings: the records of the mapping table kept in step with the page table's `starts` bits
 * and the statistics. Records split where a call touches part of a mapping (as Linux splits a
 * vma) and merge back only when a call needs a range as one (mremap), under Linux's rule for
 * adjacent vmas: same protection, flags and file at contiguous offsets.
 *
 * Pages are not freed here: unmapping hands each range to `release`, which the facade routes to
 * the free runs or back to the brk area.
 */
import { MapFlags, VM_MERGE_MASK, VmFlag } from "./linux.js";
import { MappingTable, type MappingRecord } from "./mapping-table.js";
import type { PageTable } from "./page-table.js";
import type { Statistics } from "./statistics.js";

export type ReleasePages = (from: number, to: number) => void;

export class Mappings {
  readonly records = new MappingTable();

  constructor(
    private readonly table: PageTable,
    private readonly stats: Statistics,
    private readonly pageSize: number,
    private readonly release: ReleasePages,
    /** The lowest page a new mapping's merge partner is looked for at (the brk area's end). */
    private readonly mergeFloor: () => number,
  ) {}

  /**
   * Records a mapping over pages that were just taken. `origin` 0 asks for the rule of a new
   * vma: a private anonymous mapping joins the origin of a neighbour Linux would merge it with
   * at creation (a new vma has no anon_vma yet, so it merges with either: mm/vma.c), anything
   * else gets an origin of its own.
   */
  add(start: number, pages: number, prot: number, flags: number, requested: number, file: object | null, fileOffset: number, vmFlags = 0, origin = 0): void {
    const r = this.records;
    if (origin === 0 && file === null && (flags & MapFlags.TYPE) !== MapFlags.SHARED) origin = this.neighbourOrigin(start, pages, prot, flags, vmFlags);
    if (origin === 0) origin = r.newOrigin();
    this.table.setStart(start);
    r.write(start, pages, prot, flags, requested, file, fileOffset, vmFlags, origin);
    this.stats.mapped(pages, requested);
  }

  /**
   * The origin a new private anonymous vma merges into, or 0: a neighbour with the same
   * attributes whose pgoff follows. Linux merges the new vma (no anon_vma yet) with both
   * neighbours when their anon_vmas agree, and then takes the one that has an anon_vma.
   */
  private neighbourOrigin(start: number, pages: number, prot: number, flags: number, vmFlags: number): number {
    const r = this.records;
    // A private anonymous vma's pgoff is its address when made (mm/mmap.c), and Linux merges
    // only where pgoffs follow each other: never with a neighbour that mremap moved there.
    // The search below looks no lower than the break: a mapping over brk pages (a guard page)
    // is not merged into, and a brk area of any size costs nothing here (this runs on every mmap).
    const size = this.pageSize;
    const beforeStart = start - 1 >= this.mergeFloor() && this.table.isUsed(start - 1) ? this.table.prevStart(start - 1, this.mergeFloor()) : -1;
    const before =
      beforeStart >= 0 && beforeStart + r.pages[beforeStart] === start && this.sameAs(beforeStart, prot, flags, vmFlags) && r.fileOffset[beforeStart] + r.pages[beforeStart] * size === start * size
        ? beforeStart
        : -1;
    const afterStart = start + pages;
    const after =
      afterStart < r.pages.length && this.table.isStart(afterStart) && this.sameAs(afterStart, prot, flags, vmFlags) && r.fileOffset[afterStart] === afterStart * size ? afterStart : -1;
    if (before >= 0 && (r.vmFlags[before] & VmFlag.WRITTEN) !== 0) return r.origin[before];
    if (after >= 0 && (r.vmFlags[after] & VmFlag.WRITTEN) !== 0) return r.origin[after];
    if (before >= 0) return r.origin[before];
    return after >= 0 ? r.origin[after] : 0;
  }

  /** True when the anonymous record at `at` has these attributes (vma flags but WRITTEN). */
  private sameAs(at: number, prot: number, flags: number, vmFlags: number): boolean {
    const r = this.records;
    return r.prot[at] === prot && r.flags[at] === flags && ((r.vmFlags[at] ^ vmFlags) & VM_MERGE_MASK) === 0 && r.fileSlot[at] === 0;
  }


  /** Pages of the mapping that starts at `start`. */
  pagesOf(start: number): number {
    return this.records.pages[start];
  }

  /** The first page of the mapping that contains `page`, or -1. `floor`: no mapping starts below it. */
  at(page: number, floor: number, owned: number): number {
    if (page < floor || page >= owned || !this.table.isUsed(page)) return -1;
    const start = this.table.prevStart(page, floor);
    return start >= 0 && start + this.records.pages[start] > page ? start : -1;
  }

  /** The first mapping starting in [from, to), or -1. */
  next(from: number, to: number): number {
    return from < to ? this.table.nextStart(from, to) : -1;
  }

  /** Splits the mapping containing `page` so that a mapping starts at `page` (no-op otherwise). */
  split(page: number, floor: number, owned: number): void {
    const start = this.at(page, floor, owned);
    if (start < 0 || start === page) return;
    const records = this.records;
    const leftPages = page - start;
    const leftBytes = leftPages * this.pageSize;
    const requested = records.requested[start];
    const leftRequested = Math.min(requested, leftBytes);
    this.table.setStart(page);
    records.copySplit(start, page, records.pages[start] - leftPages, requested - leftRequested, leftBytes);
    records.pages[start] = leftPages;
    records.requested[start] = leftRequested;
    this.stats.counters.liveMappings++;
  }

  /**
   * True when [from, to) is covered by the mapping containing `from` and its neighbours, all of
   * which Linux would hold as one vma. Reads only: the plan step of mremap.
   */
  coveredAsOne(from: number, to: number, floor: number, owned: number): boolean {
    const first = this.at(from, floor, owned);
    if (first < 0) return false;
    const r = this.records;
    for (let end = first + r.pages[first]; end < to; end += r.pages[end]) {
      if (end >= owned || !this.table.isStart(end)) return false;
      if (r.prot[end] !== r.prot[first] || r.flags[end] !== r.flags[first] || r.fileSlot[end] !== r.fileSlot[first]) return false;
      if (((r.vmFlags[end] ^ r.vmFlags[first]) & VM_MERGE_MASK) !== 0) return false;
      // Two anon_vmas never merge; a part without one merges with anything (mm/vma.c).
      const bothWritten = (r.vmFlags[end] & r.vmFlags[first] & VmFlag.WRITTEN) !== 0;
      if (bothWritten && r.origin[end] !== r.origin[first]) return false;
      // The pages must follow each other in their object: the file, the shared anonymous
      // object, or for private anonymous memory the addresses it was made at (Linux's pgoff).
      if (r.fileOffset[end] !== r.fileOffset[first] + (end - first) * this.pageSize) return false;
    }
    return true;
  }

  /** Folds the records covering [from, to) into one (after coveredAsOne said yes). */
  merge(from: number, to: number, floor: number, owned: number): void {
    const first = this.at(from, floor, owned);
    const r = this.records;
    while (first + r.pages[first] < to) {
      const part = first + r.pages[first];
      this.table.clearStart(part);
      r.pages[first] += r.pages[part];
      r.requested[first] += r.requested[part];
      r.clear(part);
      this.stats.counters.liveMappings--;
    }
  }

  /** Forgets the record at `start` (its pages stay as they are). */
  drop(start: number): void {
    const r = this.records;
    this.table.clearStart(start);
    this.stats.unmapped(r.pages[start], r.requested[start]);
    r.clear(start);
  }

  /** Unmaps every mapping page in [from, to), splitting mappings that straddle its ends. */
  unmap(from: number, to: number, floor: number, owned: number): void {
    const end = Math.min(to, owned);
    if (from >= end) return;
    const r = this.records;
    if (this.table.isStart(from) && r.pages[from] === end - from) {
      // Exactly one whole mapping: the common munmap.
      this.drop(from);
      this.release(from, end);
      return;
    }
    this.split(from, floor, owned);
    this.split(end, floor, owned);
    for (let start = this.next(from, end); start >= 0; ) {
      const pages = r.pages[start];
      this.drop(start);
      this.release(start, start + pages);
      start = this.next(start + pages, end);
    }
  }

  /** Changes the length of the mapping at `start`; pages beyond the old end were taken already. */
  resize(start: number, newPages: number, requested: number): void {
    const r = this.records;
    const oldPages = r.pages[start];
    if (newPages < oldPages) this.release(start + newPages, start + oldPages);
    this.stats.resized(newPages - oldPages, requested - r.requested[start]);
    r.pages[start] = newPages;
    r.requested[start] = requested;
  }

  /** Moves the whole record at `from` to `to` with a new length (mremap moved its bytes). */
  move(from: number, to: number, newPages: number, requested: number): MappingRecord {
    const old = this.records.record(from);
    this.drop(from);
    // Private anonymous memory that never had an anon_vma takes the pgoff of its new address,
    // and merges there like a new vma (mm/vma.c copy_vma); anything else keeps both.
    const fresh = old.file === null && (old.flags & MapFlags.TYPE) !== MapFlags.SHARED && (old.vmFlags & VmFlag.WRITTEN) === 0;
    this.add(to, newPages, old.prot, old.flags, requested, old.file, fresh ? to * this.pageSize : old.fileOffset, old.vmFlags, fresh ? 0 : old.origin);
    return old;
  }

  /** Sets and clears vma flags of whole mappings in [from, to) (madvise; the caller split at the ends). */
  setVmFlags(from: number, to: number, set: number, clear: number): void {
    const r = this.records;
    for (let start = this.next(from, to); start >= 0; start = this.next(start + r.pages[start], to)) r.vmFlags[start] = (r.vmFlags[start] & ~clear) | set;
  }

  /** The whole mappings in [from, to) became writable: VM_ACCOUNT for private ones without VM_NORESERVE, and WRITTEN. */
  markWritable(from: number, to: number): void {
    const r = this.records;
    for (let start = this.next(from, to); start >= 0; start = this.next(start + r.pages[start], to)) {
      const isPrivate = (r.flags[start] & MapFlags.TYPE) === MapFlags.PRIVATE;
      let flags = r.vmFlags[start] | VmFlag.WRITTEN;
      if (isPrivate && (flags & VmFlag.NORESERVE) === 0) flags |= VmFlag.ACCOUNT;
      r.vmFlags[start] = flags;
    }
  }

  /** Sets the protection of whole mappings in [from, to) (the caller split at the ends). */
  protect(from: number, to: number, prot: number): void {
    const r = this.records;
    for (let start = this.next(from, to); start >= 0; start = this.next(start + r.pages[start], to)) r.prot[start] = prot;
  }

  record(start: number): MappingRecord {
    return this.records.record(start);
  }
}
