/**
 * The page model: one deliberately simple statement of what every memory call does, as this
 * project defines it (docs/semantics.md, ../shared/ABI.md), written without the engine's data
 * structures: a Map from page to owner, and the expected bytes of the pages in use.
 *
 *   0          regionStart          brkEnd                              memPages    limitPage
 *   | image    | brk (or mapped) ... |  free / mapped / foreign ...      | absent ...  |
 *
 * Given a call, its arguments and the result the engine returned, step() predicts the exact
 * errno of a failing call (and then nothing changes; madvise, mprotect and msync walk their
 * range as Linux does and may end with an error after changing what came before), and for a
 * succeeding call checks what is fixed without predicting placement: the address is page
 * aligned, its pages were free (or it is the hint or fixed address when that was valid),
 * memory grows only when no free run fits and then the mapping starts at the wilderness, the
 * bytes the call promises (zeros, the file's bytes, the bytes mremap keeps), pgoffs, and the
 * break. Which pages Linux would hold as one vma (mremap's EFAULT) follows from each page's
 * protection, type, file, pgoff, vma flags and anon_vma, kept per page. It records every
 * disagreement as a sentence; test/oracle/check.ts feeds it from the drivers and compares the
 * engine's state with it.
 *
 * The semantics are Linux 6.18's with this project's deviations (docs/semantics.md): when the
 * engine's rules change, this file is where the oracle changes with them.
 */
import type { FileResolver, MappableFile } from "../../index.js";

// Linux's numbers (asm-generic errno-base.h, mman-common.h, linux/mman.h, Linux 6.18), written
// out here rather than imported, so that the model does not share a constant with the engine.
export const EPERM = 1, EBADF = 9, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, EOVERFLOW = 75, EOPNOTSUPP = 95;
const PROT_READ = 1, PROT_WRITE = 2, PROT_ALL = 7, PROT_SEM = 8, PROT_GROWSDOWN = 0x01000000, PROT_GROWSUP = 0x02000000;
const MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_SHARED_VALIDATE = 3, MAP_DROPPABLE = 8, MAP_TYPE = 0xf, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20;
const MAP_GROWSDOWN = 0x100, MAP_DENYWRITE = 0x800, MAP_EXECUTABLE = 0x1000, MAP_LOCKED = 0x2000, MAP_NORESERVE = 0x4000, MAP_POPULATE = 0x8000;
const MAP_NONBLOCK = 0x10000, MAP_STACK = 0x20000, MAP_HUGETLB = 0x40000, MAP_SYNC = 0x80000, MAP_FIXED_NOREPLACE = 0x100000, MAP_UNINITIALIZED = 0x4000000;
/** The flags MAP_SHARED_VALIDATE accepts (mm/mmap.c LEGACY_MAP_MASK, MAP_SYNC, the huge page size bits). */
const MAP_VALIDATED =
  MAP_FIXED | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE |
  MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB | MAP_SYNC | MAP_FIXED_NOREPLACE | MAP_UNINITIALIZED | (0x3f << 26);
const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2, MREMAP_DONTUNMAP = 4;
const MADV = {
  NORMAL: 0, RANDOM: 1, SEQUENTIAL: 2, WILLNEED: 3, DONTNEED: 4, FREE: 8, REMOVE: 9, DONTFORK: 10, DOFORK: 11,
  MERGEABLE: 12, UNMERGEABLE: 13, HUGEPAGE: 14, NOHUGEPAGE: 15, DONTDUMP: 16, DODUMP: 17, WIPEONFORK: 18,
  KEEPONFORK: 19, COLD: 20, PAGEOUT: 21, POPULATE_READ: 22, POPULATE_WRITE: 23, DONTNEED_LOCKED: 24, COLLAPSE: 25,
  HWPOISON: 100, SOFT_OFFLINE: 101, GUARD_INSTALL: 102, GUARD_REMOVE: 103,
} as const;
const MS_ASYNC = 1, MS_INVALIDATE = 2, MS_SYNC = 4;
const WASM_PAGE = 65536;
const LIMIT_32 = 2 ** 32;

/**
 * The vma flags a page's mapping carries (include/linux/mm.h names; the model's own bits):
 * neighbours whose flags differ are never one vma. WRITTEN is no vm_flag: the mapping may have
 * an anon_vma (it was writable), and two anon_vmas never merge.
 */
const VM = {
  RAND: 1, SEQ: 2, DONTCOPY: 4, DONTDUMP: 8, WIPEONFORK: 16, HUGEPAGE: 32, NOHUGEPAGE: 64, MERGEABLE: 128,
  NORESERVE: 256, LOCKED: 512, SYNC: 1024, GROWSDOWN: 2048, ACCOUNT: 4096, WRITTEN: 8192,
} as const;
/** vma flags that follow from mmap's flags and protection (mm/mmap.c calc_vm_flag_bits, accountable_mapping). */
export function vmFlagsOf(flags: number, prot: number): number {
  const type = flags & MAP_TYPE;
  const isPrivate = type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE;
  let vm = 0;
  if ((flags & MAP_NORESERVE) !== 0 && isPrivate) vm |= VM.NORESERVE;
  if ((flags & MAP_SYNC) !== 0 && ((flags & MAP_ANONYMOUS) !== 0 || type !== MAP_SHARED)) vm |= VM.SYNC;
  if ((prot & PROT_WRITE) !== 0) {
    vm |= VM.WRITTEN;
    if (isPrivate && (flags & MAP_NORESERVE) === 0) vm |= VM.ACCOUNT;
  }
  if ((flags & MAP_LOCKED) !== 0) vm |= VM.LOCKED;
  if ((flags & MAP_STACK) !== 0) vm |= VM.NOHUGEPAGE;
  if ((flags & MAP_GROWSDOWN) !== 0) vm |= VM.GROWSDOWN;
  return vm;
}

/** What each advice that only changes vma flags does to them (mm/madvise.c madvise_vma_behavior). */
const FLAG_ADVICE = new Map<number, [set: number, clear: number]>(
  Object.entries({
    NORMAL: [0, VM.RAND | VM.SEQ], RANDOM: [VM.RAND, VM.SEQ], SEQUENTIAL: [VM.SEQ, VM.RAND],
    DONTFORK: [VM.DONTCOPY, 0], DOFORK: [0, VM.DONTCOPY], DONTDUMP: [VM.DONTDUMP, 0], DODUMP: [0, VM.DONTDUMP],
    WIPEONFORK: [VM.WIPEONFORK, 0], KEEPONFORK: [0, VM.WIPEONFORK], MERGEABLE: [VM.MERGEABLE, 0],
    UNMERGEABLE: [0, VM.MERGEABLE], HUGEPAGE: [VM.HUGEPAGE, VM.NOHUGEPAGE], NOHUGEPAGE: [VM.NOHUGEPAGE, VM.HUGEPAGE],
  } as Partial<Record<keyof typeof MADV, [number, number]>>).map(([name, change]) => [MADV[name as keyof typeof MADV], change]),
);
/** Advice that makes pages read as zeros (FREE: may). */
const CLEARING = new Set<number>([MADV.DONTNEED, MADV.DONTNEED_LOCKED, MADV.FREE, MADV.REMOVE, MADV.GUARD_INSTALL]);
/** Every advice Linux 6.18 implements. */
const KNOWN_ADVICE = new Set<number>(Object.values(MADV));

/** A file as the model knows it: its bytes as they should be after every write-back. */
export interface FileModel {
  readonly identity: object;
  /** The file object first seen for this identity (the engine writes back to it). */
  readonly source: MappableFile;
  /** Write-back happens only to writable files (the file object first seen for this identity). */
  readonly writable: boolean;
  /** null once a write-back wrote bytes the model does not know (untracked contents). */
  data: Uint8Array | null;
}

/** A page of a mapping: what mappings() must report for it, and what decides what merges. */
export interface MappedPage {
  readonly prot: number;
  /** The map type and MAP_ANONYMOUS, as mmap was given them. */
  readonly flags: number;
  readonly file: FileModel | null;
  /**
   * Where the page lies in its object, in bytes (Linux's pgoff): the file offset; for private
   * anonymous memory the address its vma was made at; for shared anonymous memory, the offset
   * in its own object.
   */
  readonly offset: number;
  /** vma flags (VM). */
  readonly vm: number;
  /** The anon_vma: pages of two origins are never one vma when both were written. */
  readonly origin: number;
}

export type PageOwner = MappedPage | "foreign";
export type ModelKind = "image" | "brk" | "mapped" | "foreign" | "free" | "absent";

export interface ModelConfig {
  pageSize: number;
  heapBase: number;
  /** Linear memory when the model starts, in bytes. */
  memoryBytes: number;
  /** createMman's maxMemoryBytes (default: 4 GiB). */
  maxMemoryBytes?: number;
  /** The memory's declared maximum in wasm pages (JavaScript cannot read it; default 65536). */
  declaredMaxWasmPages?: number;
  /** createMman's growth option (default "geometric"). */
  growth?: "exact" | "geometric";
  /** Keep expected bytes across calls (a driver that reports its own writes), or check only what each call makes. */
  trackContents: boolean;
}

/** What the model needs from outside for one call. */
export interface CallEnvironment {
  /** Memory pages just before the call (growth the guest did itself since the last call is foreign). */
  pagesBefore: number;
  /** Memory pages after the call. */
  pagesAfter: number;
  /** The memory as it is after the call (the trace hook runs before the guest goes on). */
  bytes(): Uint8Array;
  /** The engine's file resolver at the time of the call. */
  files: FileResolver | null;
}

const ZERO_CACHE = new Map<number, Uint8Array>();
function zeroPage(size: number): Uint8Array {
  let page = ZERO_CACHE.get(size);
  if (page === undefined) ZERO_CACHE.set(size, (page = new Uint8Array(size)));
  return page;
}

/** Thrown inside a step to stop at the first disagreement. */
class Disagreement extends Error {}

export class PageModel {
  readonly pageSize: number;
  readonly heapBase: number;
  /** First page the host may hand out: the heap base rounded up, never page 0. */
  readonly regionStart: number;
  /** Pages at or above this are never handed out (maxMemoryBytes, and the last page below 4 GiB). */
  readonly limitPage: number;
  breakAddress: number;
  memPages: number;
  /** Owners of mapped and foreign pages; brk and image pages follow from the break and the heap base. */
  readonly owners = new Map<number, PageOwner>();
  /** Expected bytes of brk and mapped pages (null: not known, e.g. the guest wrote there). */
  readonly content = new Map<number, Uint8Array | null>();
  readonly files = new Map<object, FileModel>();
  /** Every disagreement, as a sentence; the first one stops the model. */
  readonly problems: string[] = [];
  /** Pages the last call promised bytes for (checked against memory at once). */
  readonly fresh = new Set<number>();
  /** Pages the last call changed (mapped, unmapped, replaced, zeroed, moved). */
  readonly touched = new Set<number>();
  /** What the last call was predicted to do, for a driver's own checks ("EINVAL", "moved", ...). */
  lastOutcome = "";
  /** True when the last call was predicted to fail (an errno, or a refused brk): nothing changed. */
  lastFailed = false;
  /** What else the last call did (over-brk, to-brk, written-back, file...), for coverage counts. */
  private readonly tags = new Set<string>();
  private readonly declaredMax: number;
  /** The most linear memory may reach, in wasm pages: maxMemoryBytes (4 GiB by default). */
  private readonly ceilingWasmPages: number;
  private readonly growth: "exact" | "geometric";
  private readonly trackContents: boolean;
  private env: CallEnvironment | null = null;
  private label = "";

  constructor(config: ModelConfig) {
    this.pageSize = config.pageSize;
    this.heapBase = config.heapBase;
    this.regionStart = Math.max(1, Math.ceil(config.heapBase / config.pageSize));
    this.limitPage = Math.floor(Math.min(config.maxMemoryBytes ?? LIMIT_32, LIMIT_32 - config.pageSize) / config.pageSize);
    this.breakAddress = config.heapBase;
    this.memPages = config.memoryBytes / config.pageSize;
    this.declaredMax = config.declaredMaxWasmPages ?? 65536;
    this.ceilingWasmPages = Math.floor((config.maxMemoryBytes ?? LIMIT_32) / WASM_PAGE);
    this.growth = config.growth ?? "geometric";
    this.trackContents = config.trackContents;
    // Existing pages past the limit are never handed out: the engine holds them as foreign.
    for (let p = Math.max(this.limitPage, this.regionStart); p < this.memPages; p++) this.owners.set(p, "foreign");
  }

  get brkEnd(): number {
    return Math.max(this.regionStart, Math.ceil(this.breakAddress / this.pageSize));
  }

  kind(page: number): ModelKind {
    if (page < this.regionStart) return "image";
    if (page >= this.memPages) return "absent";
    const owner = this.owners.get(page);
    if (owner === "foreign") return "foreign";
    if (owner !== undefined) return "mapped";
    return page < this.brkEnd ? "brk" : "free";
  }

  mapped(page: number): MappedPage | undefined {
    const owner = this.owners.get(page);
    return owner === undefined || owner === "foreign" ? undefined : owner;
  }

  /** Every mapped page, lowest first. */
  mappedPages(): number[] {
    const pages: number[] = [];
    for (const [page, owner] of this.owners) if (owner !== "foreign") pages.push(page);
    return pages.sort((a, b) => a - b);
  }

  /** Mapped pages as [first page, end page) runs (adjacent mappings run together). */
  mappedRuns(): [number, number][] {
    const runs: [number, number][] = [];
    for (const page of this.mappedPages()) {
      const last = runs[runs.length - 1];
      if (last !== undefined && last[1] === page) last[1]++;
      else runs.push([page, page + 1]);
    }
    return runs;
  }

  /** True when every page of [from, to) is mapped. */
  allMapped(from: number, to: number): boolean {
    for (let p = from; p < to; p++) if (this.mapped(p) === undefined) return false;
    return from < to;
  }

  isFree(from: number, to: number): boolean {
    for (let p = from; p < to; p++) if (this.kind(p) !== "free") return false;
    return true;
  }

  /** Every page exists and is in use: image, brk, mapping or foreign (madvise, mprotect, msync). */
  private inUse(from: number, to: number): boolean {
    for (let p = from; p < to; p++) {
      const kind = this.kind(p);
      if (kind === "free" || kind === "absent") return false;
    }
    return true;
  }

  private any(from: number, to: number, kinds: ModelKind[]): boolean {
    const end = Math.min(to, this.memPages);
    for (let p = from; p < end; p++) if (kinds.includes(this.kind(p))) return true;
    return false;
  }

  /** True when some run of `pages` free pages exists in memory as it is. */
  freeRunFits(pages: number): boolean {
    let run = 0;
    for (let p = this.regionStart; p < this.memPages; p++) {
      run = this.kind(p) === "free" ? run + 1 : 0;
      if (run >= pages) return true;
    }
    return false;
  }

  /** The first page of the wilderness: the free run that reaches the end of memory (memPages when empty). */
  wildStart(): number {
    let p = this.memPages;
    while (p > this.regionStart && this.kind(p - 1) === "free") p--;
    return p;
  }

  /**
   * True when memory can grow until pages [0, end) exist: not past the limit page, nor past
   * maxMemoryBytes or the declared maximum in whole wasm pages.
   */
  canGrowTo(end: number): boolean {
    if (end <= this.memPages) return true;
    if (end > this.limitPage) return false;
    const needed = Math.ceil((end * this.pageSize) / WASM_PAGE);
    return needed <= this.ceilingWasmPages && needed <= this.declaredMax;
  }

  /**
   * The memory pages growing until [0, end) exist may leave (docs/semantics.md, "Growth"):
   * exactly the wasm pages needed under growth: "exact"; under "geometric", at least those and
   * a chunk of the policy's choosing (runtime/growth.ts tunes it; the docs leave it open), never
   * past maxMemoryBytes or the declared maximum.
   */
  private grownPages(end: number): [least: number, most: number] {
    const least = (Math.ceil((end * this.pageSize) / WASM_PAGE) * WASM_PAGE) / this.pageSize;
    if (this.growth === "exact") return [least, least];
    return [least, (Math.min(this.ceilingWasmPages, this.declaredMax) * WASM_PAGE) / this.pageSize];
  }

  // ---------------------------------------------------------------- outside events

  /** Pages the guest grew itself: foreign, never handed out. */
  adoptForeign(pages: number): void {
    for (let p = this.memPages; p < pages; p++) if (p >= this.regionStart) this.owners.set(p, "foreign");
    this.memPages = Math.max(this.memPages, pages);
  }

  /** Pages the host grew: free (past the limit, held as foreign). */
  private adoptGrown(pages: number): void {
    for (let p = Math.max(this.memPages, this.limitPage, this.regionStart); p < pages; p++) this.owners.set(p, "foreign");
    this.memPages = pages;
  }

  /** The driver wrote `value` over a whole page (tracked contents only). */
  write(page: number, value: number): void {
    const bytes = new Uint8Array(this.pageSize).fill(value);
    this.content.set(page, bytes);
  }

  fileModel(file: MappableFile): FileModel {
    const identity = file.identity ?? file;
    let model = this.files.get(identity);
    if (model === undefined) {
      const data = new Uint8Array(file.size());
      file.read(0, data);
      model = { identity, source: file, writable: file.writable, data };
      this.files.set(identity, model);
    }
    return model;
  }

  // ---------------------------------------------------------------- one call

  /** Checks one call against the model and applies it. Returns false on a disagreement. */
  step(call: string, args: readonly number[], result: number, env: CallEnvironment): boolean {
    if (this.problems.length > 0) return false;
    this.env = env;
    this.label = `${call}(${args.join(", ")}) = ${result}`;
    this.fresh.clear();
    this.touched.clear();
    this.lastOutcome = "";
    this.lastFailed = false;
    this.tags.clear();
    try {
      if (env.pagesBefore < this.memPages) this.fail(`memory shrank from ${this.memPages} to ${env.pagesBefore} pages`);
      this.adoptForeign(env.pagesBefore);
      const growTo = this.dispatch(call, args, result);
      if (growTo === 0 && env.pagesAfter !== this.memPages) {
        this.fail(`memory grew from ${this.memPages} to ${env.pagesAfter} pages, though the call needed no growth`);
      }
      this.verifyFresh();
      if (this.tags.size > 0) this.lastOutcome += ` (${[...this.tags].sort().join(", ")})`;
      return true;
    } catch (error) {
      if (!(error instanceof Disagreement)) throw error;
      return false;
    } finally {
      this.env = null;
    }
  }

  private fail(message: string): never {
    this.problems.push(`${this.label}: ${message}`);
    throw new Disagreement(message);
  }

  /** A failing call: the exact errno, and nothing changes. */
  private expectError(result: number, errno: number, name: string): 0 {
    this.lastOutcome = name;
    this.lastFailed = true;
    if (result !== -errno) this.fail(`expected -${name} (-${errno})`);
    return 0;
  }

  private expectResult(result: number, expected: number, why: string): void {
    if (result !== expected) this.fail(`expected ${expected} (${why})`);
  }

  /** Growth the call needs: memory after it must be what the policy grows to. */
  private grow(end: number): number {
    const env = this.env as CallEnvironment;
    const [least, most] = this.grownPages(end);
    if (env.pagesAfter < least || env.pagesAfter > most) {
      this.fail(`memory should have grown to ${least === most ? least : `${least}..${most}`} pages (for page ${end}), has ${env.pagesAfter}`);
    }
    this.adoptGrown(env.pagesAfter);
    return end;
  }

  /** Returns the page memory had to grow to (0: no growth). */
  private dispatch(call: string, a: readonly number[], result: number): number {
    switch (call) {
      case "mmap": return this.mmap(a[0], a[1], a[2], a[3], a[4], a[5], result);
      case "munmap": return this.munmap(a[0], a[1], result);
      case "mremap": return this.mremap(a[0], a[1], a[2], a[3], a[4], result);
      case "madvise": return this.madvise(a[0], a[1], a[2], result);
      case "mprotect": return this.mprotect(a[0], a[1], a[2], result);
      case "msync": return this.msync(a[0], a[1], a[2], result);
      case "brk": return this.brk(a[0], result);
      case "pagesize":
        this.expectResult(result, this.pageSize, "the libc page size");
        return 0;
      default:
        return this.fail(`unknown call ${call}`);
    }
  }

  // ---------------------------------------------------------------- vmas

  /**
   * True when `next` (the page after `page`) would be one vma with it on Linux (mm/vma.c
   * is_mergeable_vma): the same protection, map type, file and vma flags, and offsets that
   * follow each other in their object (for private anonymous memory, the pgoff is the address
   * the mapping was made at). anon_vmas are checked over a whole range (oneVma).
   */
  private mergeable(page: MappedPage, next: MappedPage): boolean {
    return (
      page.prot === next.prot &&
      page.flags === next.flags &&
      page.file === next.file &&
      ((page.vm ^ next.vm) & ~VM.WRITTEN) === 0 &&
      next.offset === page.offset + this.pageSize
    );
  }

  /** True when [from, to) is mapped and Linux holds it as one vma: mergeable pages, and one anon_vma among the written ones. */
  private oneVma(from: number, to: number): boolean {
    let origin = -1;
    for (let p = from; p < to; p++) {
      const page = this.mapped(p);
      if (page === undefined) return false;
      if (p > from && !this.mergeable(this.mapped(p - 1) as MappedPage, page)) return false;
      if ((page.vm & VM.WRITTEN) !== 0) {
        if (origin >= 0 && page.origin !== origin) return false;
        origin = page.origin;
      }
    }
    return true;
  }

  /** The vma that holds `page`, as [first, end) pages: as far as oneVma reaches both ways. */
  private vmaOf(page: number): [number, number] {
    let from = page;
    let to = page + 1;
    while (from > this.regionStart && this.oneVma(from - 1, to)) from--;
    while (this.oneVma(from, to + 1)) to++;
    return [from, to];
  }

  /**
   * The anon_vma a new private anonymous vma at [from, to) takes: that of a neighbour it would
   * merge with (a new vma has none yet, so it merges with either; one that has one wins), else
   * its own (mm/vma.c vma_merge_new_range).
   */
  private newVmaOrigin(from: number, to: number, page: MappedPage): number {
    const fits = (other: MappedPage | undefined): other is MappedPage =>
      other !== undefined && other.prot === page.prot && other.flags === page.flags && other.file === null && ((other.vm ^ page.vm) & ~VM.WRITTEN) === 0;
    const beforePage = this.mapped(from - 1);
    const before = fits(beforePage) && beforePage.offset + this.pageSize === from * this.pageSize ? beforePage : undefined;
    const afterPage = this.mapped(to);
    const after = fits(afterPage) && afterPage.offset === to * this.pageSize ? afterPage : undefined;
    const written = (other: MappedPage | undefined): boolean => other !== undefined && (other.vm & VM.WRITTEN) !== 0;
    if (written(before)) return (before as MappedPage).origin;
    if (written(after)) return (after as MappedPage).origin;
    return (before ?? after)?.origin ?? this.nextOrigin++;
  }

  private nextOrigin = 1;

  // ---------------------------------------------------------------- page changes

  private setContent(page: number, bytes: Uint8Array | null, fresh: boolean): void {
    this.content.set(page, bytes);
    this.touched.add(page);
    if (fresh) this.fresh.add(page);
  }

  /** What a page of `file` at `offset` shows: the file's bytes, zeros past its end (mmap(2)). */
  private fileBytes(file: FileModel, offset: number): Uint8Array | null {
    if (file.data === null) return null;
    const page = new Uint8Array(this.pageSize);
    if (offset < file.data.length) page.set(file.data.subarray(offset, Math.min(offset + this.pageSize, file.data.length)));
    return page;
  }

  private freshBytes(page: MappedPage): Uint8Array | null {
    return page.file === null ? zeroPage(this.pageSize) : this.fileBytes(page.file, page.offset);
  }

  /**
   * Takes [from, to) for a mapping whose first page is `first` (free, absent-but-grown or brk
   * pages; the break stays): offsets follow from the first page's. A private anonymous one gets
   * the anon_vma of a neighbour it merges with (`origin` "new vma"), anything else its own.
   */
  private take(from: number, to: number, first: Omit<MappedPage, "origin">, origin: number | "new vma"): void {
    if (first.file !== null) this.tags.add("file");
    const privateAnonymous = first.file === null && (first.flags & MAP_TYPE) !== MAP_SHARED;
    const chosen = origin !== "new vma" ? origin : privateAnonymous ? this.newVmaOrigin(from, to, { ...first, origin: 0 }) : this.nextOrigin++;
    for (let p = from; p < to; p++) {
      if (this.kind(p) === "brk") this.tags.add("over-brk");
      const page: MappedPage = { ...first, offset: first.offset + (p - from) * this.pageSize, origin: chosen };
      this.owners.set(p, page);
      this.setContent(p, this.freshBytes(page), true);
    }
  }

  /**
   * MAP_SHARED file pages of [from, to) go back to their files, lowest address first: pages of
   * a writable file with PROT_WRITE now (a store anywhere else would have faulted on Linux, and
   * is never written: syscalls/file-mappings.ts).
   */
  private writeBack(from: number, to: number): void {
    for (let p = from; p < to; p++) {
      const page = this.mapped(p);
      if (page === undefined || page.file === null || (page.flags & MAP_TYPE) === MAP_PRIVATE || (page.prot & PROT_WRITE) === 0) continue;
      const file = page.file;
      if (file.data === null || !file.writable) continue;
      const bytes = this.content.get(p) ?? null;
      if (bytes === null) {
        file.data = null; // bytes the model does not know reached the file
        continue;
      }
      // Never past the end of the file (Linux does not extend a file through a mapping).
      const length = Math.min(this.pageSize, file.data.length - page.offset);
      if (length > 0) file.data.set(bytes.subarray(0, length), page.offset);
      if (length > 0) this.tags.add("written-back");
    }
  }

  /** Unmaps the mapped pages of [from, to): below the break they are brk pages again, reading zeros. */
  private unmap(from: number, to: number): void {
    const brkEnd = this.brkEnd;
    for (let p = from; p < to; p++) {
      if (this.mapped(p) === undefined) continue;
      this.owners.delete(p);
      if (p < brkEnd) {
        this.setContent(p, zeroPage(this.pageSize), true);
        this.tags.add("to-brk");
      } else {
        this.content.delete(p);
        this.touched.add(p);
      }
    }
  }

  /** Checks the bytes the call promised, then forgets them unless the driver tracks contents. */
  private verifyFresh(): void {
    const env = this.env as CallEnvironment;
    if (this.fresh.size === 0) return;
    const memory = env.bytes();
    const size = this.pageSize;
    for (const p of this.fresh) {
      const expected = this.content.get(p);
      if (expected !== undefined && expected !== null) {
        const actual = memory.subarray(p * size, (p + 1) * size);
        const at = firstDifference(actual, expected);
        if (at >= 0) this.fail(`page ${p} (address ${p * size}) byte ${at} reads ${actual[at]}, expected ${expected[at]}`);
      }
      if (!this.trackContents) this.content.set(p, null);
    }
  }

  /**
   * A call that ends with an error after changing part of its range (madvise, mprotect and
   * msync walk their range as Linux does): the result is exact, and what came before stays.
   */
  private expectPartial(result: number, errno: number, name: string): void {
    this.expectResult(result, -errno, `${name} after the pages before it`);
    this.lastOutcome = `${name} (part)`;
  }

  // ---------------------------------------------------------------- the calls

  /**
   * mmap(2), the checks in Linux's order (docs/semantics.md, "mmap"): the offset, the file
   * descriptor, the length, the page offset's overflow, the address (MAP_FIXED), then the map
   * type and what it asks of the file. Flag and protection bits Linux ignores are ignored.
   */
  private mmap(address: number, length: number, prot: number, flags: number, fd: number, offset: number, result: number): number {
    const ps = this.pageSize;
    if (offset !== 0 && (!(offset >= 0) || offset % ps !== 0)) return this.expectError(result, EINVAL, "EINVAL");
    const type = flags & MAP_TYPE;
    const anonymous = (flags & MAP_ANONYMOUS) !== 0;
    let open: MappableFile | null = null;
    if (!anonymous) {
      if (fd < 0) return this.expectError(result, EBADF, "EBADF");
      const resolver = (this.env as CallEnvironment).files;
      if (resolver === null) return this.expectError(result, ENODEV, "ENODEV");
      open = resolver.resolve(fd);
      if (open === null) return this.expectError(result, EBADF, "EBADF");
    } else if ((flags & MAP_HUGETLB) !== 0) {
      return this.expectError(result, ENOMEM, "ENOMEM"); // no huge pages reserved
    }
    if (length === 0) return this.expectError(result, EINVAL, "EINVAL");
    if (length > LIMIT_32 - ps) return this.expectError(result, ENOMEM, "ENOMEM");
    const pages = Math.ceil(length / ps);
    if (!anonymous && offset / ps + pages > LIMIT_32) return this.expectError(result, EOVERFLOW, "EOVERFLOW");
    const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
    let at = -1;
    if (fixed) {
      if (length > LIMIT_32 - address) return this.expectError(result, ENOMEM, "ENOMEM");
      if (address % ps !== 0) return this.expectError(result, EINVAL, "EINVAL");
      at = address / ps;
      if (at + pages > this.limitPage) return this.expectError(result, ENOMEM, "ENOMEM");
      if (at < this.regionStart) return this.expectError(result, EPERM, "EPERM");
      // Anything in use is EEXIST, brk pages included; pages not grown yet are vacant.
      if ((flags & MAP_FIXED_NOREPLACE) !== 0 && this.any(at, at + pages, ["brk", "mapped", "foreign"])) return this.expectError(result, EEXIST, "EEXIST");
      if (this.any(at, at + pages, ["foreign"])) return this.expectError(result, EPERM, "EPERM");
    } else if (address !== 0) {
      // A hint is honoured when its pages exist and are free (rounded up, as mm/mmap.c's
      // generic code aligns it), and no MAP_GROWSDOWN mapping starts within its gap above.
      const hint = Math.ceil(address / ps);
      if (this.isFree(hint, hint + pages) && !this.belowGrowsDown(hint + pages)) at = hint;
    }
    // The map type comes last (do_mmap); a length that can never fit is ENOMEM before it.
    const badType = anonymous
      ? (type === MAP_SHARED && (flags & MAP_GROWSDOWN) !== 0) || (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_DROPPABLE)
      : type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE;
    if (badType && !fixed && pages > this.limitPage - this.regionStart) return this.expectError(result, ENOMEM, "ENOMEM");
    if (badType && (anonymous || (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE))) return this.expectError(result, EINVAL, "EINVAL");
    let file: FileModel | null = null;
    if (open !== null) {
      if (type === MAP_SHARED || type === MAP_SHARED_VALIDATE) {
        if (type === MAP_SHARED_VALIDATE && ((flags & ~(MAP_TYPE | MAP_VALIDATED)) !== 0 || (flags & MAP_SYNC) !== 0)) return this.expectError(result, EOPNOTSUPP, "EOPNOTSUPP");
        if ((prot & PROT_WRITE) !== 0 && !open.writable) return this.expectError(result, EACCES, "EACCES");
      }
      if (!open.readable) return this.expectError(result, EACCES, "EACCES");
      if (!open.regular) return this.expectError(result, ENODEV, "ENODEV");
      file = this.fileModel(open);
    }
    const first = (start: number): Omit<MappedPage, "origin"> => ({
      prot: prot & PROT_ALL,
      // MAP_SHARED_VALIDATE is MAP_SHARED once validated (do_mmap), as the engine records it.
      flags: type === MAP_SHARED_VALIDATE ? MAP_SHARED | (flags & MAP_ANONYMOUS) : flags & (MAP_TYPE | MAP_ANONYMOUS),
      file,
      // A private anonymous vma's pgoff is its address; shared anonymous memory is its own object.
      offset: file !== null ? offset : type === MAP_SHARED ? 0 : start * ps,
      vm: vmFlagsOf(flags, prot),
    });

    if (fixed) {
      if (!this.canGrowTo(at + pages)) return this.expectError(result, ENOMEM, "ENOMEM");
      this.expectResult(result, address, "MAP_FIXED maps at its address");
      const growTo = at + pages > this.memPages ? this.grow(at + pages) : 0;
      // Replaces what is there: mappings (shared file pages written back first) and brk pages.
      this.writeBack(at, at + pages);
      if (this.any(at, at + pages, ["mapped"])) this.tags.add("replacing");
      for (let p = at; p < at + pages; p++) this.owners.delete(p);
      this.take(at, at + pages, first(at), "new vma");
      this.lastOutcome = "fixed";
      return growTo;
    }
    if (at >= 0) {
      this.expectResult(result, at * ps, "a free hint is honoured");
      this.take(at, at + pages, first(at), "new vma");
      this.lastOutcome = "hint";
      return 0;
    }
    const [start, growTo] = this.place(pages, result);
    if (start < 0) return 0;
    this.take(start, start + pages, first(start), "new vma");
    this.lastOutcome = growTo > 0 ? "placed-grown" : "placed";
    return growTo;
  }

  /** True when the first mapping within stack_guard_gap (256 pages) from `end` grows down (mm/mmap.c vm_start_gap). */
  private belowGrowsDown(end: number): boolean {
    for (let p = end; p < end + 256 && p < this.memPages; p++) {
      const page = this.mapped(p);
      if (page !== undefined) return (page.vm & VM.GROWSDOWN) !== 0;
    }
    return false;
  }

  /**
   * Where the engine places `pages` pages itself: anywhere free when some free run fits (memory
   * must not grow); else at the start of the wilderness, after growing memory just for it.
   * Returns [first page, the page memory grew to or 0], or [-1, 0] after an expected ENOMEM.
   */
  private place(pages: number, result: number): [number, number] {
    const ps = this.pageSize;
    if (this.freeRunFits(pages)) {
      if (result < 0 || result % ps !== 0) this.fail(`expected a page-aligned address: a free run of ${pages} pages exists`);
      if (!this.isFree(result / ps, result / ps + pages)) this.fail(`pages ${result / ps}..${result / ps + pages} were not all free`);
      return [result / ps, 0];
    }
    const start = this.wildStart();
    if (!this.canGrowTo(start + pages)) {
      this.expectError(result, ENOMEM, "ENOMEM");
      return [-1, 0];
    }
    this.expectResult(result, start * ps, "no free run fits: the wilderness grows and the mapping starts there");
    return [start, this.grow(start + pages)];
  }

  /** munmap's checks; the errno, or 0. */
  private munmapError(address: number, length: number): number {
    const ps = this.pageSize;
    if (address % ps !== 0 || length === 0) return EINVAL;
    if (length > LIMIT_32 - address) return EINVAL;
    const from = address / ps;
    // Deviation (docs/semantics.md): the image, brk pages and foreign pages are not mappings.
    if (from < this.regionStart || this.any(from, from + Math.ceil(length / ps), ["brk", "foreign"])) return EINVAL;
    return 0;
  }

  private munmap(address: number, length: number, result: number): number {
    const error = this.munmapError(address, length);
    if (error !== 0) return this.expectError(result, error, "EINVAL");
    this.expectResult(result, 0, "munmap succeeds over mappings and free pages");
    const from = address / this.pageSize;
    const to = from + Math.ceil(length / this.pageSize);
    this.writeBack(from, to);
    this.unmap(from, to);
    this.lastOutcome = "unmapped";
    return 0;
  }

  /** MREMAP_FIXED's target: within the limit, above the heap base, not the guest's pages, growable. 0 or the errno. */
  private targetError(to: number, toEnd: number): number {
    if (toEnd > this.limitPage) return ENOMEM;
    if (to < this.regionStart || this.any(to, toEnd, ["foreign"])) return EPERM;
    if (!this.canGrowTo(toEnd)) return ENOMEM;
    return 0;
  }

  /** mremap(2), in Linux 6.18's order (docs/semantics.md, "mremap"). */
  private mremap(oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number, result: number): number {
    const ps = this.pageSize;
    const mayMove = (flags & MREMAP_MAYMOVE) !== 0;
    const fixed = (flags & MREMAP_FIXED) !== 0;
    const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;
    if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0) return this.expectError(result, EINVAL, "EINVAL");
    if (oldAddress % ps !== 0) return this.expectError(result, EINVAL, "EINVAL");
    if (newLength === 0 || newLength > LIMIT_32 - ps) return this.expectError(result, EINVAL, "EINVAL");
    const oldPages = oldLength > LIMIT_32 - ps ? 0 : Math.ceil(oldLength / ps);
    const newPages = Math.ceil(newLength / ps);
    const from = oldAddress / ps;
    const end = from + oldPages;
    const to = newAddress / ps;
    if (fixed || dontUnmap) {
      if (fixed && newAddress % ps !== 0) return this.expectError(result, EINVAL, "EINVAL");
      if (!mayMove) return this.expectError(result, EINVAL, "EINVAL");
      if (dontUnmap && oldPages !== newPages) return this.expectError(result, EINVAL, "EINVAL");
      if (fixed && (newLength > LIMIT_32 - newAddress || (to < end && from < to + newPages))) return this.expectError(result, EINVAL, "EINVAL");
    }
    // The vma at the old address (vma_lookup).
    if (this.mapped(from) === undefined) return this.expectError(result, EFAULT, "EFAULT");
    if (oldPages === 0) return this.expectError(result, EINVAL, "EINVAL");

    if (!fixed && !dontUnmap && newPages <= oldPages) {
      if (newPages === oldPages) {
        this.expectResult(result, oldAddress, "the same size stays as it is");
        this.lastOutcome = "same";
        return 0;
      }
      // A shrink unmaps the old range's tail, whatever lies there (munmap's rules).
      const error = this.munmapError((from + newPages) * ps, (oldPages - newPages) * ps);
      if (error !== 0) return this.expectError(result, error, "EINVAL");
      this.expectResult(result, oldAddress, "shrinking stays in place");
      this.writeBack(from + newPages, end);
      this.unmap(from + newPages, end);
      this.lastOutcome = "shrunk";
      return 0;
    }

    if (fixed && newPages === oldPages && !this.oneVma(from, end)) {
      // Linux 6.17+: each mapping of the old range moves to the same offset from the new
      // address; the target pages opposite holes are left as they are.
      for (let p = from; p < end; p++) {
        const kind = this.kind(p);
        if (kind === "brk" || kind === "image" || kind === "foreign") return this.expectError(result, EFAULT, "EFAULT");
        if (dontUnmap && kind === "mapped" && (this.mapped(p) as MappedPage).flags !== (MAP_PRIVATE | MAP_ANONYMOUS)) return this.expectError(result, EINVAL, "EINVAL");
      }
      const error = this.targetError(to, to + newPages);
      if (error !== 0) return this.expectError(result, error, error === EPERM ? "EPERM" : "ENOMEM");
      this.expectResult(result, newAddress, "MREMAP_FIXED moves each mapping of the range");
      const growTo = to + newPages > this.memPages ? this.grow(to + newPages) : 0;
      for (let p = from; p < end; ) {
        if (this.mapped(p) === undefined) {
          p++;
          continue;
        }
        let partEnd = p + 1;
        while (partEnd < end && this.oneVma(p, partEnd + 1)) partEnd++;
        const target = to + (p - from);
        this.writeBack(target, target + (partEnd - p));
        for (let q = target; q < target + (partEnd - p); q++) this.owners.delete(q);
        this.move(p, partEnd - p, target, partEnd - p, dontUnmap);
        p = partEnd;
      }
      this.tags.add("several");
      this.lastOutcome = "moved-fixed";
      return growTo;
    }

    // The old range (after the shrink MREMAP_FIXED makes first) lies inside one vma.
    const kept = Math.min(oldPages, newPages);
    if (!this.oneVma(from, from + (fixed ? kept : oldPages))) return this.expectError(result, EFAULT, "EFAULT");
    if (dontUnmap && (this.mapped(from) as MappedPage).flags !== (MAP_PRIVATE | MAP_ANONYMOUS)) return this.expectError(result, EINVAL, "EINVAL");
    if (fixed) {
      const error = this.targetError(to, to + newPages);
      if (error !== 0) return this.expectError(result, error, error === EPERM ? "EPERM" : "ENOMEM");
      this.expectResult(result, newAddress, "MREMAP_FIXED moves to its address");
      const growTo = to + newPages > this.memPages ? this.grow(to + newPages) : 0;
      // Shrinks first (the pages left behind go as munmap takes them), then moves.
      this.writeBack(from + kept, end);
      this.unmap(from + kept, end);
      this.writeBack(to, to + newPages);
      if (this.any(to, to + newPages, ["mapped"])) this.tags.add("replacing");
      if (this.any(to, to + newPages, ["brk"])) this.tags.add("over-brk");
      for (let p = to; p < to + newPages; p++) this.owners.delete(p);
      this.move(from, kept, to, newPages, dontUnmap);
      this.lastOutcome = "moved-fixed";
      return growTo;
    }
    if (dontUnmap) {
      const [start, growTo] = this.place(newPages, result);
      if (start < 0) return 0;
      this.move(from, oldPages, start, newPages, true);
      this.lastOutcome = growTo > 0 ? "moved-grown" : "moved";
      return growTo;
    }
    if (this.isFree(end, from + newPages)) {
      this.expectResult(result, oldAddress, "the next pages are free within memory: grows in place");
      this.extend(from, oldPages, newPages);
      this.lastOutcome = "grown-in-place";
      return 0;
    }
    if (mayMove && this.freeRunFits(newPages)) {
      const [start] = this.place(newPages, result);
      this.move(from, oldPages, start, newPages, false);
      this.lastOutcome = "moved";
      return 0;
    }
    if (this.wildStart() === end && from + newPages <= this.limitPage) {
      // The mapping ends where the wilderness starts: memory grows under it, leaving no hole.
      if (!this.canGrowTo(from + newPages)) return this.expectError(result, ENOMEM, "ENOMEM");
      this.expectResult(result, oldAddress, "the mapping ends at the wilderness: grows in place with memory");
      const growTo = this.grow(from + newPages);
      this.extend(from, oldPages, newPages);
      this.lastOutcome = "grown-in-place-grown";
      return growTo;
    }
    if (!mayMove) return this.expectError(result, ENOMEM, "ENOMEM");
    const [start, growTo] = this.place(newPages, result);
    if (start < 0) return 0;
    this.move(from, oldPages, start, newPages, false);
    this.lastOutcome = "moved-grown";
    return growTo;
  }

  /** In-place growth: the added pages continue the mapping (zeros, or the file's next bytes). */
  private extend(from: number, oldPages: number, newPages: number): void {
    const last = this.mapped(from + oldPages - 1) as MappedPage;
    this.take(from + oldPages, from + newPages, { ...last, offset: last.offset + this.pageSize }, last.origin);
  }

  /**
   * Moves the vma range [from, from+oldPages) to [to, to+newPages) (pages there taken): bytes go
   * along as far as both reach, added pages read zeros or the file's next bytes. Private
   * anonymous memory that was never writable takes the pgoff of its new address and merges
   * there like a new vma (mm/vma.c copy_vma); anything else keeps its pgoff and anon_vma.
   * The old range is unmapped, or with MREMAP_DONTUNMAP stays mapped reading zeros, its vma
   * losing VM_ACCOUNT and VM_LOCKED (and its anon_vma when all of it moved: dontunmap_complete).
   */
  private move(from: number, oldPages: number, to: number, newPages: number, dontUnmap: boolean): void {
    const first = this.mapped(from) as MappedPage;
    const kept = Math.min(oldPages, newPages);
    let written: MappedPage | undefined;
    for (let p = from; p < from + oldPages && written === undefined; p++) if (((this.mapped(p) as MappedPage).vm & VM.WRITTEN) !== 0) written = this.mapped(p);
    const vm = first.vm | (written?.vm ?? 0) & VM.WRITTEN;
    const origin = written?.origin ?? first.origin;
    if (first.file !== null) this.tags.add("file");
    if (dontUnmap) this.tags.add("dontunmap");
    const bytes: (Uint8Array | null)[] = [];
    for (let i = 0; i < kept; i++) bytes.push(this.content.get(from + i) ?? null);
    const fresh = first.file === null && (first.flags & MAP_TYPE) !== MAP_SHARED && (vm & VM.WRITTEN) === 0;
    const moved: Omit<MappedPage, "origin"> = { prot: first.prot, flags: first.flags, file: first.file, vm, offset: fresh ? to * this.pageSize : first.offset };
    if (dontUnmap) {
      this.take(to, to + newPages, moved, fresh ? "new vma" : origin);
      const [vmaFrom, vmaTo] = this.vmaOf(from);
      const whole = vmaFrom === from && vmaTo === from + oldPages;
      for (let p = vmaFrom; p < vmaTo; p++) {
        const page = this.mapped(p) as MappedPage;
        this.owners.set(p, { ...page, vm: page.vm & ~(VM.ACCOUNT | VM.LOCKED | (whole ? VM.WRITTEN : 0)) });
      }
      for (let p = from; p < from + oldPages; p++) this.setContent(p, zeroPage(this.pageSize), true);
    } else {
      for (let p = from; p < from + oldPages; p++) this.owners.delete(p);
      this.take(to, to + newPages, moved, fresh ? "new vma" : origin);
      for (let p = from; p < from + oldPages; p++) this.owners.set(p, first);
      this.unmap(from, from + oldPages);
    }
    for (let i = 0; i < kept; i++) this.setContent(to + i, bytes[i], true);
  }

  /** madvise(2), walked as Linux 6.18 walks it (docs/semantics.md, "madvise"). */
  private madvise(address: number, length: number, advice: number, result: number): number {
    const ps = this.pageSize;
    if (!KNOWN_ADVICE.has(advice)) return this.expectError(result, EINVAL, "EINVAL");
    if (address % ps !== 0) return this.expectError(result, EINVAL, "EINVAL");
    if (length > LIMIT_32 - ps) return this.expectError(result, EINVAL, "EINVAL");
    const pages = Math.ceil(length / ps);
    if (address + pages * ps > LIMIT_32) return this.expectError(result, EINVAL, "EINVAL");
    if (pages === 0) return this.expectSuccess(result, "nothing");
    if (advice === MADV.HWPOISON || advice === MADV.SOFT_OFFLINE) return this.expectError(result, EPERM, "EPERM");
    const from = address / ps;
    const to = from + pages;
    const populate = advice === MADV.POPULATE_READ || advice === MADV.POPULATE_WRITE;
    let hole = false;
    const stop = (errno: number, name: string): number => {
      if (this.touched.size === 0 && !this.changedFlags) return this.expectError(result, errno, name);
      this.expectPartial(result, errno, name);
      return 0;
    };
    this.changedFlags = false;
    for (let p = from; p < to; ) {
      const kind = this.kind(p);
      if (kind === "free" || kind === "absent") {
        if (populate) return stop(ENOMEM, "ENOMEM");
        hole = true;
        p++;
        continue;
      }
      if (kind !== "mapped") {
        // The image, brk or foreign pages, up to the next mapping or hole: brk pages are
        // private anonymous memory; the image and foreign pages take hints only.
        let next = p + 1;
        while (next < to && ["image", "brk", "foreign"].includes(this.kind(next))) next++;
        if (advice === MADV.COLLAPSE) return stop(EINVAL, "EINVAL");
        if (CLEARING.has(advice)) {
          if (p < this.regionStart || this.any(p, next, ["foreign"]) || advice === MADV.REMOVE) return stop(EINVAL, "EINVAL");
          if (advice !== MADV.FREE) for (let q = p; q < next; q++) this.setContent(q, zeroPage(ps), true);
        }
        p = next;
        continue;
      }
      const error = this.adviseMapped(p, advice);
      if (error !== 0) return stop(error, error === EINVAL ? "EINVAL" : "EPERM");
      p++;
    }
    if (hole) {
      // A hole does not stop the walk: what is mapped took the advice, and the call says ENOMEM.
      if (this.touched.size === 0 && !this.changedFlags) return this.expectError(result, ENOMEM, "ENOMEM");
      this.expectPartial(result, ENOMEM, "ENOMEM");
      return 0;
    }
    this.expectSuccess(result, advice === MADV.DONTNEED ? "dontneed" : advice === MADV.FREE ? "freed-kept" : "advised");
    return 0;
  }

  private changedFlags = false;

  /** One mapped page takes `advice`: 0, or the errno that stops the walk. */
  private adviseMapped(p: number, advice: number): number {
    const page = this.mapped(p) as MappedPage;
    const shared = (page.flags & MAP_TYPE) === MAP_SHARED || (page.flags & MAP_TYPE) === MAP_SHARED_VALIDATE;
    const anonymous = page.file === null;
    const locked = (page.vm & VM.LOCKED) !== 0;
    const change = FLAG_ADVICE.get(advice);
    if (change !== undefined) {
      let [set, clear] = change;
      if (advice === MADV.WIPEONFORK && (shared || !anonymous)) return EINVAL;
      if (advice === MADV.MERGEABLE && shared) set = 0; // ignored on shared memory (ksm_madvise)
      const vm = (page.vm & ~clear) | set;
      if (vm !== page.vm) {
        this.owners.set(p, { ...page, vm });
        this.changedFlags = true;
      }
      return 0;
    }
    switch (advice) {
      case MADV.COLLAPSE:
        return EINVAL; // no huge pages to collapse into
      case MADV.COLD:
      case MADV.PAGEOUT:
        return locked ? EINVAL : 0;
      case MADV.POPULATE_READ:
        return (page.prot & PROT_READ) === 0 ? EINVAL : 0;
      case MADV.POPULATE_WRITE:
        return (page.prot & PROT_WRITE) === 0 ? EINVAL : 0;
      case MADV.WILLNEED:
      case MADV.GUARD_REMOVE:
        return 0;
      case MADV.FREE:
        // Private anonymous memory only; the bytes stay (docs/semantics.md).
        return shared || !anonymous || locked ? EINVAL : 0;
      case MADV.REMOVE:
        if (locked || !shared || !anonymous) return EINVAL;
        this.setContent(p, zeroPage(this.pageSize), true);
        return 0;
      case MADV.GUARD_INSTALL:
        if (locked) return EINVAL;
        this.setContent(p, zeroPage(this.pageSize), true);
        return 0;
      default:
        // DONTNEED, DONTNEED_LOCKED: private pages read zeros (a private file mapping its file
        // again); shared mappings keep their bytes, as the page cache keeps them on Linux.
        if (locked && advice === MADV.DONTNEED) return EINVAL;
        if (!shared) this.setContent(p, this.freshBytes(page), true);
        return 0;
    }
  }

  private expectSuccess(result: number, outcome: string): 0 {
    this.expectResult(result, 0, outcome);
    this.lastOutcome = outcome;
    return 0;
  }

  /** mprotect(2) as Linux 6.18 does it (docs/semantics.md, "mprotect"). */
  private mprotect(address: number, length: number, prot: number, result: number): number {
    const ps = this.pageSize;
    const growsDown = (prot & PROT_GROWSDOWN) !== 0;
    const growsUp = (prot & PROT_GROWSUP) !== 0;
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
    if (growsDown && growsUp) return this.expectError(result, EINVAL, "EINVAL");
    if (address % ps !== 0) return this.expectError(result, EINVAL, "EINVAL");
    if (length === 0) return this.expectSuccess(result, "nothing");
    if (length > LIMIT_32 - ps || address + Math.ceil(length / ps) * ps > LIMIT_32) return this.expectError(result, ENOMEM, "ENOMEM");
    if ((prot & ~(PROT_ALL | PROT_SEM)) !== 0) return this.expectError(result, EINVAL, "EINVAL");
    let from = address / ps;
    const to = from + Math.ceil(length / ps);
    const inUse = (p: number): boolean => !["free", "absent"].includes(this.kind(p));
    if (!growsDown && !inUse(from)) return this.expectError(result, ENOMEM, "ENOMEM");
    if (growsUp) return this.expectError(result, EINVAL, "EINVAL"); // nothing grows up here
    if (growsDown) {
      let first = from;
      while (first < to && this.mapped(first) === undefined) first++;
      if (first === to) return this.expectError(result, ENOMEM, "ENOMEM");
      if (((this.mapped(first) as MappedPage).vm & VM.GROWSDOWN) === 0) return this.expectError(result, EINVAL, "EINVAL");
      from = this.vmaOf(first)[0];
    }
    // Mapping after mapping, until the end, a hole (ENOMEM) or a shared mapping of a file not
    // open for writing asked for PROT_WRITE (EACCES); what came before is changed.
    let stop = to;
    let error = 0;
    for (let p = from; p < to; p++) {
      if (!inUse(p)) {
        [stop, error] = [p, ENOMEM];
        break;
      }
      const page = this.mapped(p);
      if ((prot & PROT_WRITE) !== 0 && page?.file != null && (page.flags & MAP_TYPE) !== MAP_PRIVATE && !page.file.writable) {
        [stop, error] = [p, EACCES];
        break;
      }
    }
    const name = error === ENOMEM ? "ENOMEM" : "EACCES";
    if (error !== 0 && !this.allUnmapped(from, stop)) this.expectPartial(result, error, name);
    else if (error !== 0) return this.expectError(result, error, name);
    else this.expectResult(result, 0, "mprotect");
    for (let p = from; p < stop; p++) {
      const page = this.mapped(p);
      if (page === undefined) continue;
      let vm = page.vm;
      // Made writable: private memory is charged (VM_ACCOUNT) and may get an anon_vma.
      if ((prot & PROT_WRITE) !== 0) vm |= VM.WRITTEN | ((page.flags & MAP_TYPE) === MAP_PRIVATE && (vm & VM.NORESERVE) === 0 ? VM.ACCOUNT : 0);
      this.owners.set(p, { ...page, prot: prot & PROT_ALL, vm });
    }
    if (error === 0) this.lastOutcome = "protected";
    return 0;
  }

  private allUnmapped(from: number, to: number): boolean {
    for (let p = from; p < to; p++) if (this.mapped(p) !== undefined) return false;
    return true;
  }

  /** msync(2), walked as Linux 6.18 walks it (docs/semantics.md, "msync"). */
  private msync(address: number, length: number, flags: number, result: number): number {
    const ps = this.pageSize;
    if ((flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) !== 0) return this.expectError(result, EINVAL, "EINVAL");
    if (address % ps !== 0) return this.expectError(result, EINVAL, "EINVAL");
    if ((flags & MS_ASYNC) !== 0 && (flags & MS_SYNC) !== 0) return this.expectError(result, EINVAL, "EINVAL");
    const pages = length > LIMIT_32 - ps ? 0 : Math.ceil(length / ps);
    if (address + pages * ps > LIMIT_32) return this.expectError(result, ENOMEM, "ENOMEM");
    if (pages === 0) return this.expectSuccess(result, "nothing");
    const from = address / ps;
    const to = from + pages;
    let error = 0;
    let stopped = to;
    for (let p = from; p < to; p++) {
      const kind = this.kind(p);
      if (kind === "free" || kind === "absent") {
        // A hole: ENOMEM at once under MS_SYNC, at the end otherwise.
        error = ENOMEM;
        if (flags === MS_SYNC) {
          stopped = p;
          break;
        }
        continue;
      }
      const page = this.mapped(p);
      if (page !== undefined && (flags & MS_INVALIDATE) !== 0 && (page.vm & VM.LOCKED) !== 0) {
        [error, stopped] = [EBUSY, p];
        break;
      }
    }
    this.writeBack(from, stopped);
    if (error !== 0) {
      this.expectResult(result, -error, error === EBUSY ? "EBUSY" : "ENOMEM");
      this.lastOutcome = error === EBUSY ? "EBUSY" : "ENOMEM";
      return 0;
    }
    this.expectResult(result, 0, "msync");
    this.lastOutcome = "synced";
    return 0;
  }

  /**
   * brk(2), raw: the new break, or the old one unchanged. It grows only into free pages right
   * above the break, or, when those reach the end of memory, into memory grown for it.
   * Shrinking unmaps every mapping in the pages it gives back (shared file pages written back).
   */
  private brk(address: number, result: number): number {
    const old = this.breakAddress;
    if (address === 0 || address < this.heapBase) {
      this.expectResult(result, old, "brk asks for the break");
      this.lastOutcome = "asked";
      return 0;
    }
    const refuse = (): 0 => {
      this.expectResult(result, old, "brk is refused: the old break");
      this.lastOutcome = "refused";
      this.lastFailed = true;
      return 0;
    };
    if (address > this.limitPage * this.pageSize) return refuse();
    const oldEnd = this.brkEnd;
    const newEnd = Math.max(this.regionStart, Math.ceil(address / this.pageSize));
    if (newEnd <= oldEnd) {
      this.expectResult(result, address, "brk shrinks (or stays in its pages)");
      this.writeBack(newEnd, oldEnd);
      this.breakAddress = address;
      if (this.any(newEnd, oldEnd, ["mapped"])) this.tags.add("unmapping");
      this.unmap(newEnd, oldEnd);
      for (let p = newEnd; p < oldEnd; p++) {
        this.content.delete(p);
        this.touched.add(p);
      }
      this.lastOutcome = "moved";
      return 0;
    }
    let growTo = 0;
    if (!this.isFree(oldEnd, newEnd) || newEnd > this.memPages) {
      if (!this.isFree(oldEnd, this.memPages) || newEnd > this.limitPage || !this.canGrowTo(newEnd)) return refuse();
      this.expectResult(result, address, "brk grows with memory");
      growTo = this.grow(newEnd);
    } else {
      this.expectResult(result, address, "brk grows into free pages");
    }
    this.breakAddress = address;
    for (let p = oldEnd; p < newEnd; p++) this.setContent(p, zeroPage(this.pageSize), true);
    this.lastOutcome = "moved";
    return growTo;
  }
}

/** The first index where two equally long byte arrays differ, or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}
