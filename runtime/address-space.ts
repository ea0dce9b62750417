/**
 * The address-space engine: which libc page of linear memory belongs to what. This file only
 * composes the parts named after the design; each keeps its own state in flat typed arrays.
 *
 *   0            regionStart        brkEnd                                  ownedPages   limit
 *   | image      | brk area ..break | holes / mappings ...  | wilderness     | (not grown) |
 *   +------------+------------------+-----------------------+----------------+-------------+
 *   never handed  grows up from the   placement.ts: holes     free-runs.ts:    growth.ts
 *   out           heap base           first, lowest end       grows last
 *
 *   page-table.ts    used / dirty / starts / foreign bitmaps
 *   mapping-table.ts the mapping records;  mappings.ts keeps them split and merged
 *   free-runs.ts     holes (indexed by length) and the wilderness
 *   placement.ts     where a mapping goes; the recycle stacks
 *   clearing.ts      zeroing without writing what reads as zero already
 *   growth.ts        memory.grow, and growth the guest did itself
 *   brk-area.ts      the break;  statistics.ts the counters;  invariants.ts the checks
 *
 * The engine knows nothing of syscall arguments, errno or files: syscalls/ checks, plans and
 * then applies through the methods here, each of which fully succeeds (growTo, the one step
 * that can fail, changes nothing handed out when it does).
 */
import { BrkArea } from "./brk-area.js";
import { Clearing } from "./clearing.js";
import { FreeRuns } from "./free-runs.js";
import { Growth, type GrowthPolicy, type PageOrigin } from "./growth.js";
import { checkInvariants } from "./invariants.js";
import { ADDRESS_LIMIT_32, MapFlags, VmFlag } from "./linux.js";
import type { MappingRecord } from "./mapping-table.js";
import { Mappings } from "./mappings.js";
import { WasmLinearMemory, type LinearMemory } from "./memory.js";
import { PageTable } from "./page-table.js";
import type { PageGeometry } from "./page-size.js";
import { Placement } from "./placement.js";
import type { SharedRegion } from "./shared-state.js";
import { Statistics, type Counters } from "./statistics.js";
import { AddressSpaceView, PageKind } from "./view.js";
import { jsZeroer, wasmZeroer } from "./zeroing.js";

export { PageKind };
export type { MappingRecord };

export interface AddressSpaceOptions {
  geometry: PageGeometry;
  growth: GrowthPolicy;
  /** Cap on linear memory in bytes (besides the memory's declared maximum). */
  maxMemoryBytes?: number;
}

export class AddressSpace {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly pageMask: number;
  memory: LinearMemory | null = null;
  /** Pages at or above this are never handed out (the limit, and the last page below 4 GiB). */
  limitPage = 0;
  /** Pages of linear memory the engine has accounted for. */
  ownedPages = 0;

  private readonly maxMemoryBytes: number;
  private readonly statistics: Statistics;
  private readonly table = new PageTable();
  private readonly runs = new FreeRuns(this.table);
  private readonly clearing: Clearing;
  private readonly placement: Placement;
  private readonly growth: Growth;
  private readonly maps: Mappings;
  readonly brk: BrkArea;
  /** Read-only views for memory maps, the CLI and tests. */
  readonly view: AddressSpaceView;

  constructor(options: AddressSpaceOptions) {
    const size = options.geometry.size;
    this.pageSize = size;
    this.pageShift = options.geometry.shift;
    this.pageMask = options.geometry.mask;
    this.maxMemoryBytes = options.maxMemoryBytes ?? ADDRESS_LIMIT_32;
    this.statistics = new Statistics(size);
    const counters = this.statistics.counters;
    this.clearing = new Clearing(this.table, size, counters);
    this.placement = new Placement(this.table, this.runs, this.clearing);
    this.growth = new Growth(options.growth, size, counters, (from, to, origin) => this.addPages(from, to, origin));
    this.maps = new Mappings(this.table, this.statistics, size, (from, to) => this.release(from, to), () => this.brk.brkEndPage);
    this.brk = new BrkArea(size);
    this.view = new AddressSpaceView(this, this.table, this.runs, this.maps, this.brk);
  }

  get attached(): boolean {
    return this.memory !== null;
  }
  get counters(): Readonly<Counters> {
    return this.statistics.counters;
  }
  get memoryBytes(): number {
    return this.growth.knownBytes;
  }
  get recycledPages(): number {
    return this.placement.recycledPages;
  }
  pagesFor(bytes: number): number {
    return Math.ceil(bytes / this.pageSize);
  }
  bytes(): Uint8Array {
    return (this.memory as LinearMemory).bytes();
  }

  /**
   * Takes charge of a memory; pages that exist above the heap base may hold data: dirty. With
   * `region`, the state lives there, shared with the threads that join it (shared-state.ts).
   */
  attach(memory: LinearMemory, heapBase: number, region?: SharedRegion): void {
    if (this.memory !== null) throw new Error("wasi-mman: this instance is already attached to a memory");
    const lastPageStart = ADDRESS_LIMIT_32 - this.pageSize;
    if (!Number.isInteger(heapBase) || heapBase < 0 || heapBase >= lastPageStart) {
      throw new RangeError(`wasi-mman: heap base must be an address below ${lastPageStart}, got ${String(heapBase)}`);
    }
    if (region !== undefined) this.share(region);
    this.useMemory(memory);
    this.brk.reset(heapBase);
    this.limitPage = Math.floor(Math.min(this.maxMemoryBytes, lastPageStart) / this.pageSize);
    this.growth.attach(memory);
    this.notePeaks();
  }

  /**
   * Takes charge of a memory whose state another thread made and shares (`region`): nothing is
   * reset or accounted again; from here on both work on one address space.
   */
  join(memory: LinearMemory, region: SharedRegion): void {
    if (this.memory !== null) throw new Error("wasi-mman: this instance is already attached to a memory");
    this.share(region);
    this.useMemory(memory);
  }

  /** True when the state is shared with other threads (attach with a region, or join). */
  get shared(): boolean {
    return this.sharedEngineId !== 0;
  }

  /** This engine's number among the engines sharing one state (0 when not shared). */
  get engineId(): number {
    return this.sharedEngineId;
  }

  private sharedEngineId = 0;

  private share(region: SharedRegion): void {
    // Every page of the 32-bit address space, once: shared arrays never move.
    const capacity = ADDRESS_LIMIT_32 / this.pageSize;
    this.sharedEngineId = region.nextEngineId();
    this.table.share(region, capacity);
    this.maps.records.share(region, capacity, this.sharedEngineId);
    this.runs.share(region, capacity);
    this.placement.share(region);
    this.growth.share(region);
    this.brk.share(region);
    const counters = this.statistics.share(region);
    this.clearing.useCounters(counters);
    this.growth.useCounters(counters);
    region.bindScalars("space", this as AddressSpace, ["ownedPages", "limitPage"]);
  }

  private useMemory(memory: LinearMemory): void {
    this.memory = memory;
    // Scanning in wasm with SIMD is 3-8 times faster than in JavaScript (bench/zeroing.ts).
    if (memory instanceof WasmLinearMemory) this.clearing.zeroer = wasmZeroer(memory.memory) ?? jsZeroer;
  }

  /**
   * True when a mapping in pages [from, to) is backed by a file another thread's WASI host
   * opened: this thread cannot read or write that file (docs/threads.md, "Files").
   */
  touchesOtherThreadFile(from: number, to: number): boolean {
    const r = this.maps.records;
    if (this.sharedEngineId === 0 || r.fileRecords === 0) return false;
    to = Math.min(to, this.ownedPages);
    if (from >= to) return false;
    let start = this.mappingAt(from);
    if (start < 0) start = this.nextMapping(from, to);
    for (; start >= 0 && start < to; start = this.nextMapping(start + r.pages[start], to)) {
      const slot = r.fileSlot[start];
      if (slot !== 0 && !r.ownsFileSlot(slot)) return true;
    }
    return false;
  }

  /** Accounts for pages [from, to) that just came into existence (PageSink of growth.ts). */
  private addPages(from: number, to: number, origin: PageOrigin): void {
    const capacity = this.table.ensureCapacity(to);
    this.maps.records.ensureCapacity(capacity);
    this.runs.ensureCapacity(capacity);
    const t = this.table;
    const regionStart = this.brk.regionStartPage;
    const imageEnd = Math.min(to, regionStart);
    if (from < imageEnd) {
      t.markUsed(from, imageEnd);
      this.runs.extend(imageEnd, false);
    }
    const lo = Math.max(from, regionStart);
    // Pages past the limit (the last libc page below 4 GiB, or past maxMemoryBytes when the
    // memory was larger already) are never handed out: kept back as foreign pages.
    const freeEnd = origin === "foreign" ? lo : Math.min(to, this.limitPage);
    if (lo < freeEnd) {
      // Pages that existed before attach may hold data (a start function); grown ones are zero.
      if (origin === "existing") t.markDirty(lo, freeEnd);
      this.runs.extend(freeEnd, true);
    }
    const foreignStart = Math.max(lo, freeEnd);
    if (foreignStart < to) {
      this.statistics.counters.foreignPages += to - foreignStart;
      t.markUsed(foreignStart, to);
      t.markForeign(foreignStart, to);
      t.markDirty(foreignStart, to);
      this.runs.extend(to, false);
    }
    this.ownedPages = to;
  }

  /** Notices the guest's own growth and gives recycled pages back: before looking at the free map. */
  sync(): void {
    const memory = this.memory;
    if (memory === null) return;
    this.placement.flush();
    if (this.growth.adoptForeign(memory)) this.notePeaks();
  }

  /** Grows memory until pages [0, endPage) exist; false (nothing handed out changed) when it cannot. */
  growTo(endPage: number): boolean {
    const memory = this.memory;
    if (memory === null) return false;
    this.sync();
    const grown = this.growth.growTo(memory, endPage, this.limitPage, this.maxMemoryBytes);
    this.notePeaks();
    return grown;
  }

  /** Places `pages` pages anywhere (placement.ts's rules), growing memory last. -1: ENOMEM. */
  placeAnywhere(pages: number): number {
    let start = this.placeWithoutGrowth(pages);
    if (start >= 0) return start;
    // The guest may have grown memory since the last call: account for it before growing.
    if (this.growth.adoptForeign(this.memory as LinearMemory)) {
      this.notePeaks();
      start = this.placeWithoutGrowth(pages);
      if (start >= 0) return start;
    }
    const regionEnd = Math.max(this.ownedPages, this.brk.regionStartPage);
    if (!this.growTo(regionEnd + pages - this.runs.wildernessPages)) return -1;
    return this.placement.inWilderness(this.memory as LinearMemory, pages);
  }

  /** Places `pages` pages where memory need not grow, or -1. */
  placeWithoutGrowth(pages: number): number {
    const memory = this.memory as LinearMemory;
    let start = this.placement.fromRecycled(memory, pages);
    if (start < 0) start = this.placement.inHole(memory, pages, this.brk.brkEndPage);
    if (start < 0 && this.placement.recycledPages !== 0) {
      this.placement.flush();
      start = this.placement.inHole(memory, pages, this.brk.brkEndPage);
    }
    if (start < 0) start = this.placement.inWilderness(memory, pages);
    return start;
  }

  /** True when placeWithoutGrowth(pages) would find room (reads only; the caller has synced, so nothing is recycled). */
  canPlaceWithoutGrowth(pages: number): boolean {
    return this.runs.findHole(pages) >= 0 || this.runs.wildernessPages >= pages;
  }

  /** Copies `pages` pages from `from` to `to` (freshly taken, reading zeros): only pages holding data. */
  copyPages(from: number, to: number, pages: number): void {
    this.clearing.copyWritten(this.memory as LinearMemory, from, to, pages);
  }

  /**
   * Takes [from, to) for a mapping at a chosen address (a hint, MAP_FIXED, in-place growth,
   * MREMAP_FIXED): every page in it is free or a brk page, and exists (the caller grew and
   * unmapped first). brk pages become the mapping's, cleared; the break does not move.
   */
  takeAt(from: number, to: number): void {
    const memory = this.memory as LinearMemory;
    const brkEnd = this.brk.brkEndPage;
    if (from < brkEnd) this.clearing.zeroInUse(memory, from, Math.min(to, brkEnd));
    if (Math.max(from, brkEnd) < to) this.placement.take(memory, Math.max(from, brkEnd), to);
  }

  /** Returns mapping pages [from, to): to the free runs, or to the brk area below the break. */
  private release(from: number, to: number): void {
    const brkEnd = this.brk.brkEndPage;
    if (from < brkEnd) {
      this.clearing.zeroInUse(this.memory as LinearMemory, from, Math.min(to, brkEnd));
      from = brkEnd;
      if (from >= to) return;
    }
    this.table.markFree(from, to);
    this.table.markDirty(from, to);
    this.runs.release(from, to);
  }

  /**
   * Records a new mapping over pages just taken. A private anonymous mapping's offset is its
   * address, as Linux sets a new anonymous vma's pgoff; merges follow from it (mappings.ts).
   */
  addMapping(start: number, pages: number, prot: number, flags: number, requested: number, file: object | null = null, fileOffset = 0, vmFlags = 0): void {
    const privateAnonymous = file === null && (flags & MapFlags.TYPE) !== MapFlags.SHARED;
    this.maps.add(start, pages, prot, flags, requested, file, privateAnonymous ? start * this.pageSize : fileOffset, vmFlags);
    this.notePeaks();
  }

  /** munmap's common case: the whole anonymous mapping at `from` of `pages` pages kept for reuse. */
  recycleMapping(from: number, pages: number): boolean {
    if (!this.table.isStart(from) || this.maps.pagesOf(from) !== pages || from < this.brk.brkEndPage) return false;
    if (!this.placement.canRecycle(pages) || this.maps.records.fileSlot[from] !== 0) return false;
    this.maps.drop(from);
    return this.placement.recycle(from, pages);
  }

  unmap(from: number, to: number): void {
    this.maps.unmap(from, to, this.brk.regionStartPage, this.ownedPages);
    this.notePeaks(); // a split in the middle makes one record two
  }
  splitAt(page: number): void {
    this.maps.split(page, this.brk.regionStartPage, this.ownedPages);
    this.notePeaks();
  }
  /** Folds the mapping records covering [from, to) into one; the caller checked coveredAsOne. */
  merge(from: number, to: number): void {
    this.maps.merge(from, to, this.brk.regionStartPage, this.ownedPages);
  }
  resizeMapping(start: number, newPages: number, requested: number): void {
    this.maps.resize(start, newPages, requested);
    this.notePeaks();
  }
  /** Moves the whole mapping at `from` to `to` (already taken, bytes copied); frees the old pages. */
  moveMapping(from: number, to: number, newPages: number, requested: number, keepOld: boolean): void {
    const old = this.maps.move(from, to, newPages, requested);
    if (keepOld) {
      // MREMAP_DONTUNMAP: the old range stays mapped, empty, as a new anonymous mapping.
      this.clearing.zeroInUse(this.memory as LinearMemory, from, from + old.pages);
      // The old vma loses VM_ACCOUNT and VM_LOCKED, and its anon_vma when all of it moved (mm/mremap.c dontunmap_complete).
      const vmFlags = old.vmFlags & ~(VmFlag.ACCOUNT | VmFlag.LOCKED | VmFlag.WRITTEN);
      this.maps.add(from, old.pages, old.prot, old.flags, old.pages * this.pageSize, null, old.fileOffset, vmFlags, old.origin);
    } else {
      this.release(from, from + old.pages);
    }
    this.notePeaks();
  }
  /**
   * MREMAP_DONTUNMAP: pages [from, from+pages) of a mapping are copied to `to` (taken, bytes
   * copied) as a new mapping; the old record stays whole, its pages there read as zeros, and it
   * loses VM_ACCOUNT and VM_LOCKED (and its anon_vma when all of it moved): mm/mremap.c
   * dontunmap_complete, which splits nothing.
   */
  copyMapping(from: number, to: number, pages: number, requested: number): void {
    const start = this.mappingAt(from);
    const old = this.maps.record(start);
    const fresh = old.file === null && (old.flags & MapFlags.TYPE) !== MapFlags.SHARED && (old.vmFlags & VmFlag.WRITTEN) === 0;
    const offset = fresh ? to * this.pageSize : old.fileOffset + (from - start) * this.pageSize;
    this.maps.add(to, pages, old.prot, old.flags, requested, old.file, offset, old.vmFlags, fresh ? 0 : old.origin);
    this.clearing.zeroInUse(this.memory as LinearMemory, from, from + pages);
    const whole = start === from && old.pages === pages;
    this.maps.setVmFlags(start, start + 1, 0, VmFlag.ACCOUNT | VmFlag.LOCKED | (whole ? VmFlag.WRITTEN : 0));
    this.notePeaks();
  }
  protect(from: number, to: number, prot: number): void {
    this.maps.protect(from, to, prot);
  }
  setVmFlags(from: number, to: number, set: number, clear: number): void {
    this.maps.setVmFlags(from, to, set, clear);
  }
  /** The mappings in [from, to) became writable (mprotect): charged if private and reserved, and possibly written. */
  markWritable(from: number, to: number): void {
    this.maps.markWritable(from, to);
  }
  /** True when some live mapping is backed by a file. */
  get hasFileMappings(): boolean {
    return this.maps.records.fileRecords !== 0;
  }
  zeroInUse(from: number, to: number): void {
    this.clearing.zeroInUse(this.memory as LinearMemory, from, to);
  }

  /** Moves the break up to `address`: the pages [brkEnd, newEnd) are free and exist. */
  growBreak(address: number): void {
    const newEnd = this.brk.endPageFor(address);
    if (newEnd > this.brk.brkEndPage) this.placement.take(this.memory as LinearMemory, this.brk.brkEndPage, newEnd);
    this.brk.moveTo(address);
    this.notePeaks();
  }

  /** Moves the break down to `address`: mappings inside the freed part are dropped with it. */
  shrinkBreak(address: number): void {
    const oldEnd = this.brk.brkEndPage;
    const newEnd = this.brk.endPageFor(address);
    if (newEnd < oldEnd) {
      this.splitAt(newEnd);
      this.splitAt(oldEnd);
      for (let start = this.maps.next(newEnd, oldEnd); start >= 0; start = this.maps.next(start + 1, oldEnd)) this.maps.drop(start);
    }
    this.brk.moveTo(address);
    if (newEnd < oldEnd) this.release(newEnd, oldEnd);
  }

  noteBrkRefused(): void {
    this.statistics.counters.brkRefusals++;
  }
  noteWriteBackFailure(): void {
    this.statistics.counters.writeBackFailures++;
  }

  // Reading: the calls' plan steps use these; none changes anything.
  mappingAt(page: number): number {
    return this.maps.at(page, this.brk.regionStartPage, this.ownedPages);
  }
  nextMapping(from: number, to: number): number {
    return this.maps.next(from, Math.min(to, this.ownedPages));
  }
  record(start: number): MappingRecord {
    return this.maps.record(start);
  }
  coveredAsOne(from: number, to: number): boolean {
    return this.maps.coveredAsOne(from, to, this.brk.regionStartPage, this.ownedPages);
  }
  /** True when pages [from, to) exist and are all free. */
  isFree(from: number, to: number): boolean {
    return from >= this.brk.brkEndPage && to <= this.ownedPages && to <= this.limitPage && !this.table.anyUsed(from, to);
  }
  /** True when no page of [from, to) is in use; pages not grown yet (below the limit) count as vacant. */
  isVacant(from: number, to: number): boolean {
    const end = Math.min(to, this.ownedPages);
    return to <= this.limitPage && (from >= end || !this.table.anyUsed(from, end));
  }
  /** Free pages from `page` on in its run (the wilderness counts up to the end of memory). */
  freeRunFrom(page: number): number {
    return page < this.ownedPages && !this.table.isUsed(page) ? this.runs.runFrom(page) : 0;
  }
  /** True when `page` is where the wilderness starts (or the end of memory, if it is empty). */
  isWildernessStart(page: number): boolean {
    return page === this.runs.wildStart;
  }
  /** True when every page of [from, to) exists and is in use (image, brk, mapping or foreign). */
  isInUse(from: number, to: number): boolean {
    return to <= this.ownedPages && this.table.allUsed(from, to);
  }
  /** True when any page of [from, to) is foreign. */
  touchesForeign(from: number, to: number): boolean {
    if (this.statistics.counters.foreignPages === 0) return false;
    const end = Math.min(to, this.ownedPages);
    return from < end && this.table.anyForeign(from, end);
  }
  /** True when some page of [from, to) below the break is a brk page (no mapping covers it). */
  touchesBrkPages(from: number, to: number): boolean {
    const end = Math.min(to, this.brk.brkEndPage);
    for (let page = from; page < end; ) {
      const start = this.mappingAt(page);
      if (start < 0) return true;
      page = start + this.maps.pagesOf(start);
    }
    return false;
  }

  /** One PageKind per libc page (the view's; kept here for memory maps). */
  pageKinds(): Uint8Array {
    return this.view.pageKinds();
  }

  private notePeaks(): void {
    this.statistics.notePeaks(this.growth.knownBytes, this.brk.brkBytes);
  }

  /** Throws an Error naming the first broken invariant; `deep` also reads free clean pages. */
  checkInvariants(deep = false): void {
    if (this.memory === null) return;
    checkInvariants({
      memory: this.memory,
      pageSize: this.pageSize,
      ownedPages: this.ownedPages,
      limitPage: this.limitPage,
      knownBytes: this.growth.knownBytes,
      table: this.table,
      runs: this.runs,
      maps: this.maps,
      brk: this.brk,
      counters: this.statistics.counters,
      recycled: this.placement.recycledRanges(),
      recycledPages: this.placement.recycledPages,
    }, deep);
  }
}
