/**
 * createMman(): the public entry point. Builds the engine, the calls and the `mman` import
 * module, and attaches to a guest's memory once the instance exists.
 */
import { AddressSpace } from "../runtime/address-space.js";
import { growthPolicy, type GrowthOption, type GrowthPolicy } from "../runtime/growth.js";
import { WASM_PAGE_SIZE } from "../runtime/linux.js";
import { WasmLinearMemory, type LinearMemory } from "../runtime/memory.js";
import { DEFAULT_PAGE_SIZE, pageGeometry } from "../runtime/page-size.js";
import { EngineLock } from "../runtime/lock.js";
import { isSharedBuffer, SharedRegion, type SharedBuffers } from "../runtime/shared-state.js";
import { mmanImports, MMAN_MODULE, type MmanImports } from "./abi-mman.js";
import { LockedMemoryCalls, MemoryCalls, type CallName, type TraceHook } from "./calls.js";
import type { FileResolver, SyscallContext } from "./context.js";
import type { MappableFile } from "./file-mappings.js";

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

/**
 * Memories some engine manages: a second engine on one of them would hand out the same pages,
 * so attach() refuses it. Weak: a memory that is gone is forgotten.
 */
const managedMemories = new WeakSet<object>();

export interface MmanOptions {
  /** libc page size in bytes: a power of two from 4096 to 65536. Default 4096. */
  pageSize?: number;
  /** Never grow linear memory past this many bytes (besides the memory's own maximum). */
  maxMemoryBytes?: number;
  /** How memory grows: "geometric" (default: at least 1/16 of memory a step, from 64 KiB) or "exact". */
  growth?: GrowthOption;
  /** Called after every call with its record (see TraceRecord). */
  trace?: TraceHook;
  /** Resolves guest file descriptors for file-backed mmap; without it such mmaps fail with ENODEV. */
  files?: FileResolver;
  /** Where notices go (the heap-base fallback, host errors). Default: console.warn. */
  onWarning?: (message: string) => void;
  /** Check every invariant after every call (slow; for tests and debugging). Default false. */
  debug?: boolean;
  /**
   * Join the address space another thread shares (its `mman.share()`): this engine is then
   * attached to the handle's memory already, and pageSize, maxMemoryBytes and growth come from
   * the handle (docs/threads.md).
   */
  shared?: SharedMmanHandle;
}

/**
 * What `mman.share()` gives another thread (post it to a worker): the shared memory and the
 * engine's state, all structured-cloneable. Plain data: nothing in it is a live object of the
 * thread that made it.
 */
export interface SharedMmanHandle {
  readonly kind: "wasi-mman-shared";
  readonly version: 1;
  readonly memory: WebAssembly.Memory;
  readonly pageSize: number;
  readonly maxMemoryBytes: number | undefined;
  readonly growth: GrowthPolicy;
  readonly buffers: SharedBuffers;
}

/** What attach() accepts: an instance (its exports), or a memory with an optional heap base. */
export type AttachTarget =
  | WebAssembly.Instance
  | { exports: WebAssembly.Exports }
  | { memory: WebAssembly.Memory | LinearMemory; heapBase?: number };

export interface AttachInfo {
  heapBase: number;
  /** Where the heap base came from: the `__heap_base` export, the caller, or the memory's size. */
  heapBaseSource: "export" | "option" | "memory-size";
}

export interface MmanStats {
  pageSize: number;
  heapBase: number;
  /** The current program break. */
  brk: number;
  /** Bytes between the heap base and the break. */
  brkBytes: number;
  liveMappings: number;
  /** Bytes in mappings (whole pages). */
  mappedBytes: number;
  /** Bytes the guest asked for in those mappings. */
  requestedBytes: number;
  wastageBytes: number;
  /** (mapped - requested) / mapped, 0 when nothing is mapped. */
  wastage: number;
  linearMemoryBytes: number;
  growCalls: number;
  growFailures: number;
  /** Bytes the guest (or its WASI host) grew itself. */
  foreignBytes: number;
  /** Bytes written to make reused pages read as zeros (bytes already zero are not written). */
  clearedBytes: number;
  /** Bytes of reused pages looked at before clearing. */
  checkedBytes: number;
  /** brk calls that asked for more memory and were refused (musl then falls back to mmap). */
  brkRefusals: number;
  /** Write-backs of shared file mappings that the file refused (its write threw). */
  writeBackFailures: number;
  /** JavaScript memory the page bookkeeping uses. */
  bookkeepingBytes: number;
  /** The page bitmaps alone. */
  bitmapBytes: number;
  peak: {
    mappedBytes: number;
    /** Requested bytes at the moment mapped bytes peaked. */
    requestedBytes: number;
    /** Wastage at the moment mapped bytes peaked. */
    wastage: number;
    brkBytes: number;
    linearMemoryBytes: number;
    liveMappings: number;
  };
  /** Over every mapping ever made (mmap, and mremap growth). */
  cumulative: { mappedBytes: number; requestedBytes: number; wastage: number };
  calls: Record<CallName, number>;
  errors: Record<CallName, number>;
}

export interface Mman {
  /** The import-object fragment to spread into WebAssembly.instantiate: `{ mman: {...} }`. */
  readonly imports: { mman: MmanImports & WebAssembly.ModuleImports };
  readonly pageSize: number;
  /** The engine (read-only use: space.view.pageKinds(), space.counters). */
  readonly space: AddressSpace;
  /** The Linux-semantics calls, callable from JavaScript (results: address/0 or -errno). */
  readonly calls: MemoryCalls;
  /** An instance (its exports), a bare memory, or { memory, heapBase }. */
  attach(target: AttachTarget | WebAssembly.Memory): AttachInfo;
  stats(): MmanStats;
  mappings(): MappingInfo[];
  /** Throws an Error naming the first broken invariant; `deep` also checks free pages read zero. */
  checkInvariants(deep?: boolean): void;
  setTrace(hook: TraceHook | null): void;
  setFileResolver(files: FileResolver | null): void;
  /**
   * The handle another thread passes to `createMman({ shared })` to work on this address space.
   * Needs a shared memory (attached; an engine attached to one shares its state from the start).
   */
  share(): SharedMmanHandle;
  /** True when this engine's state is shared with other threads. */
  readonly shared: boolean;
}

function fail(message: string): never {
  throw new TypeError(`wasi-mman: ${message}`);
}

const OPTION_KEYS = new Set(["pageSize", "maxMemoryBytes", "growth", "trace", "files", "onWarning", "debug", "shared"]);

function isLinearMemory(value: unknown): value is LinearMemory {
  const memory = value as LinearMemory;
  return typeof memory?.byteLength === "function" && typeof memory.grow === "function" && typeof memory.bytes === "function";
}

export function createMman(options: MmanOptions = {}): Mman {
  if (typeof options !== "object" || options === null) fail("options must be an object");
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) fail(`unknown option "${key}" (known: ${[...OPTION_KEYS].join(", ")})`);
  }
  const handle = options.shared;
  if (handle !== undefined) {
    if (typeof handle !== "object" || handle === null || handle.kind !== "wasi-mman-shared") fail("shared must be a handle from mman.share()");
    if (handle.version !== 1) fail(`shared: handle version ${String(handle.version)} is not this version's (1)`);
    for (const key of ["pageSize", "maxMemoryBytes", "growth"] as const) {
      if (options[key] !== undefined) fail(`${key} comes from the shared handle; leave it out with shared`);
    }
    if (!(handle.memory instanceof WebAssembly.Memory) || !isSharedBuffer(handle.memory.buffer)) fail("shared: the handle's memory is not a shared WebAssembly.Memory");
  }
  const geometry = pageGeometry(handle?.pageSize ?? options.pageSize ?? DEFAULT_PAGE_SIZE);
  const maxMemoryBytes = handle !== undefined ? handle.maxMemoryBytes : options.maxMemoryBytes;
  if (maxMemoryBytes !== undefined && (!Number.isInteger(maxMemoryBytes) || maxMemoryBytes < WASM_PAGE_SIZE || maxMemoryBytes > 2 ** 32)) {
    throw new RangeError(`wasi-mman: maxMemoryBytes must be a whole number of bytes from 65536 to 4 GiB, got ${String(maxMemoryBytes)}`);
  }
  const growth = handle?.growth ?? growthPolicy(options.growth);
  if (options.trace !== undefined && typeof options.trace !== "function") fail("trace must be a function");
  if (options.files !== undefined && typeof options.files?.resolve !== "function") fail("files must have a resolve(fd) method");
  if (options.onWarning !== undefined && typeof options.onWarning !== "function") fail("onWarning must be a function");
  if (options.debug !== undefined && typeof options.debug !== "boolean") fail("debug must be true or false");
  const warn = options.onWarning ?? ((message: string) => console.warn(message));

  const space = new AddressSpace({ geometry, growth, maxMemoryBytes });
  const ctx: SyscallContext = { space, files: options.files ?? null };
  // A shared engine's calls take the lock; which class is decided at attach (shared memory or not).
  let region: SharedRegion | null = null;
  let calls: MemoryCalls = new MemoryCalls(ctx);
  const makeShared = (made: SharedRegion): void => {
    region = made;
    const { cell, index } = made.lockCell();
    const locked = new LockedMemoryCalls(ctx, new EngineLock(cell, index));
    locked.share(made);
    locked.trace = calls.trace;
    locked.afterCall = calls.afterCall;
    calls = locked;
  };

  calls.trace = options.trace ?? null;
  if (options.debug === true) calls.afterCall = () => space.checkInvariants();
  if (handle !== undefined) {
    if (managedMemories.has(handle.memory)) fail("another wasi-mman instance of this thread already works on this shared memory");
    const joined = SharedRegion.join(handle.buffers);
    makeShared(joined);
    space.join(new WasmLinearMemory(handle.memory), joined);
    managedMemories.add(handle.memory);
  }
  // The imports call through `calls` as it is when attach() has decided (shared or not).
  const callsProxy = {
    get ctx() { return calls.ctx; },
    brk: (a: number) => calls.brk(a),
    mmap: (a: number, b: number, c: number, d: number, e: number, f: number) => calls.mmap(a, b, c, d, e, f),
    munmap: (a: number, b: number) => calls.munmap(a, b),
    mremap: (a: number, b: number, c: number, d: number, e: number) => calls.mremap(a, b, c, d, e),
    madvise: (a: number, b: number, c: number) => calls.madvise(a, b, c),
    mprotect: (a: number, b: number, c: number) => calls.mprotect(a, b, c),
    msync: (a: number, b: number, c: number) => calls.msync(a, b, c),
    pagesize: () => calls.pagesize(),
  } as unknown as MemoryCalls;
  const imports = mmanImports(callsProxy, (error, call) => {
    warn(`wasi-mman: internal error in ${call} (the guest got an error result): ${error instanceof Error ? error.stack : String(error)}`);
  });

  function attach(target: AttachTarget | WebAssembly.Memory): AttachInfo {
    if (target instanceof WebAssembly.Memory) target = { memory: target };
    if (typeof target !== "object" || target === null) fail("attach() needs an instance, a memory or { memory, heapBase }");
    let memory: unknown;
    let heapBase: number | undefined;
    let source: AttachInfo["heapBaseSource"] = "memory-size";
    if ("exports" in target) {
      const exports = target.exports as Record<string, unknown>;
      memory = exports.memory;
      if (!(memory instanceof WebAssembly.Memory)) {
        fail("the instance exports no memory named \"memory\"; for an imported memory use attach({ memory, heapBase })");
      }
      const base = exports.__heap_base;
      if (base instanceof WebAssembly.Global) {
        heapBase = Number(base.value) >>> 0;
        source = "export";
      } else if (typeof base === "number") {
        heapBase = base >>> 0;
        source = "export";
      }
    } else {
      memory = target.memory;
      if (target.heapBase !== undefined) {
        if (!Number.isInteger(target.heapBase) || target.heapBase < 0) fail(`heapBase must be a non-negative integer, got ${String(target.heapBase)}`);
        heapBase = target.heapBase;
        source = "option";
      }
    }
    const linear = memory instanceof WebAssembly.Memory ? new WasmLinearMemory(memory) : isLinearMemory(memory) ? memory : null;
    if (linear === null) fail("attach() needs a WebAssembly.Memory");
    if (space.attached) fail("this instance is already attached to a memory; make one createMman() per memory");
    if (managedMemories.has(memory as object)) {
      fail("another wasi-mman instance already manages this memory; two engines on one memory would hand out the same pages");
    }
    if (heapBase === undefined) {
      heapBase = linear.byteLength();
      warn(
        `wasi-mman: the module exports no __heap_base; the heap starts at the end of its memory (${heapBase} bytes). ` +
          "Link with -Wl,--export=__heap_base to give it the real one.",
      );
    }
    // A shared memory means threads: the state goes into shared buffers before the first page is counted.
    if (memory instanceof WebAssembly.Memory && isSharedBuffer(memory.buffer)) makeShared(SharedRegion.create());
    space.attach(linear, heapBase, region ?? undefined);
    managedMemories.add(memory as object);
    return { heapBase, heapBaseSource: source };
  }

  /** O(1) and without side effects: reading statistics never changes where the next mapping lands. */
  function stats(): MmanStats {
    const c = space.counters;
    const pageSize = space.pageSize;
    const mappedBytes = c.mappedPages * pageSize;
    const wastage = (mapped: number, requested: number): number => (mapped > 0 ? (mapped - requested) / mapped : 0);
    const { calls: callCounts, errors } = calls.tallies();
    // Growth by the guest since the last call is foreign; it is adopted at the next call.
    const memoryBytes = space.memory === null ? 0 : space.memory.byteLength();
    const unadopted = Math.max(0, memoryBytes - space.memoryBytes);
    const area = space.brk;
    return {
      pageSize,
      heapBase: area.heapBase,
      brk: area.breakAddress,
      brkBytes: area.brkBytes,
      liveMappings: c.liveMappings,
      mappedBytes,
      requestedBytes: c.requestedBytes,
      wastageBytes: mappedBytes - c.requestedBytes,
      wastage: wastage(mappedBytes, c.requestedBytes),
      linearMemoryBytes: memoryBytes,
      growCalls: c.growCalls,
      growFailures: c.growFailures,
      foreignBytes: c.foreignPages * pageSize + unadopted,
      clearedBytes: c.clearedBytes,
      checkedBytes: c.checkedBytes,
      brkRefusals: c.brkRefusals,
      writeBackFailures: c.writeBackFailures,
      bookkeepingBytes: space.view.bookkeepingBytes,
      bitmapBytes: space.view.bitmapBytes,
      peak: {
        mappedBytes: c.peakMappedBytes,
        requestedBytes: c.requestedAtPeakMapped,
        wastage: wastage(c.peakMappedBytes, c.requestedAtPeakMapped),
        brkBytes: c.peakBrkBytes,
        linearMemoryBytes: Math.max(c.peakMemoryBytes, memoryBytes),
        liveMappings: c.peakLiveMappings,
      },
      cumulative: {
        mappedBytes: c.cumulativeMappedBytes,
        requestedBytes: c.cumulativeRequestedBytes,
        wastage: wastage(c.cumulativeMappedBytes, c.cumulativeRequestedBytes),
      },
      calls: callCounts,
      errors,
    };
  }

  function mappings(): MappingInfo[] {
    const pageSize = space.pageSize;
    return space.view.records().map((r) => ({
      address: r.start * pageSize,
      length: r.pages * pageSize,
      prot: r.prot,
      flags: r.flags,
      requestedBytes: r.requestedBytes,
      file: r.file as MappableFile | null,
      fileOffset: r.fileOffset,
    }));
  }

  return {
    imports: { [MMAN_MODULE]: imports } as { mman: MmanImports & WebAssembly.ModuleImports },
    pageSize: geometry.size,
    space,
    get calls() {
      return calls;
    },
    get shared() {
      return region !== null;
    },
    share(): SharedMmanHandle {
      const memory = space.memory;
      if (region === null || !(memory instanceof WasmLinearMemory)) {
        fail(space.attached ? "share() needs a shared memory (new WebAssembly.Memory({ initial, maximum, shared: true }))" : "share() needs attach() first");
      }
      return { kind: "wasi-mman-shared", version: 1, memory: memory.memory, pageSize: geometry.size, maxMemoryBytes, growth, buffers: (region as SharedRegion).buffers };
    },
    attach,
    stats,
    mappings,
    checkInvariants: (deep = false) => space.checkInvariants(deep),
    setTrace: (hook) => {
      if (hook !== null && typeof hook !== "function") fail("setTrace() needs a function or null");
      calls.trace = hook;
    },
    setFileResolver: (files) => {
      ctx.files = files;
    },
  };
}
