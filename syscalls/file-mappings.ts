/**
 * File-backed mappings: the only place that reads or writes a file for the memory calls. The
 * engine only remembers which file backs which pages; the calls read what they need here in
 * their plan step (before any page changes) and write MAP_SHARED bytes back before the pages
 * that hold them go away.
 *
 * Coherence (docs/hosts.md, "Coherence of shared file mappings"). On Linux every MAP_SHARED
 * mapping of a file and every read and write of it go through one copy of each file page, the
 * page cache. Here each mapping is its own copy in linear memory, so this file keeps, per
 * engine and per file, the bytes every shared mapping showed at the last reconciliation (the
 * PageCache below, keyed by file page). A mapping's bytes that differ from that copy are the
 * guest's stores since then, and only those are ever written to the file:
 *
 *   linear memory            PageCache (per file page)          the file (MappableFile)
 *   mapping A  ──diff──┐     ┌─────────────┐   write changed    ┌──────────────┐
 *   mapping B  ──diff──┴──>  │ what A and B │ ─────────bytes───> │              │
 *                ^ copy      │ last showed  │ <──read after ──── │ host writes  │
 *                └───────────┴─────────────┘    a host write     └──────────────┘
 *
 * The hosts call in at every host call and every memory call (hosts/shim-files.ts wraps the
 * WASI and mman imports); the calls here reconcile at msync, munmap, mremap and MAP_FIXED, and
 * flush a file's mappings before reading it for a new mapping.
 */
import { MapFlags, Prot } from "../runtime/linux.js";
import type { AddressSpace } from "../runtime/address-space.js";

/** A file that can back a mapping (supplied by a FileResolver). */
export interface MappableFile {
  /**
   * The open file itself: write-back goes to it, never to an fd number that may be reused.
   * Two MappableFile objects with the same identity are the same file (mappings of it at
   * contiguous offsets merge, as on Linux, and share one page cache).
   */
  readonly identity: object;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly regular: boolean;
  /** The file's size now (after the host's last write: coherence reads it at every host call). */
  size(): number;
  /** Copies up to target.length bytes from `offset`; returns how many were copied. */
  read(offset: number, target: Uint8Array): number;
  /** Writes bytes at `offset` (MAP_SHARED write-back; never past the file's end). */
  write(offset: number, bytes: Uint8Array): void;
}

/** The key mappings of one file share: its identity (the object itself for a bare object). */
export function identityOf(file: object): object {
  return (file as { identity?: object }).identity ?? file;
}

/** One live MAP_SHARED file mapping, as the engine records it. */
export interface SharedMapping {
  /** First page of the record, and its pages. */
  start: number;
  pages: number;
  /** Byte offset in the file of its first page (a multiple of the page size). */
  fileOffset: number;
  file: MappableFile;
}

function isShared(flags: number): boolean {
  return (flags & MapFlags.TYPE) !== MapFlags.PRIVATE;
}

/**
 * Every live MAP_SHARED mapping of the file with `identity` (of every file when omitted),
 * lowest address first: the engine-side query coherence is built on. Reads only.
 */
export function sharedFileMappings(space: AddressSpace, identity?: object): SharedMapping[] {
  const found: SharedMapping[] = [];
  if (!space.attached || !space.hasFileMappings) return found;
  const end = space.ownedPages;
  for (let start = space.nextMapping(space.brk.regionStartPage, end); start >= 0; ) {
    const record = space.record(start);
    const file = record.file as MappableFile | null;
    if (file !== null && isShared(record.flags) && (identity === undefined || identityOf(file) === identity)) {
      found.push({ start, pages: record.pages, fileOffset: record.fileOffset, file });
    }
    start = space.nextMapping(start + record.pages, end);
  }
  return found;
}

/**
 * The bytes a file mapping shows in `pages` pages from `offset`: the file's bytes, and zeros
 * past its end (mmap(2)). Read into a buffer of its own, so that a resolver that throws (host
 * code) does so before any page has changed. The file's shared mappings are written back over
 * that range first, so a new mapping (shared or private, MAP_FIXED over an old one included)
 * shows what they show, as it would read the page cache on Linux.
 */
export function readFilePages(file: MappableFile, offset: number, pages: number, pageSize: number): Uint8Array {
  const cache = activeCache;
  if (cache !== null) cache.flushRange(file, offset, offset + pages * pageSize);
  const bytes = new Uint8Array(Math.max(0, Math.min(pages * pageSize, file.size() - offset)));
  if (bytes.length > 0) file.read(offset, bytes);
  if (cache !== null) cache.remember(file, offset, pages, bytes);
  else rememberPending(file, offset, pages, pageSize, bytes);
  return bytes;
}

/**
 * Writes the MAP_SHARED file mapping at `start`, pages [from, to), back to its file: only the
 * bytes the guest changed since the last reconciliation, never past the file's end (Linux
 * does not extend a file through a mapping either: mmap(2), SIGBUS beyond EOF). Other shared
 * mappings of those file pages are written back too and then show the same bytes. A file
 * that throws must not stop an unmap halfway (Linux's munmap does not fail on write-back
 * either): counted in stats.
 */
export function writeBack(space: AddressSpace, start: number, from: number, to: number): void {
  const record = space.record(start);
  const file = record.file as MappableFile | null;
  if (file === null || !isShared(record.flags)) return;
  const pageSize = space.pageSize;
  const offset = record.fileOffset + (from - start) * pageSize;
  pageCacheOf(space).flushRange(file, offset, offset + (to - from) * pageSize);
}

/** Writes back every shared file mapping that overlaps [from, to) (msync, and before unmapping). */
export function writeBackRange(space: AddressSpace, from: number, to: number): void {
  const first = space.mappingAt(from);
  let start = first >= 0 ? first : space.nextMapping(from, to);
  while (start >= 0) {
    const end = start + space.record(start).pages;
    writeBack(space, start, Math.max(from, start), Math.min(to, end));
    start = space.nextMapping(end, to);
  }
}

// ---------------------------------------------------------------------------------------------
// The page cache

/** One file page as every shared mapping of it showed it at the last reconciliation. */
interface CachedPage {
  bytes: Uint8Array;
  /** The same bytes as 32-bit words (pages are multiples of 4 KiB): compared a word at a time. */
  words: Int32Array;
}

interface CachedFile {
  file: MappableFile;
  /** File page index -> its bytes. Only pages some shared mapping shows (or just showed). */
  pages: Map<number, CachedPage>;
  /** The file's size at the last reconciliation (a host call that changed it is refreshed). */
  size: number;
  /** Its live shared mappings, from the last scan. */
  mappings: SharedMapping[];
  /** File pages that two or more of them show: kept in agreement at every call. */
  multiplyShown: number[];
}

/** The engine a memory call is being served for, while the host's import wrapper runs it. */
let activeCache: PageCache | null = null;

const caches = new WeakMap<AddressSpace, PageCache>();

/** The page cache of an engine (made on first use). */
export function pageCacheOf(space: AddressSpace): PageCache {
  let cache = caches.get(space);
  if (cache === undefined) {
    cache = new PageCache(space);
    caches.set(space, cache);
  }
  return cache;
}

/**
 * What a file mapping made from JavaScript (no import wrapper, so no known engine) showed when
 * it was made, per file page: the next scan of its engine takes it as the page's cached bytes,
 * so that a host write the layer did not see is still never overwritten.
 */
interface PendingPage {
  source: Uint8Array;
  at: number;
  pageSize: number;
}
const pending = new WeakMap<object, Map<number, PendingPage>>();

function rememberPending(file: MappableFile, offset: number, pages: number, pageSize: number, bytes: Uint8Array): void {
  const identity = identityOf(file);
  let byPage = pending.get(identity);
  if (byPage === undefined) {
    byPage = new Map();
    pending.set(identity, byPage);
  }
  const first = offset / pageSize;
  for (let i = 0; i < pages; i++) byPage.set(first + i, { source: bytes, at: i * pageSize, pageSize });
}

function newPage(pageSize: number): CachedPage {
  const words = new Int32Array(pageSize >>> 2);
  return { bytes: new Uint8Array(words.buffer), words };
}

/** Bytes [from, to) of `source` (zeros past its end) into `target` at `at`. */
function copyPadded(target: Uint8Array, at: number, source: Uint8Array, from: number, to: number): void {
  const available = Math.max(0, Math.min(to, source.length) - from);
  if (available > 0) target.set(source.subarray(from, from + available), at);
  if (available < to - from) target.fill(0, at + Math.max(0, available), at + (to - from));
}

/** Bytes or words: what the comparisons below index. */
type Indexed = { readonly [index: number]: number };

/** Calls `run(i, end)` for each maximal run [i, end) in [from, to) where a[at + i] !== b[i]. */
function differingRuns(a: Indexed, at: number, b: Indexed, from: number, to: number, run: (from: number, to: number) => void): void {
  let i = from;
  while (i < to) {
    if (a[at + i] === b[i]) {
      i++;
      continue;
    }
    let end = i + 1;
    while (end < to && a[at + end] !== b[end]) end++;
    run(i, end);
    i = end;
  }
}

/**
 * Calls `run(from, to)` for each maximal run of bytes in [0, length) where the page at byte
 * `memoryAt` of memory differs from `page`: words first, then the exact bytes inside each run
 * of differing words (so only bytes that changed are ever written).
 */
function forEachChange(memory: Int32Array, bytes: Uint8Array, memoryAt: number, page: CachedPage, length: number, run: (from: number, to: number) => void): void {
  const words = length >>> 2;
  differingRuns(memory, memoryAt >>> 2, page.words, 0, words, (first, end) => differingRuns(bytes, memoryAt, page.bytes, first << 2, end << 2, run));
  if ((words << 2) < length) differingRuns(bytes, memoryAt, page.bytes, words << 2, length, run);
}

/**
 * One engine's page cache. Nothing here runs while no file is mapped: every entry point is
 * behind the engine's `hasFileMappings` counter check (hosts/shim-files.ts).
 */
export class PageCache {
  private readonly files = new Map<object, CachedFile>();
  /** Pages made during the current call, for mappings not yet recorded: never collected before the next call. */
  private fresh = new Set<CachedPage>();
  /** The counters the last scan saw: any change to the mappings changes one of them. */
  private seenLive = -1;
  private seenMapped = -1;
  private seenCumulative = -1;
  private memoryWords: Int32Array | null = null;

  constructor(private readonly space: AddressSpace) {}

  /** Whether the file with `identity` has live shared mappings (as of the last scan). */
  tracks(identity: object): boolean {
    this.scan();
    const cached = this.files.get(identity);
    return cached !== undefined && cached.mappings.length > 0;
  }

  /**
   * Before a call, between two calls: forgets pages no shared mapping shows any more and makes
   * the pages that several mappings show agree (a store through one shows through the others).
   */
  beforeCall(): void {
    if (!this.space.hasFileMappings) {
      if (this.files.size > 0) this.files.clear();
      this.fresh.clear();
      return;
    }
    // Pages made for the last call's mappings are kept only if those mappings were made.
    const madeSome = this.fresh.size > 0;
    this.fresh.clear();
    this.scan(madeSome);
    for (const cached of this.files.values()) {
      if (cached.multiplyShown.length === 0) continue;
      const sources = this.writableMappings(cached);
      if (sources.length === 0) continue;
      this.guard(() => {
        for (const page of cached.multiplyShown) this.flushPage(cached, page, sources);
      });
    }
  }

  /**
   * Runs a memory call for this engine: reconciles first, and lets readFilePages (which is not
   * told the engine) find this cache while the call runs.
   */
  serve<T>(call: () => T): T {
    this.beforeCall();
    const outer = activeCache;
    activeCache = this;
    try {
      return call();
    } finally {
      activeCache = outer;
    }
  }

  /** Writes the guest's changes to file bytes [from, to) of `file`'s shared mappings to it. */
  flushRange(file: MappableFile, from: number, to: number): void {
    const cached = this.cachedFile(file);
    if (cached === null || cached.mappings.length === 0) return;
    const sources = this.writableMappings(cached);
    if (sources.length === 0) return;
    this.guard(() => this.forPages(cached, from, to, (page) => this.flushPage(cached, page, sources)));
  }

  /** flushRange over the whole file. */
  flushAll(file: MappableFile): void {
    this.flushRange(file, 0, Number.MAX_SAFE_INTEGER);
  }

  /**
   * After the host wrote file bytes [from, to): the cache and every shared mapping of those
   * bytes show the file's new bytes (zeros past its end). Stores the guest made there before
   * the write are superseded by it, as on Linux. A change of size is refreshed as well.
   */
  refreshRange(file: MappableFile, from: number, to: number): void {
    const cached = this.cachedFile(file);
    if (cached === null) return;
    this.guard(() => {
      this.copyFromFile(cached, from, to);
      this.refreshSize(cached);
    });
  }

  /**
   * After a host call that may have written `file` at places not known: every cached byte the
   * file no longer matches is refreshed (flushAll must have run before the call, so no store of
   * the guest is pending).
   */
  refreshChanged(file: MappableFile): void {
    const cached = this.cachedFile(file);
    if (cached === null) return;
    this.guard(() => {
      this.refreshSize(cached);
      const pageSize = this.space.pageSize;
      const scratch = new Uint8Array(pageSize);
      for (const [index, page] of cached.pages) {
        const at = index * pageSize;
        const length = Math.max(0, Math.min(pageSize, cached.size - at));
        if (length === 0) continue;
        cached.file.read(at, scratch.subarray(0, length));
        differingRuns(scratch, 0, page.bytes, 0, length, (a, b) => this.show(cached, index, page, scratch.subarray(a, b), a));
      }
    });
  }

  /** After a host call that may have changed sizes (truncation, O_TRUNC, allocation). */
  refreshSizes(): void {
    this.scan();
    for (const cached of this.files.values()) this.guard(() => this.refreshSize(cached));
  }

  /** The pages a new mapping of `file` will show (readFilePages): cached unless they are already. */
  remember(file: MappableFile, offset: number, pages: number, bytes: Uint8Array): void {
    const cached = this.cachedFile(file, true) as CachedFile;
    const pageSize = this.space.pageSize;
    const first = offset / pageSize;
    for (let i = 0; i < pages; i++) {
      if (cached.pages.has(first + i)) continue;
      const page = newPage(pageSize);
      copyPadded(page.bytes, 0, bytes, i * pageSize, (i + 1) * pageSize);
      cached.pages.set(first + i, page);
      this.fresh.add(page);
    }
  }

  // -- internals --

  /** Host code (the file) may throw: counted as a failed write-back, never thrown at the guest. */
  private guard(work: () => void): void {
    try {
      work();
    } catch {
      this.space.noteWriteBackFailure();
    }
  }

  private cachedFile(file: MappableFile, create = false): CachedFile | null {
    this.scan();
    const identity = identityOf(file);
    let cached = this.files.get(identity) ?? null;
    if (cached === null && create) {
      cached = { file, pages: new Map(), size: file.size(), mappings: [], multiplyShown: [] };
      this.files.set(identity, cached);
    }
    return cached;
  }

  /**
   * Brings the list of shared mappings up to date when the mappings changed since the last
   * scan. `collect`: also drop pages (and files) no shared mapping shows, except pages made
   * during the current call for a mapping about to be recorded.
   */
  private scan(collect = false): void {
    const space = this.space;
    const counters = space.counters;
    if (counters.liveMappings !== this.seenLive || counters.mappedPages !== this.seenMapped || counters.cumulativeMappedBytes !== this.seenCumulative) {
      this.seenLive = counters.liveMappings;
      this.seenMapped = counters.mappedPages;
      this.seenCumulative = counters.cumulativeMappedBytes;
      for (const cached of this.files.values()) cached.mappings = [];
      for (const mapping of sharedFileMappings(space)) {
        const identity = identityOf(mapping.file);
        let cached = this.files.get(identity);
        if (cached === undefined) {
          cached = { file: mapping.file, pages: new Map(), size: mapping.file.size(), mappings: [], multiplyShown: [] };
          this.files.set(identity, cached);
        }
        cached.mappings.push(mapping);
      }
      for (const [identity, cached] of this.files) this.indexPages(identity, cached);
      collect = true;
    }
    if (!collect) return;
    const pageSize = space.pageSize;
    for (const [identity, cached] of this.files) {
      const shown = new Set<number>();
      for (const mapping of cached.mappings) {
        const first = mapping.fileOffset / pageSize;
        for (let i = 0; i < mapping.pages; i++) shown.add(first + i);
      }
      for (const [index, page] of cached.pages) {
        if (!shown.has(index) && !this.fresh.has(page)) cached.pages.delete(index);
      }
      if (cached.mappings.length === 0 && cached.pages.size === 0) this.files.delete(identity);
    }
  }

  /** Finds the pages several mappings show, and caches any shown page not cached yet. */
  private indexPages(identity: object, cached: CachedFile): void {
    const pageSize = this.space.pageSize;
    const several = cached.mappings.length > 1;
    const count = new Map<number, number>();
    const byPage = pending.get(identity);
    for (const mapping of cached.mappings) {
      const first = mapping.fileOffset / pageSize;
      for (let i = 0; i < mapping.pages; i++) {
        const index = first + i;
        if (several) count.set(index, (count.get(index) ?? 0) + 1);
        if (cached.pages.has(index)) continue;
        // A mapping made without the engine known (from JavaScript): what it showed when made,
        // or else the file as it is now.
        const page = newPage(pageSize);
        const made = byPage?.get(index);
        if (made !== undefined && made.pageSize === pageSize) {
          copyPadded(page.bytes, 0, made.source, made.at, made.at + pageSize);
          byPage?.delete(index);
        } else {
          this.guard(() => {
            const length = Math.max(0, Math.min(pageSize, mapping.file.size() - index * pageSize));
            if (length > 0) mapping.file.read(index * pageSize, page.bytes.subarray(0, length));
          });
        }
        cached.pages.set(index, page);
      }
    }
    if (byPage !== undefined && byPage.size === 0) pending.delete(identity);
    cached.multiplyShown = [];
    for (const [index, n] of count) if (n > 1) cached.multiplyShown.push(index);
  }

  /** Calls `each` for every cached page of file bytes [from, to). */
  private forPages(cached: CachedFile, from: number, to: number, each: (index: number) => void): void {
    const pageSize = this.space.pageSize;
    const first = Math.floor(Math.max(0, from) / pageSize);
    const last = Math.ceil(to / pageSize);
    if (last - first > cached.pages.size) {
      for (const index of [...cached.pages.keys()]) if (index >= first && index < last) each(index);
    } else {
      for (let index = first; index < last; index++) if (cached.pages.has(index)) each(index);
    }
  }

  private words(bytes: Uint8Array): Int32Array {
    let words = this.memoryWords;
    if (words === null || words.buffer !== bytes.buffer || words.byteOffset !== bytes.byteOffset) {
      words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
      this.memoryWords = words;
    }
    return words;
  }

  /**
   * The mappings of a file that can hold stores: with PROT_WRITE now (mprotect may have changed
   * it since the scan), of a writable file. A store into a mapping without PROT_WRITE, or into
   * a read-only file's, would have faulted on Linux (wasm cannot enforce protection): it is
   * never written, and the bytes there are replaced when the file's change.
   */
  private writableMappings(cached: CachedFile): SharedMapping[] {
    if (!cached.file.writable) return [];
    return cached.mappings.filter((mapping) => (this.space.record(mapping.start).prot & Prot.WRITE) !== 0);
  }

  /**
   * Writes what the guest stored in file page `index` through the mappings in `sources`
   * (bytes that differ from the cached page) to the file, below its end, and then shows those
   * bytes in every other mapping of the page.
   */
  private flushPage(cached: CachedFile, index: number, sources: SharedMapping[]): void {
    const page = cached.pages.get(index);
    const file = cached.file;
    if (page === undefined) return;
    const pageSize = this.space.pageSize;
    const at = index * pageSize;
    const length = Math.max(0, Math.min(pageSize, file.size() - at));
    if (length === 0) return;
    const bytes = this.space.bytes();
    const memory = this.words(bytes);
    // Every mapping is compared with the page as it was before any of them is written: a
    // mapping that did not store a byte must not look as if it had stored the old value.
    const runs: number[] = [];
    for (const mapping of sources) {
      const memoryAt = this.memoryAt(mapping, index);
      if (memoryAt >= 0) forEachChange(memory, bytes, memoryAt, page, length, (from, to) => runs.push(memoryAt, from, to));
    }
    if (runs.length === 0) return;
    // Two mappings that stored different bytes at one place: the later one in address order
    // wins (on Linux the later store would; which came later is not known here).
    for (let i = 0; i < runs.length; i += 3) {
      const [memoryAt, from, to] = [runs[i], runs[i + 1], runs[i + 2]];
      file.write(at + from, bytes.slice(memoryAt + from, memoryAt + to));
      page.bytes.set(bytes.subarray(memoryAt + from, memoryAt + to), from);
    }
    if (cached.mappings.length < 2) return;
    for (const mapping of cached.mappings) {
      const memoryAt = this.memoryAt(mapping, index);
      if (memoryAt < 0) continue;
      for (let i = 0; i < runs.length; i += 3) bytes.set(page.bytes.subarray(runs[i + 1], runs[i + 2]), memoryAt + runs[i + 1]);
    }
  }

  /** Where file page `index` lies in linear memory within `mapping`, in bytes, or -1. */
  private memoryAt(mapping: SharedMapping, index: number): number {
    const pageSize = this.space.pageSize;
    const offset = index - mapping.fileOffset / pageSize;
    return offset >= 0 && offset < mapping.pages ? (mapping.start + offset) * pageSize : -1;
  }

  /** Cached page `index` and every mapping of it show `bytes` at byte `from` of the page. */
  private show(cached: CachedFile, index: number, page: CachedPage, bytes: Uint8Array, from: number): void {
    page.bytes.set(bytes, from);
    const memory = this.space.bytes();
    for (const mapping of cached.mappings) {
      const memoryAt = this.memoryAt(mapping, index);
      if (memoryAt >= 0) memory.set(bytes, memoryAt + from);
    }
  }

  /** File bytes [from, to) into the cache and the mappings, zeros past the file's end. */
  private copyFromFile(cached: CachedFile, from: number, to: number): void {
    const pageSize = this.space.pageSize;
    const size = cached.file.size();
    this.forPages(cached, from, to, (index) => {
      const page = cached.pages.get(index) as CachedPage;
      const at = index * pageSize;
      const start = Math.max(from, at) - at;
      const end = Math.min(to, at + pageSize) - at;
      if (end <= start) return;
      const fresh = new Uint8Array(end - start);
      const inFile = Math.max(0, Math.min(end, size - at) - start);
      if (inFile > 0) cached.file.read(at + start, fresh.subarray(0, inFile));
      this.show(cached, index, page, fresh, start);
    });
  }

  /** The file grew or shrank since the last reconciliation: bytes between the two ends refreshed. */
  private refreshSize(cached: CachedFile): void {
    const size = cached.file.size();
    if (size === cached.size) return;
    const old = cached.size;
    cached.size = size;
    this.copyFromFile(cached, Math.min(old, size), Math.max(old, size));
  }
}
