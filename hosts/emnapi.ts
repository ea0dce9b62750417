/**
 * The shared memory engine under @emnapi/wasi-threads with @tybys/wasm-util's WASI: the
 * wasi-threads runtime of napi-rs's wasm32-wasip1-threads builds. That runtime already spawns a
 * worker per thread; this file only adds the `mman` imports, backed by one engine for every
 * thread (docs/threads.md).
 *
 * Main thread (the one that instantiates first and calls `_start`):
 *
 *   const memory = new WebAssembly.Memory({ initial, maximum, shared: true });
 *   const mman = new EmnapiMman({ pageSize: 4096 });
 *   const wasiThreads = new WASIThreads({ wasi, onCreateWorker, beforeLoad: mman.beforeLoad, ... });
 *   const { module, instance } = await WebAssembly.instantiate(bytes, {
 *     env: { memory }, wasi_snapshot_preview1: wasi.wasiImport, ...wasiThreads.getImportObject(), ...mman.imports,
 *   });
 *   mman.attach(instance, memory);          // before wasiThreads.setup: workers load after it
 *   wasiThreads.setup(instance, module, memory);
 *
 * Each worker (beside its ThreadMessageHandler):
 *
 *   const thread = new EmnapiMmanThread();
 *   const handler = new ThreadMessageHandler({ async onLoad({ wasmModule, wasmMemory }) {
 *     ... WebAssembly.instantiate(wasmModule, { ..., ...thread.imports }) ...
 *   } });
 *   globalThis.onmessage = (e) => { if (!thread.receive(e.data)) handler.handle(e); };
 *
 *   main thread                                   worker
 *   ───────────                                   ──────
 *   createMman, attach(shared memory)
 *   thread-spawn -> emnapi makes a worker
 *   beforeLoad(worker): post share() ─────────>   receive(): createMman({ shared })
 *   emnapi posts "load" ──────────────────────>   onLoad: instantiate with thread.imports
 *
 * Why beforeLoad: emnapi's "load" message carries only the module, the memory and its own
 * words, and the worker instantiates as soon as it arrives, so the engine's handle has to reach
 * the worker before it. emnapi calls `beforeLoad(worker)` right before it posts "load" on the
 * same port (its ThreadManager.loadWasmModuleToWorker), and messages on one port arrive in
 * order. That works for Node worker_threads and Web Workers alike (workerData exists only in
 * Node). A worker is loaded once, also when emnapi reuses it for another thread, so one engine
 * per worker is right. Tested in Node with a worker per spawn and with emnapi's preloaded pool
 * (test/emnapi.test.ts), and in Chromium with module Web Workers (test/emnapi-browser.test.ts).
 *
 * What this does not change:
 * - thread-spawn is emnapi's. With the standard one-argument `thread-spawn(start_arg)` it calls
 *   the module's exported `malloc(8)` and `free` for its result words, so the module must
 *   export them (wasm-ld: -Wl,--export=malloc -Wl,--export=free). A spawn in a worker posts to
 *   the main thread and waits for the answer, which the main thread gives from its event loop.
 * - proc_exit and traps end the threads as emnapi does: from the main thread's event loop too.
 *   While the main thread is blocked in memory.atomic.wait (pthread_join), neither happens; a
 *   proc_exit(7) in a thread with `_start` waiting did not end the process within 8 s here.
 *   runThreaded (hosts/threads.ts) runs `_start` in a worker to avoid exactly that.
 * - File mappings: @tybys/wasm-util keeps its descriptors out of reach, so file-backed mmap
 *   fails with ENODEV unless `files` is given (per thread; docs/threads.md, "Files").
 * - Node 20's V8 loses wasm locals live across memory.atomic.wait in its baseline tier, whoever
 *   the host is. runThreaded turns that tier off; under emnapi, call avoidLiftoffWaitBug() from
 *   "wasi-mman/threads" (or run node with --no-liftoff) before the module is compiled.
 */
import { isSharedBuffer } from "../runtime/shared-state.js";
import { createMman, type AttachInfo, type Mman, type MmanOptions, type SharedMmanHandle } from "../syscalls/create-mman.js";

/** The key of the one message this adapter posts to a worker: `{ [MMAN_HANDLE_KEY]: handle }`. */
export const MMAN_HANDLE_KEY = "__wasi_mman__";

/** What beforeLoad needs of a worker: Node's Worker and a Web Worker both have it. */
export interface MessageTarget {
  postMessage(message: unknown): void;
}

export interface EmnapiMmanOptions extends MmanOptions {
  /** Another beforeLoad of yours, called after the handle is posted. */
  beforeLoad?: (worker: MessageTarget) => unknown;
}

function fail(message: string): never {
  throw new TypeError(`wasi-mman emnapi: ${message}`);
}

/** The main thread's side: the engine every thread shares, attached to the shared memory. */
export class EmnapiMman {
  readonly mman: Mman;
  private readonly chained: EmnapiMmanOptions["beforeLoad"];

  constructor(options: EmnapiMmanOptions = {}) {
    const { beforeLoad, ...mmanOptions } = options;
    if (mmanOptions.shared !== undefined) fail("the main thread makes the engine; workers join it with EmnapiMmanThread");
    this.chained = beforeLoad;
    this.mman = createMman(mmanOptions);
  }

  /** The `mman` import module for the main thread's instance. */
  get imports(): Mman["imports"] {
    return this.mman.imports;
  }

  /**
   * Attaches the engine to the shared memory, with the module's exported `__heap_base` (the
   * memory's size otherwise, with a notice). Call it after instantiating and before
   * `wasiThreads.setup()`, so that every worker that loads gets the handle.
   */
  attach(instance: WebAssembly.Instance, memory: WebAssembly.Memory): AttachInfo {
    // Said here, before anything is attached, rather than in a worker's load.
    if (!isSharedBuffer(memory.buffer)) {
      fail("the memory is not shared: wasi-threads needs new WebAssembly.Memory({ initial, maximum, shared: true })");
    }
    const base = instance.exports.__heap_base;
    const heapBase = base instanceof WebAssembly.Global && typeof base.value === "number" ? base.value >>> 0 : undefined;
    return this.mman.attach(heapBase === undefined ? { memory } : { memory, heapBase });
  }

  /** WASIThreads' `beforeLoad` option: posts the engine's handle to the worker ahead of "load". */
  readonly beforeLoad = (worker: MessageTarget): unknown => {
    if (!this.mman.shared) fail("a worker is loading before attach(): call mman.attach(instance, memory) before wasiThreads.setup()");
    const handle: SharedMmanHandle = this.mman.share();
    worker.postMessage({ [MMAN_HANDLE_KEY]: handle });
    return this.chained?.(worker);
  };
}

/** Options of a worker's engine: what is per thread (the rest comes from the handle). */
export type EmnapiMmanThreadOptions = Pick<MmanOptions, "files" | "trace" | "onWarning" | "debug">;

/** A worker's side: joins the main thread's engine when its handle arrives. */
export class EmnapiMmanThread {
  private engine: Mman | null = null;

  constructor(private readonly options: EmnapiMmanThreadOptions = {}) {}

  /**
   * Give it every message first: true for the engine's handle (then joined; do not pass the
   * message on), false for any other message (pass it to ThreadMessageHandler).
   */
  receive(data: unknown): boolean {
    if (typeof data !== "object" || data === null || !(MMAN_HANDLE_KEY in data)) return false;
    if (this.engine !== null) fail("this worker has joined the engine already (one handle per worker)");
    this.engine = createMman({ ...this.options, shared: (data as Record<string, SharedMmanHandle>)[MMAN_HANDLE_KEY] });
    return true;
  }

  /** This thread's engine; throws when no handle arrived (beforeLoad was not passed to WASIThreads). */
  get mman(): Mman {
    if (this.engine === null) fail("no engine handle reached this worker before emnapi's load: pass beforeLoad: mman.beforeLoad to new WASIThreads() on the main thread");
    return this.engine;
  }

  /** The `mman` import module for this thread's instance. */
  get imports(): Mman["imports"] {
    return this.mman.imports;
  }
}
