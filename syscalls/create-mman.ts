/**
 * createMman(): the public entry point. Builds the engine, the calls and the `mman` import
 * module, and attaches to a guest's memory once the instance exists.
 */
import { AddressSpace, type MappingInfo } from "../runtime/address-space.js";
import { countSet } from "../runtime/bitmap.js";
import { growthPolicy, type GrowthOption } from "../runtime/growth.js";
import { WASM_PAGE_SIZE } from "../runtime/linux.js";
import { WasmLinearMemory, type LinearMemory } from "../runtime/memory.js";
import { DEFAULT_PAGE_SIZE, pageGeometry } from "../runtime/page-size.js";
import { mmanImports, MMAN_MODULE, type MmanImports } from "./abi-mman.js";
import { MemoryCalls, type CallName, type TraceHook } from "./calls.js";
import type { FileResolver, SyscallContext } from "./context.js";

export interface MmanOptions {
  /** libc page size in bytes: a power of two from 4096 to 65536. Default 4096. */
  pageSize?: number;
  /** Never grow linear memory past this many bytes (besides the memory's own maximum). */
  maxMemoryBytes?: number;
  /** How memory grows: "geometric" (default: chunks of 1/4 of memory, 64 KiB..8 MiB) or "exact". */
  growth?: GrowthOption;
  /** Called after every call with its record (see TraceRecord). */
  trace?: TraceHook;
  /** Resolves guest file descriptors for file-backed mmap; without it such mmaps fail with ENODEV. */
  files?: FileResolver;
  /** Where notices go (the heap-base fallback, host errors). Default: console.warn. */
  onWarning?: (message: string) => void;
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
  /** Bytes cleared because pages were reused. */
  clearedBytes: number;
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
  /** The engine (read-only use: pageKinds(), mappings(), counters). */
  readonly space: AddressSpace;
  /** The Linux-semantics calls, callable from JavaScript (results: address/0 or -errno). */
  readonly calls: MemoryCalls;
  attach(target: AttachTarget): AttachInfo;
  stats(): MmanStats;
  mappings(): MappingInfo[];
  /** Throws an Error naming the first broken invariant; `deep` also checks free pages read zero. */
  checkInvariants(deep?: boolean): void;
  setTrace(hook: TraceHook | null): void;
  setFileResolver(files: FileResolver | null): void;
}

function fail(message: string): never {
  throw new TypeError(`wasi-mman: ${message}`);
}

const OPTION_KEYS = new Set(["pageSize", "maxMemoryBytes", "growth", "trace", "files", "onWarning"]);

function isLinearMemory(value: unknown): value is LinearMemory {
  const memory = value as LinearMemory;
  return typeof memory?.byteLength === "function" && typeof memory.grow === "function" && typeof memory.bytes === "function";
}

export function createMman(options: MmanOptions = {}): Mman {
  if (typeof options !== "object" || options === null) fail("options must be an object");
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) fail(`unknown option "${key}" (known: ${[...OPTION_KEYS].join(", ")})`);
  }
  const geometry = pageGeometry(options.pageSize ?? DEFAULT_PAGE_SIZE);
  const maxMemoryBytes = options.maxMemoryBytes;
  if (maxMemoryBytes !== undefined && (!Number.isInteger(maxMemoryBytes) || maxMemoryBytes < WASM_PAGE_SIZE || maxMemoryBytes > 2 ** 32)) {
    throw new RangeError(`wasi-mman: maxMemoryBytes must be a whole number of bytes from 65536 to 4 GiB, got ${String(maxMemoryBytes)}`);
  }
  const growth = growthPolicy(options.growth);
  if (options.trace !== undefined && typeof options.trace !== "function") fail("trace must be a function");
  if (options.files !== undefined && typeof options.files?.resolve !== "function") fail("files must have a resolve(fd) method");
  if (options.onWarning !== undefined && typeof options.onWarning !== "function") fail("onWarning must be a function");
  const warn = options.onWarning ?? ((message: string) => console.warn(message));

  const space = new AddressSpace({ geometry, growth, maxMemoryBytes });
  const ctx: SyscallContext = { space, files: options.files ?? null };
  const calls = new MemoryCalls(ctx);
  calls.trace = options.trace ?? null;
  const imports = mmanImports(calls, (error, call) => {
    warn(`wasi-mman: internal error in ${call} (the guest got an error result): ${error instanceof Error ? error.stack : String(error)}`);
  });

  function attach(target: AttachTarget): AttachInfo {
    if (typeof target !== "object" || target === null) fail("attach() needs an instance or { memory, heapBase }");
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
    if (heapBase === undefined) {
      heapBase = linear.byteLength();
      warn(
        `wasi-mman: the module exports no __heap_base; the heap starts at the end of its memory (${heapBase} bytes). ` +
          "Link with -Wl,--export=__heap_base to give it the real one.",
      );
    }
    space.attach(linear, heapBase);
    return { heapBase, heapBaseSource: source };
  }

  function stats(): MmanStats {
    space.sync();
    const c = space.counters;
    const pageSize = space.pageSize;
    const mappedBytes = c.mappedPages * pageSize;
    const wastage = (mapped: number, requested: number): number => (mapped > 0 ? (mapped - requested) / mapped : 0);
    const { calls: callCounts, errors } = calls.tallies();
    return {
      pageSize,
      heapBase: space.heapBase,
      brk: space.breakAddress,
      brkBytes: space.breakAddress - space.heapBase,
      liveMappings: c.liveMappings,
      mappedBytes,
      requestedBytes: c.requestedBytes,
      wastageBytes: mappedBytes - c.requestedBytes,
      wastage: wastage(mappedBytes, c.requestedBytes),
      linearMemoryBytes: space.memoryBytes,
      growCalls: c.growCalls,
      growFailures: c.growFailures,
      foreignBytes: countSet(space.foreign, 0, space.ownedPages) * pageSize,
      clearedBytes: c.clearedBytes,
      writeBackFailures: c.writeBackFailures,
      bookkeepingBytes: space.bookkeepingBytes,
      bitmapBytes: space.bitmapBytes,
      peak: {
        mappedBytes: c.peakMappedBytes,
        requestedBytes: c.requestedAtPeakMapped,
        wastage: wastage(c.peakMappedBytes, c.requestedAtPeakMapped),
        brkBytes: c.peakBrkBytes,
        linearMemoryBytes: c.peakMemoryBytes,
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

  return {
    imports: { [MMAN_MODULE]: imports } as { mman: MmanImports & WebAssembly.ModuleImports },
    pageSize: geometry.size,
    space,
    calls,
    attach,
    stats,
    mappings: () => space.mappings(),
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
