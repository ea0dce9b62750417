/**
 * The address-space engine: which libc page of linear memory belongs to what.
 *
 *   0                heapBase  regionStart          brkEnd                           ownedPages    limit
 *   |  module image   |  ...   | brk area ...break  |  free / mappings / free ...  |  (not grown)  |
 *   +-----------------+--------+--------------------+------------------------------+---------------+
 *   never handed out            grows up from the    mappings are placed top-down    grown on demand
 *                               heap base            in the best-fitting free run    in chunks
 *
 * State lives in flat typed arrays indexed by page (bitmaps and a mapping table keyed by a
 * mapping's first page), so that a later version can put it in a SharedArrayBuffer:
 *   used     1 = image, brk area, mapping, or foreign page; 0 = free
 *   dirty    1 = the page may hold non-zero bytes (it was used since it came from memory.grow)
 *   starts   1 = the first page of a mapping
 *   foreign  1 = the guest (or its WASI host) grew this page itself: never ours to hand out
 * and a FreeRunIndex (free-index.ts) over the maximal free runs, which finds a run of N pages
 * in constant time.
 *
 * The engine knows nothing about syscall arguments or errno: syscalls/ validates, plans and
 * calls the primitives here. Every primitive either fully succeeds or changes nothing.
 */
import { allSet, anySet, clearBit, clearRange, countSet, growBitmap, nextSet, prevSet, setBit, setRange, testBit, wordsFor } from "./bitmap.js";
import { FreeRunIndex } from "./free-index.js";
import { chunkFor, type GrowthPolicy } from "./growth.js";
import { ADDRESS_LIMIT_32, MapFlags as MapFlag, WASM_PAGE_SIZE } from "./linux.js";
import type { LinearMemory } from "./memory.js";
import type { PageGeometry } from "./page-size.js";

/**
 * Recycling: munmap of a whole anonymous mapping of up to RECYCLE_MAX_PAGES pages keeps its
 * pages aside (still marked used, now dirty) for the next mmap of the same size, instead of
 * merging them into the free runs at once. A malloc/free loop of large blocks then costs one
 * stack push and pop per pair rather than a search, a split and a merge. Every operation other
 * than that pair first gives recycled pages back to the free runs (flushRecycled, from sync),
 * so nothing else ever sees them. Bounded: RECYCLE_DEPTH mappings per size.
 */
const RECYCLE_MAX_PAGES = 32;
const RECYCLE_DEPTH = 16;

/** What a page of linear memory is, for pageKinds() and the memory map. */
export const PageKind = {
  IMAGE: 0,
  BRK: 1,
  MAPPED: 2,
  FREE_CLEAN: 3,
  FREE_DIRTY: 4,
  FOREIGN: 5,
} as const;
export type PageKind = (typeof PageKind)[keyof typeof PageKind];

/** A file that can back a mapping (supplied by a FileResolver; see syscalls/mmap.ts). */
export interface MappableFile {
  /** The open file itself: write-back goes to it, never to an fd number that may be reused. */
  readonly identity: object;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly regular: boolean;
  size(): number;
  /** Copies up to target.length bytes from `offset`; returns how many were copied. */
  read(offset: number, target: Uint8Array): number;
  /** Writes bytes at `offset` (MAP_SHARED write-back; never past the file's end). */
  write(offset: number, bytes: Uint8Array): void;
}

/** One mapping, as reported to JavaScript callers (a snapshot, not live state). */
export interface MappingInfo {
  address: number;
  length: number;
  prot: number;
  flags: number;
  requestedBytes: number;
  file: MappableFile | null;
  fileOffset: number;
}

export interface AddressSpaceOptions {
  geometry: PageGeometry;
  growth: GrowthPolicy;
  /** Cap on linear memory in bytes (besides the memory's declared maximum). */
  maxMemoryBytes?: number;
}

export interface Counters {
  growCalls: number;
  growFailures: number;
  grownBytes: number;
  liveMappings: number;
  mappedPages: number;
  requestedBytes: number;
  peakLiveMappings: number;
  peakMappedBytes: number;
  requestedAtPeakMapped: number;
  peakRequestedBytes: number;
  peakBrkBytes: number;
  peakMemoryBytes: number;
  cumulativeMappedBytes: number;
  cumulativeRequestedBytes: number;
  clearedBytes: number;
  writeBackFailures: number;
}

function newCounters(): Counters {
  return {
    growCalls: 0,
    growFailures: 0,
    grownBytes: 0,
    liveMappings: 0,
    mappedPages: 0,
    requestedBytes: 0,
    peakLiveMappings: 0,
    peakMappedBytes: 0,
    requestedAtPeakMapped: 0,
    peakRequestedBytes: 0,
    peakBrkBytes: 0,
    peakMemoryBytes: 0,
    cumulativeMappedBytes: 0,
    cumulativeRequestedBytes: 0,
    clearedBytes: 0,
    writeBackFailures: 0,
  };
}

export class AddressSpace {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly pageMask: number;
  readonly growth: GrowthPolicy;
  private readonly maxMemoryBytes: number;

  memory: LinearMemory | null = null;
  /** The module's heap base (bytes): the break starts here. */
  heapBase = 0;
  /** First page the engine may hand out: the heap base rounded up to a page. */
  regionStartPage = 0;
  /** Pages at or above this are never handed out (limit, and the last page below 4 GiB). */
  limitPage = 0;
  /** Pages of linear memory the engine has accounted for (its arrays cover them). */
  ownedPages = 0;
  /** The exact program break, as brk(2) reports it. */
  breakAddress = 0;
  /** First page above the brk area. */
  brkEndPage = 0;

  used: Uint32Array = new Uint32Array(0);
  dirty: Uint32Array = new Uint32Array(0);
  starts: Uint32Array = new Uint32Array(0);
  foreign: Uint32Array = new Uint32Array(0);
  free = new FreeRunIndex(0);

  /** Mapping table, indexed by a mapping's first page (meaningful where `starts` is set). */
  mapPages = new Int32Array(0);
  mapProt = new Uint8Array(0);
  mapFlags = new Int32Array(0);
  mapRequested = new Float64Array(0);
  /** 0 = anonymous; otherwise 1 + a slot in `files`. */
  mapFile = new Int32Array(0);
  mapFileOffset = new Float64Array(0);
  private files: (MappableFile | null)[] = [];
  private fileRefs: number[] = [];

  /** Recycled mappings: RECYCLE_DEPTH first pages per size (1..RECYCLE_MAX_PAGES). */
  private recycled = new Int32Array((RECYCLE_MAX_PAGES + 1) * RECYCLE_DEPTH);
  private recycledCount = new Int32Array(RECYCLE_MAX_PAGES + 1);
  /** Pages held in the recycle stacks. */
  recycledPages = 0;

  counters: Counters = newCounters();
  /** Pages marked foreign (lets hot paths skip the foreign bitmap while there are none). */
  foreignPages = 0;
  private knownBytes = 0;

  constructor(options: AddressSpaceOptions) {
    this.pageSize = options.geometry.size;
    this.pageShift = options.geometry.shift;
    this.pageMask = options.geometry.mask;
    this.growth = options.growth;
    this.maxMemoryBytes = options.maxMemoryBytes ?? ADDRESS_LIMIT_32;
  }

  get attached(): boolean {
    return this.memory !== null;
  }

  /** Address of a page. */
  addressOf(page: number): number {
    return page * this.pageSize;
  }

  /** Page holding an address (addresses may exceed 2^31: no bit shifts on them). */
  pageOf(address: number): number {
    return Math.floor(address / this.pageSize);
  }

  /** Pages needed to hold `bytes` bytes (rounded up, as Linux rounds lengths). */
  pagesFor(bytes: number): number {
    return Math.ceil(bytes / this.pageSize);
  }

  // ---------------------------------------------------------------------------------------
  // Attaching and growing

  /**
   * Takes charge of a memory. Pages below the heap base are the module's image; pages that
   * already exist above it may have been written (data, a start function), so they count as
   * dirty and are cleared before they are handed out.
   */
  attach(memory: LinearMemory, heapBase: number): void {
    if (this.memory !== null) throw new Error("wasi-mman: this instance is already attached to a memory");
    const lastPageStart = ADDRESS_LIMIT_32 - this.pageSize;
    if (!Number.isInteger(heapBase) || heapBase < 0 || heapBase >= lastPageStart) {
      throw new RangeError(`wasi-mman: heap base must be an address below ${lastPageStart}, got ${String(heapBase)}`);
    }
    this.memory = memory;
    this.heapBase = heapBase;
    this.breakAddress = heapBase;
    // Never page 0: address 0 is NULL to a C guest (Linux keeps mmap_min_addr for this).
    this.regionStartPage = Math.max(1, this.pagesFor(heapBase));
    this.brkEndPage = this.regionStartPage;
    this.limitPage = Math.floor(Math.min(this.maxMemoryBytes, lastPageStart) / this.pageSize);
    const bytes = memory.byteLength();
    this.knownBytes = bytes;
    this.addPages(0, bytes / this.pageSize, false);
    this.notePeaks();
  }

  /** Makes the per-page arrays cover pages [0, pages). */
  private ensureCapacity(pages: number): void {
    if (pages <= this.mapPages.length) return;
    let capacity = Math.max(1024, this.mapPages.length);
    while (capacity < pages) capacity *= 2;
    this.used = growBitmap(this.used, capacity);
    this.dirty = growBitmap(this.dirty, capacity);
    this.starts = growBitmap(this.starts, capacity);
    this.foreign = growBitmap(this.foreign, capacity);
    this.free.ensureCapacity(capacity);
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.mapPages = grow(this.mapPages, (n) => new Int32Array(n));
    this.mapProt = grow(this.mapProt, (n) => new Uint8Array(n));
    this.mapFlags = grow(this.mapFlags, (n) => new Int32Array(n));
    this.mapRequested = grow(this.mapRequested, (n) => new Float64Array(n));
    this.mapFile = grow(this.mapFile, (n) => new Int32Array(n));
    this.mapFileOffset = grow(this.mapFileOffset, (n) => new Float64Array(n));
  }

  /**
   * Accounts for pages [from, to) that just came into existence. Pages below the heap base are
   * image; pages at or above the limit (or grown by the guest) are foreign; the rest are free.
   */
  private addPages(from: number, to: number, foreignGrowth: boolean, clean = false): void {
    this.ensureCapacity(to);
    const imageEnd = Math.min(to, this.regionStartPage);
    if (from < imageEnd) setRange(this.used, from, imageEnd);
    const lo = Math.max(from, this.regionStartPage);
    const freeEnd = foreignGrowth ? lo : Math.min(to, this.limitPage);
    if (lo < freeEnd) {
      if (!clean) setRange(this.dirty, lo, freeEnd);
      this.insertFree(lo, freeEnd);
    }
    const foreignStart = Math.max(lo, freeEnd);
    if (foreignStart < to) {
      this.foreignPages += to - foreignStart;
      setRange(this.used, foreignStart, to);
      setRange(this.foreign, foreignStart, to);
      setRange(this.dirty, foreignStart, to);
    }
    this.ownedPages = to;
  }

  /**
   * Notices growth the engine did not do (the guest's own memory.grow, or its WASI host's):
   * those pages belong to the guest and are never handed out. Called at the start of a call.
   */
  sync(): void {
    const memory = this.memory;
    if (memory === null) return;
    if (this.recycledPages !== 0) this.flushRecycled();
    const bytes = memory.byteLength();
    if (bytes !== this.knownBytes) this.adoptForeign(bytes);
  }

  private adoptForeign(bytes: number): void {
    const from = this.knownBytes / this.pageSize;
    this.knownBytes = bytes;
    this.addPages(from, bytes / this.pageSize, true);
    this.notePeaks();
  }

  /**
   * Grows linear memory until pages [0, endPage) exist. Returns false, changing nothing the
   * engine hands out, when that is impossible: beyond the limit, the declared maximum, or a
   * refused allocation (ENOMEM for the caller).
   */
  growTo(endPage: number): boolean {
    const memory = this.memory;
    if (memory === null) return false;
    this.sync();
    if (endPage <= this.ownedPages) return true;
    if (endPage > this.limitPage) return false;
    const currentWasmPages = this.knownBytes / WASM_PAGE_SIZE;
    const neededWasmPages = Math.ceil((endPage * this.pageSize - this.knownBytes) / WASM_PAGE_SIZE);
    const roomWasmPages = Math.floor((this.limitPage * this.pageSize) / WASM_PAGE_SIZE) - currentWasmPages;
    if (neededWasmPages > roomWasmPages) return false;
    const chunk = Math.min(roomWasmPages, chunkFor(this.growth, neededWasmPages, currentWasmPages));
    this.counters.growCalls++;
    let old = memory.grow(chunk);
    let grown = chunk;
    if (old < 0 && chunk > neededWasmPages) {
      // The chunk ran into the declared maximum (not visible from JavaScript): ask for the need.
      this.counters.growCalls++;
      old = memory.grow(neededWasmPages);
      grown = neededWasmPages;
    }
    if (old < 0) {
      this.counters.growFailures++;
      return false;
    }
    const oldBytes = old * WASM_PAGE_SIZE;
    if (oldBytes !== this.knownBytes) this.adoptForeign(oldBytes);
    const newBytes = oldBytes + grown * WASM_PAGE_SIZE;
    this.knownBytes = newBytes;
    this.counters.grownBytes += grown * WASM_PAGE_SIZE;
    // Fresh pages from memory.grow are zero (WebAssembly core spec, memory.grow): never cleared.
    this.addPages(oldBytes / this.pageSize, newBytes / this.pageSize, false, true);
    this.notePeaks();
    return this.ownedPages >= endPage;
  }

  // ---------------------------------------------------------------------------------------
  // Free runs

  /** Frees pages [from, to) into the index, merged with free neighbours. */
  private insertFree(from: number, to: number): void {
    const free = this.free;
    const left = free.runEndingAt(from - 1);
    const right = to < free.capacity ? free.runLength[to] : 0;
    if (left >= 0) {
      if (right > 0) free.remove(to);
      free.reshape(left, left, to + right - left);
    } else if (right > 0) {
      free.reshape(to, from, to + right - from);
    } else {
      free.insert(from, to - from);
    }
  }

  /** Takes pages [from, to) out of the free run that starts at `runStart` and contains them. */
  private takeFromRun(runStart: number, from: number, to: number): void {
    const free = this.free;
    const runEnd = runStart + free.runLength[runStart];
    if (from > runStart) {
      // Keep the part below in place (the common case: carving from the top of a run).
      free.reshape(runStart, runStart, from - runStart);
      if (to < runEnd) free.insert(to, runEnd - to);
    } else if (to < runEnd) {
      free.reshape(runStart, to, runEnd - to);
    } else {
      free.remove(runStart);
    }
    if (to - from === 1) setBit(this.used, from);
    else setRange(this.used, from, to);
    this.clearDirty(from, to);
  }

  /** Zeroes the dirty pages of [from, to): every anonymous page reads as zeros when handed out. */
  private clearDirty(from: number, to: number): void {
    const dirty = this.dirty;
    if (to - from === 1) {
      // One page: the most common mapping, worth its own path.
      if (!testBit(dirty, from)) return;
      (this.memory as LinearMemory).bytes().fill(0, from * this.pageSize, to * this.pageSize);
      this.counters.clearedBytes += this.pageSize;
      clearBit(dirty, from);
      return;
    }
    if (!anySet(dirty, from, to)) return;
    const bytes = (this.memory as LinearMemory).bytes();
    const size = this.pageSize;
    for (let page = nextSet(dirty, from, to); page >= 0; ) {
      let end = page + 1;
      while (end < to && testBit(dirty, end)) end++;
      bytes.fill(0, page * size, end * size);
      this.counters.clearedBytes += (end - page) * size;
      page = end < to ? nextSet(dirty, end, to) : -1;
    }
    clearRange(dirty, from, to);
  }

  /** Zeroes pages [from, to) that stay in use (MADV_DONTNEED, MREMAP_DONTUNMAP). */
  zeroPages(from: number, to: number): void {
    (this.memory as LinearMemory).bytes().fill(0, from * this.pageSize, to * this.pageSize);
    this.counters.clearedBytes += (to - from) * this.pageSize;
  }

  /** True when pages [from, to) are all free (pages not grown yet count as free if below the limit). */
  isFree(from: number, to: number): boolean {
    if (from < this.regionStartPage || to > this.limitPage) return false;
    return !anySet(this.used, from, Math.min(to, this.ownedPages));
  }

  /**
   * Takes the free pages [from, to) for a caller that chose the address (a hint, MAP_FIXED,
   * in-place growth), growing memory when they reach past it. Returns false, changing nothing
   * handed out, when memory cannot grow that far.
   */
  takeFree(from: number, to: number): boolean {
    if (to > this.ownedPages && !this.growTo(to)) return false;
    const runStart = prevSet(this.used, from - 1, 0) + 1;
    this.takeFromRun(runStart, from, to);
    return true;
  }

  /**
   * Finds and takes `pages` free pages for a mapping without a usable address: the best-fitting
   * free run, carved from its top end, so that the lowest pages of a run (the ones just above
   * the break, when it is the run above the break) stay free for brk. When no run fits, memory
   * grows just enough to extend the topmost run. Returns the first page, or -1 (ENOMEM).
   */
  placeAnywhere(pages: number): number {
    if (pages <= RECYCLE_MAX_PAGES && this.recycledCount[pages] !== 0) {
      // Recycled pages are all dirty (recycle() marked them): clear them in one fill.
      const start = this.recycled[pages * RECYCLE_DEPTH + --this.recycledCount[pages]];
      const end = start + pages;
      this.recycledPages -= pages;
      (this.memory as LinearMemory).bytes().fill(0, start * this.pageSize, end * this.pageSize);
      this.counters.clearedBytes += pages * this.pageSize;
      if (pages === 1) clearBit(this.dirty, start);
      else clearRange(this.dirty, start, end);
      return start;
    }
    let run = this.free.findFit(pages);
    if (run < 0) {
      this.sync(); // also returns recycled pages to the free runs
      run = this.free.findFit(pages);
    }
    if (run < 0) {
      const topRun = this.free.runEndingAt(this.ownedPages - 1);
      const have = topRun >= 0 ? this.ownedPages - topRun : 0;
      // Pages below the heap base never become free: grow past it when memory ends below it.
      if (!this.growTo(Math.max(this.ownedPages, this.regionStartPage) + pages - have)) return -1;
      run = this.free.findFit(pages);
      if (run < 0) return -1;
    }
    const start = run + this.free.runLength[run] - pages;
    this.takeFromRun(run, start, start + pages);
    return start;
  }

  /** Returns pages [from, to) of a mapping or the brk area to the free runs (as dirty pages). */
  private release(from: number, to: number): void {
    if (to - from === 1) {
      clearBit(this.used, from);
      setBit(this.dirty, from);
    } else {
      clearRange(this.used, from, to);
      setRange(this.dirty, from, to);
    }
    this.insertFree(from, to);
  }

  // ---------------------------------------------------------------------------------------
  // The brk area

  /**
   * Moves the break to `address` (raw Linux brk semantics: returns the new break, or the old one
   * unchanged when the move is impossible). The brk area never grows into a mapping or a
   * foreign page; new pages read as zeros; pages given back become free (dirty).
   */
  setBreak(address: number): number {
    if (this.memory === null) return 0;
    if (!(address >= this.heapBase) || address > this.limitPage * this.pageSize) return this.breakAddress;
    const newEnd = Math.max(this.regionStartPage, this.pagesFor(address));
    const oldEnd = this.brkEndPage;
    if (newEnd > oldEnd) {
      this.sync();
      const available = oldEnd < this.ownedPages ? this.free.runLength[oldEnd] : 0;
      if (oldEnd + available < newEnd) {
        // Not enough free pages above the break: only growth can help, and only when the free
        // run above the break reaches the end of memory.
        if (oldEnd + available < this.ownedPages || !this.growTo(newEnd)) return this.breakAddress;
        if (this.free.runLength[oldEnd] < newEnd - oldEnd) return this.breakAddress;
      }
      this.takeFromRun(oldEnd, oldEnd, newEnd);
    } else if (newEnd < oldEnd) {
      this.release(newEnd, oldEnd);
    }
    this.brkEndPage = newEnd;
    this.breakAddress = address;
    const brkBytes = address - this.heapBase;
    if (brkBytes > this.counters.peakBrkBytes) this.counters.peakBrkBytes = brkBytes;
    return address;
  }

  // ---------------------------------------------------------------------------------------
  // Mappings

  /** Records a mapping over pages that were just taken. */
  addMapping(
    start: number,
    pages: number,
    prot: number,
    flags: number,
    requestedBytes: number,
    file: MappableFile | null = null,
    fileOffset = 0,
  ): void {
    setBit(this.starts, start);
    this.mapPages[start] = pages;
    this.mapProt[start] = prot;
    this.mapFlags[start] = flags;
    this.mapRequested[start] = requestedBytes;
    this.mapFile[start] = file === null ? 0 : this.fileSlot(file) + 1;
    this.mapFileOffset[start] = fileOffset;
    const c = this.counters;
    c.liveMappings++;
    c.mappedPages += pages;
    c.requestedBytes += requestedBytes;
    c.cumulativeMappedBytes += pages * this.pageSize;
    c.cumulativeRequestedBytes += requestedBytes;
    this.notePeaks();
  }

  private fileSlot(file: MappableFile): number {
    let slot = this.files.indexOf(file);
    if (slot < 0) {
      slot = this.files.indexOf(null);
      if (slot < 0) slot = this.files.push(null) - 1;
      this.files[slot] = file;
      this.fileRefs[slot] = 0;
    }
    this.fileRefs[slot]++;
    return slot;
  }

  private dropFileRef(slot: number): void {
    if (--this.fileRefs[slot] === 0) this.files[slot] = null;
  }

  /** The file backing the mapping that starts at `start`, or null. */
  fileOf(start: number): MappableFile | null {
    const slot = this.mapFile[start];
    return slot === 0 ? null : this.files[slot - 1];
  }

  /** The first page of the mapping that contains `page`, or -1. */
  mappingAt(page: number): number {
    if (page < this.brkEndPage || page >= this.ownedPages || !testBit(this.used, page)) return -1;
    const start = prevSet(this.starts, page, this.brkEndPage);
    return start >= 0 && start + this.mapPages[start] > page ? start : -1;
  }

  /** The first mapping starting in [from, to), or -1. */
  nextMapping(from: number, to: number): number {
    return nextSet(this.starts, from, Math.min(to, this.ownedPages));
  }

  /** True when every page of [from, to) exists and is in use (image, brk area, mapping or foreign). */
  isInUse(from: number, to: number): boolean {
    return to <= this.ownedPages && allSet(this.used, from, to);
  }

  /** True when any page of [from, to) is the image, the brk area or a foreign page. */
  touchesUnmappable(from: number, to: number): boolean {
    if (from < this.brkEndPage) return true;
    if (this.foreignPages === 0) return false;
    const end = Math.min(to, this.ownedPages);
    return from < end && anySet(this.foreign, from, end);
  }

  /** Splits the mapping containing `page` so that a mapping starts at `page` (no-op otherwise). */
  splitAt(page: number): void {
    const start = this.mappingAt(page);
    if (start < 0 || start === page) return;
    const leftPages = page - start;
    const leftBytes = leftPages * this.pageSize;
    const requested = this.mapRequested[start];
    const leftRequested = Math.min(requested, leftBytes);
    setBit(this.starts, page);
    this.mapPages[page] = this.mapPages[start] - leftPages;
    this.mapPages[start] = leftPages;
    this.mapProt[page] = this.mapProt[start];
    this.mapFlags[page] = this.mapFlags[start];
    this.mapRequested[page] = requested - leftRequested;
    this.mapRequested[start] = leftRequested;
    this.mapFile[page] = this.mapFile[start];
    if (this.mapFile[start] !== 0) this.fileRefs[this.mapFile[start] - 1]++;
    this.mapFileOffset[page] = this.mapFileOffset[start] + leftBytes;
    this.counters.liveMappings++;
    this.notePeaks();
  }

  /**
   * Makes [from, to) one mapping record when it is covered by adjacent mappings that Linux
   * would hold as one vma: same protection and flags, anonymous, or the same file at
   * contiguous offsets. Returns false (changing nothing) when it is not covered that way.
   * The split at `from` or `to` inside a larger record is left to the caller.
   */
  mergeRange(from: number, to: number): boolean {
    const first = this.mappingAt(from);
    if (first < 0) return false;
    let end = first + this.mapPages[first];
    if (end >= to) return true;
    // Plan: walk the neighbours until `to` is covered.
    const parts: number[] = [];
    while (end < to) {
      if (!testBit(this.starts, end)) return false;
      if (
        this.mapProt[end] !== this.mapProt[first] ||
        this.mapFlags[end] !== this.mapFlags[first] ||
        this.mapFile[end] !== this.mapFile[first] ||
        (this.mapFile[first] !== 0 && this.mapFileOffset[end] !== this.mapFileOffset[first] + (end - first) * this.pageSize)
      ) {
        return false;
      }
      parts.push(end);
      end += this.mapPages[end];
    }
    // Act: fold every part into the first record (counters of pages and bytes are unchanged).
    for (const part of parts) {
      clearBit(this.starts, part);
      this.mapPages[first] += this.mapPages[part];
      this.mapRequested[first] += this.mapRequested[part];
      if (this.mapFile[part] !== 0) this.dropFileRef(this.mapFile[part] - 1);
      this.mapPages[part] = 0;
      this.mapFile[part] = 0;
      this.counters.liveMappings--;
    }
    return true;
  }

  /** Forgets the mapping record at `start` (its pages stay as they are). */
  private dropMapping(start: number): void {
    clearBit(this.starts, start);
    const c = this.counters;
    c.liveMappings--;
    c.mappedPages -= this.mapPages[start];
    c.requestedBytes -= this.mapRequested[start];
    if (this.mapFile[start] !== 0) this.dropFileRef(this.mapFile[start] - 1);
    this.mapFile[start] = 0;
    this.mapPages[start] = 0;
  }

  /**
   * Unmaps every mapping page in [from, to), splitting mappings that straddle its ends; shared
   * file mappings write their bytes back first. Free pages in the range are left alone. The
   * caller has checked that the range holds no image, brk or foreign page.
   */
  unmap(from: number, to: number): void {
    const end = Math.min(to, this.ownedPages);
    if (from >= end) return;
    if (testBit(this.starts, from) && this.mapPages[from] === end - from) {
      // Exactly one whole mapping: the common munmap.
      if (this.mapFile[from] !== 0) this.writeBack(from, from, end);
      this.dropMapping(from);
      this.release(from, end);
      return;
    }
    this.splitAt(from);
    this.splitAt(end);
    for (let start = this.nextMapping(from, end); start >= 0; ) {
      const pages = this.mapPages[start];
      if (this.mapFile[start] !== 0) this.writeBack(start, start, start + pages);
      this.dropMapping(start);
      this.release(start, start + pages);
      start = this.nextMapping(start + pages, end);
    }
  }

  /**
   * munmap's common case: [from, to) is exactly one whole anonymous mapping of at most
   * RECYCLE_MAX_PAGES pages, and its size has room in the recycle stacks. Then the mapping is
   * dropped and its pages are kept for the next mmap of that size. Returns false, changing
   * nothing, otherwise (the caller unmaps normally).
   */
  recycle(from: number, to: number): boolean {
    const pages = to - from;
    if (
      pages > RECYCLE_MAX_PAGES ||
      to > this.ownedPages ||
      this.recycledCount[pages] === RECYCLE_DEPTH ||
      !testBit(this.starts, from) ||
      this.mapPages[from] !== pages ||
      this.mapFile[from] !== 0
    ) {
      return false;
    }
    // dropMapping(), without the file reference (there is none).
    clearBit(this.starts, from);
    const c = this.counters;
    c.liveMappings--;
    c.mappedPages -= pages;
    c.requestedBytes -= this.mapRequested[from];
    this.mapPages[from] = 0;
    if (pages === 1) setBit(this.dirty, from);
    else setRange(this.dirty, from, to);
    this.recycled[pages * RECYCLE_DEPTH + this.recycledCount[pages]++] = from;
    this.recycledPages += pages;
    return true;
  }

  /** Gives every recycled mapping's pages back to the free runs. */
  flushRecycled(): void {
    for (let pages = 1; pages <= RECYCLE_MAX_PAGES; pages++) {
      for (let i = 0; i < this.recycledCount[pages]; i++) {
        const start = this.recycled[pages * RECYCLE_DEPTH + i];
        this.release(start, start + pages);
      }
      this.recycledCount[pages] = 0;
    }
    this.recycledPages = 0;
  }

  /** Every recycled range as [first page, pages] (for invariants). */
  private recycledRanges(): [number, number][] {
    const ranges: [number, number][] = [];
    for (let pages = 1; pages <= RECYCLE_MAX_PAGES; pages++) {
      for (let i = 0; i < this.recycledCount[pages]; i++) ranges.push([this.recycled[pages * RECYCLE_DEPTH + i], pages]);
    }
    return ranges;
  }

  /**
   * Moves a whole mapping record from `from` to `to` (mremap): the caller has taken the new
   * pages and copied the bytes; the old pages are released unless `keepOld` (MREMAP_DONTUNMAP,
   * where they stay mapped, empty, as a new anonymous mapping).
   */
  moveMapping(from: number, to: number, newPages: number, requestedBytes: number, keepOld: boolean): void {
    const oldPages = this.mapPages[from];
    const file = this.fileOf(from);
    const prot = this.mapProt[from];
    const flags = this.mapFlags[from];
    const fileOffset = this.mapFileOffset[from];
    this.dropMapping(from);
    if (keepOld) {
      this.zeroPages(from, from + oldPages);
      this.addMapping(from, oldPages, prot, flags, oldPages * this.pageSize);
    } else {
      this.release(from, from + oldPages);
    }
    this.addMapping(to, newPages, prot, flags, requestedBytes, file, fileOffset);
  }

  /** Changes a mapping's length in place (mremap): pages beyond the old end were taken already. */
  resizeMapping(start: number, newPages: number, requestedBytes: number): void {
    const oldPages = this.mapPages[start];
    const c = this.counters;
    if (newPages < oldPages) {
      this.writeBack(start, start + newPages, start + oldPages);
      this.release(start + newPages, start + oldPages);
    }
    const oldRequested = this.mapRequested[start];
    this.mapPages[start] = newPages;
    c.mappedPages += newPages - oldPages;
    c.requestedBytes += requestedBytes - oldRequested;
    this.mapRequested[start] = requestedBytes;
    if (newPages > oldPages) {
      // Growth in place grants the added pages: count what was added, mapped and requested.
      c.cumulativeMappedBytes += (newPages - oldPages) * this.pageSize;
      c.cumulativeRequestedBytes += Math.max(0, requestedBytes - oldRequested);
    }
    this.notePeaks();
  }

  /** Sets the protection of whole mappings in [from, to) (the caller split at the ends). */
  protect(from: number, to: number, prot: number): void {
    for (let start = this.nextMapping(from, to); start >= 0; start = this.nextMapping(start + this.mapPages[start], to)) {
      this.mapProt[start] = prot;
    }
  }

  /**
   * Writes the bytes of pages [from, to) of a MAP_SHARED file mapping back to its file: only
   * the span that differs from the file, never past the file's end (Linux does not extend a
   * file through a mapping either: mmap(2), SIGBUS beyond EOF).
   */
  writeBack(start: number, from: number, to: number): void {
    const file = this.fileOf(start);
    if (file === null || (this.mapFlags[start] & MapFlag.TYPE) === MapFlag.PRIVATE || !file.writable) return;
    try {
      this.writeBackTo(file, start, from, to);
    } catch {
      // A file that fails (host code) must not stop an unmap halfway; Linux's munmap does not
      // fail on write-back either. Counted, so that statistics show it.
      this.counters.writeBackFailures++;
    }
  }

  private writeBackTo(file: MappableFile, start: number, from: number, to: number): void {
    const offset = this.mapFileOffset[start] + (from - start) * this.pageSize;
    const length = Math.min((to - from) * this.pageSize, file.size() - offset);
    if (length <= 0) return;
    const mapped = (this.memory as LinearMemory).bytes().subarray(from * this.pageSize, from * this.pageSize + length);
    const current = new Uint8Array(length);
    const read = file.read(offset, current);
    let first = 0;
    while (first < length && first < read && mapped[first] === current[first]) first++;
    if (first === length) return;
    let last = length;
    while (last > first && last <= read && mapped[last - 1] === current[last - 1]) last--;
    file.write(offset + first, mapped.slice(first, last));
  }

  /** Writes back every shared file mapping that overlaps [from, to) (msync). */
  writeBackRange(from: number, to: number): void {
    const first = this.mappingAt(from);
    let start = first >= 0 ? first : this.nextMapping(from, to);
    while (start >= 0) {
      const end = start + this.mapPages[start];
      this.writeBack(start, Math.max(from, start), Math.min(to, end));
      start = this.nextMapping(end, to);
    }
  }

  /** A snapshot of every mapping, lowest address first. */
  mappings(): MappingInfo[] {
    const list: MappingInfo[] = [];
    for (let start = this.nextMapping(0, this.ownedPages); start >= 0; ) {
      const pages = this.mapPages[start];
      list.push({
        address: start * this.pageSize,
        length: pages * this.pageSize,
        prot: this.mapProt[start],
        flags: this.mapFlags[start],
        requestedBytes: this.mapRequested[start],
        file: this.fileOf(start),
        fileOffset: this.mapFileOffset[start],
      });
      start = this.nextMapping(start + pages, this.ownedPages);
    }
    return list;
  }

  // ---------------------------------------------------------------------------------------
  // Statistics and the memory map

  private notePeaks(): void {
    const c = this.counters;
    const mappedBytes = c.mappedPages * this.pageSize;
    if (mappedBytes > c.peakMappedBytes) {
      c.peakMappedBytes = mappedBytes;
      c.requestedAtPeakMapped = c.requestedBytes;
    }
    if (c.requestedBytes > c.peakRequestedBytes) c.peakRequestedBytes = c.requestedBytes;
    if (c.liveMappings > c.peakLiveMappings) c.peakLiveMappings = c.liveMappings;
    if (this.knownBytes > c.peakMemoryBytes) c.peakMemoryBytes = this.knownBytes;
  }

  /** Bytes of linear memory. */
  get memoryBytes(): number {
    return this.knownBytes;
  }

  /** Bytes of JavaScript memory the per-page bookkeeping takes. */
  get bookkeepingBytes(): number {
    const bitmaps = this.used.byteLength + this.dirty.byteLength + this.starts.byteLength + this.foreign.byteLength;
    const index = this.free.capacity * 16;
    const table =
      this.mapPages.byteLength +
      this.mapProt.byteLength +
      this.mapFlags.byteLength +
      this.mapRequested.byteLength +
      this.mapFile.byteLength +
      this.mapFileOffset.byteLength;
    return bitmaps + index + table;
  }

  /** Bytes of the page bitmaps alone (used, dirty, starts, foreign). */
  get bitmapBytes(): number {
    return wordsFor(this.ownedPages) * 4 * 4;
  }

  /** One PageKind per libc page of linear memory. */
  pageKinds(): Uint8Array {
    this.sync();
    const kinds = new Uint8Array(this.ownedPages);
    for (let page = 0; page < this.ownedPages; page++) {
      let kind: PageKind;
      if (page < this.regionStartPage) kind = PageKind.IMAGE;
      else if (page < this.brkEndPage) kind = PageKind.BRK;
      else if (testBit(this.foreign, page)) kind = PageKind.FOREIGN;
      else if (testBit(this.used, page)) kind = PageKind.MAPPED;
      else kind = testBit(this.dirty, page) ? PageKind.FREE_DIRTY : PageKind.FREE_CLEAN;
      kinds[page] = kind;
    }
    return kinds;
  }

  // ---------------------------------------------------------------------------------------
  // Invariants

  /**
   * Checks every invariant the engine relies on and throws an Error naming the first broken
   * one. `deep` also reads memory to check that free clean pages are zero. Tests call this
   * after every step.
   */
  checkInvariants(deep = false): void {
    const fail = (why: string): never => {
      throw new Error(`wasi-mman invariant broken: ${why}`);
    };
    if (this.memory === null) return;
    const owned = this.ownedPages;
    const size = this.pageSize;
    // The engine's view of memory matches the memory (foreign growth is adopted at sync()).
    if (this.knownBytes > this.memory.byteLength()) fail("the engine accounts for more memory than exists");
    if (owned !== this.knownBytes / size) fail(`owned pages ${owned} != memory pages ${this.knownBytes / size}`);
    // Nothing below the heap base is handed out: image pages are used, never mappings or free.
    if (!allSet(this.used, 0, Math.min(this.regionStartPage, owned))) fail("an image page is not marked used");
    if (anySet(this.starts, 0, Math.min(this.brkEndPage, owned))) fail("a mapping starts below the break");
    // The brk area reports the exact break and covers whole pages up to it.
    if (this.breakAddress < this.heapBase) fail("the break is below the heap base");
    if (this.brkEndPage !== Math.max(this.regionStartPage, this.pagesFor(this.breakAddress))) {
      fail(`brk end page ${this.brkEndPage} does not match the break ${this.breakAddress}`);
    }
    const brkOwnedEnd = Math.min(this.brkEndPage, owned);
    if (!allSet(this.used, this.regionStartPage, brkOwnedEnd)) fail("a brk page is not marked used");
    if (anySet(this.foreign, this.regionStartPage, brkOwnedEnd)) fail("the brk area overlaps foreign pages");
    // Mappings never overlap each other, the brk area, foreign pages, or the last page below 4 GiB.
    let mappedPages = 0;
    let live = 0;
    let previousEnd = this.brkEndPage;
    let requested = 0;
    for (let start = this.nextMapping(0, owned); start >= 0; ) {
      const pages = this.mapPages[start];
      if (pages <= 0) fail(`mapping at page ${start} has ${pages} pages`);
      if (start < previousEnd) fail(`mapping at page ${start} overlaps the previous mapping or the brk area`);
      if (start + pages > owned) fail(`mapping at page ${start} runs past the end of memory`);
      if (start + pages > this.limitPage) fail(`mapping at page ${start} reaches past the address limit`);
      if (!allSet(this.used, start, start + pages)) fail(`mapping at page ${start} has a page not marked used`);
      if (anySet(this.foreign, start, start + pages)) fail(`mapping at page ${start} covers foreign pages`);
      if (anySet(this.starts, start + 1, start + pages)) fail(`mapping at page ${start} contains another mapping's start`);
      const req = this.mapRequested[start];
      if (req < 0 || req > pages * size) fail(`mapping at page ${start} has ${req} requested bytes for ${pages} pages`);
      requested += req;
      mappedPages += pages;
      live++;
      previousEnd = start + pages;
      start = this.nextMapping(previousEnd, owned);
    }
    const c = this.counters;
    if (live !== c.liveMappings) fail(`${live} mappings found, ${c.liveMappings} accounted`);
    if (mappedPages !== c.mappedPages) fail(`${mappedPages} mapped pages found, ${c.mappedPages} accounted`);
    if (Math.abs(requested - c.requestedBytes) > 0.5) fail(`${requested} requested bytes found, ${c.requestedBytes} accounted`);
    // The free index holds exactly the unused pages, as maximal runs with exact boundary tags.
    let freePages = 0;
    for (const [start, length] of this.free.allRuns()) {
      if (length <= 0 || start + length > owned) fail(`free run at page ${start} (${length} pages) is out of range`);
      if (start < this.brkEndPage) fail(`free run at page ${start} is below the break`);
      if (anySet(this.used, start, start + length)) fail(`free run at page ${start} holds a used page`);
      if (start + length > this.limitPage) fail(`free run at page ${start} reaches past the address limit`);
      if (this.free.runEndingAt(start + length - 1) !== start) fail(`free run at page ${start} has a wrong end tag`);
      if (start > this.brkEndPage && !testBit(this.used, start - 1)) fail(`free run at page ${start} is not merged with the run below`);
      if (start + length < owned && !testBit(this.used, start + length)) fail(`free run at page ${start} is not merged with the run above`);
      freePages += length;
    }
    if (freePages !== this.free.freePages) fail(`${freePages} free pages in runs, ${this.free.freePages} accounted`);
    // Recycled pages are held aside: marked used and dirty, no mapping starts in them, no overlap.
    let recycledPages = 0;
    let previous = -1;
    for (const [start, pages] of this.recycledRanges().sort((a, b) => a[0] - b[0])) {
      if (start < previous) fail(`recycled range at page ${start} overlaps another`);
      if (start < this.brkEndPage || start + pages > owned) fail(`recycled range at page ${start} is out of range`);
      if (!allSet(this.used, start, start + pages)) fail(`recycled range at page ${start} has a page not marked used`);
      if (!allSet(this.dirty, start, start + pages)) fail(`recycled range at page ${start} has a page not marked dirty`);
      if (anySet(this.starts, start, start + pages)) fail(`recycled range at page ${start} overlaps a mapping`);
      if (anySet(this.foreign, start, start + pages)) fail(`recycled range at page ${start} overlaps foreign pages`);
      recycledPages += pages;
      previous = start + pages;
    }
    if (recycledPages !== this.recycledPages) fail(`${recycledPages} recycled pages found, ${this.recycledPages} accounted`);
    // Bitmap population equals the pages accounted for: image + brk + mapped + foreign + free = all.
    const usedCount = countSet(this.used, 0, owned);
    const foreignCount = countSet(this.foreign, 0, owned);
    if (usedCount + freePages !== owned) fail(`used ${usedCount} + free ${freePages} != ${owned} pages`);
    if (usedCount !== brkOwnedEnd + mappedPages + foreignCount + recycledPages) {
      fail(`used pages ${usedCount} != image+brk ${brkOwnedEnd} + mapped ${mappedPages} + foreign ${foreignCount} + recycled ${recycledPages}`);
    }
    if (deep) {
      // Free pages not marked dirty read as zeros, so they can be handed out without clearing.
      const bytes = this.memory.bytes();
      for (const [start, length] of this.free.allRuns()) {
        for (let page = start; page < start + length; page++) {
          if (testBit(this.dirty, page)) continue;
          const from = page * size;
          for (let i = from; i < from + size; i++) {
            if (bytes[i] !== 0) fail(`free clean page ${page} holds a non-zero byte at ${i}`);
          }
        }
      }
    }
  }
}
