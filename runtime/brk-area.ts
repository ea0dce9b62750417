/**
 * The brk area: from the heap base up to the break, whole pages. Raw Linux brk(2) semantics
 * are the calls' (syscalls/brk.ts); this part keeps the numbers and the one rule that ties them:
 * the area covers [regionStartPage, brkEndPage), where brkEndPage is the break rounded up.
 *
 *   heapBase  regionStartPage                 breakAddress  brkEndPage
 *   |  (image) |  brk pages ...  [mapping]  ...     |            |
 *
 * A mapping placed with MAP_FIXED over brk pages (mallocng's guard page) lies inside the area:
 * the break does not move, as on Linux (mm/mmap.c: mmap never changes mm->brk).
 */
import type { SharedRegion } from "./shared-state.js";

export class BrkArea {
  /** The module's heap base (bytes): the break starts here. */
  heapBase = 0;
  /** The exact program break, as brk(2) reports it. */
  breakAddress = 0;
  /** First page the engine may hand out: the heap base rounded up to a page, never page 0. */
  regionStartPage = 0;
  /** First page above the brk area. */
  brkEndPage = 0;

  constructor(private readonly pageSize: number) {}

  /** Moves the numbers into `region` (shared-state.ts). */
  share(region: SharedRegion): void {
    region.bindScalars("brk", this as BrkArea, ["heapBase", "breakAddress", "regionStartPage", "brkEndPage"]);
  }

  reset(heapBase: number): void {
    this.heapBase = heapBase;
    this.breakAddress = heapBase;
    // Never page 0: address 0 is NULL to a C guest (Linux keeps mmap_min_addr for this).
    this.regionStartPage = Math.max(1, Math.ceil(heapBase / this.pageSize));
    this.brkEndPage = this.regionStartPage;
  }

  /** The page the break at `address` ends on (the area's end if the break moved there). */
  endPageFor(address: number): number {
    return Math.max(this.regionStartPage, Math.ceil(address / this.pageSize));
  }

  /** Moves the break; the caller has taken or released the pages between the old and new end. */
  moveTo(address: number): void {
    this.breakAddress = address;
    this.brkEndPage = this.endPageFor(address);
  }

  get brkBytes(): number {
    return this.breakAddress - this.heapBase;
  }
}
