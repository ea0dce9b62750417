/**
 * wasi-threads for node:wasi and browser_wasi_shim: `wasi.thread-spawn`, one worker per guest
 * thread, all over one shared memory and one shared memory engine.
 *
 *   const { exitCode } = await runThreaded(bytes, { host: "node-wasi", args: ["prog"] });
 *
 *   caller's thread (this file)           workers (hosts/thread-worker.ts)
 *   ───────────────────────────           ─────────────────────────────────
 *   compile, shared memory from the       main:  instantiate, _start
 *   import's limits, engine attached,     tid N: instantiate, wasi_thread_start(N, arg)
 *   share() ──── module, memory, ───────>  thread-spawn: tid = Atomics.add(next tid),
 *                engine handle            <── "spawn" tid arg ── post, return tid at once
 *   new Worker per "spawn"                 proc_exit / trap / _start returns:
 *   "exit" ─> terminate every worker <─── "exit" status (the first one wins)
 *
 * The program's `_start` runs in a worker too, so the caller's thread is never blocked by the
 * guest: it stays free to start the workers thread-spawn asks for (which is what lets a guest
 * block in memory.atomic.wait, as pthread_join does, while its threads start) and to end the
 * process when any thread calls proc_exit or traps, even while every guest thread is waiting.
 * In a browser that also keeps the guest off the page's thread, where memory.atomic.wait
 * is not allowed.
 *
 * wasi-threads rules kept here: tids are 1..0x1FFFFFFF and unique; thread-spawn returns a
 * negative value when it fails; proc_exit in any thread ends every thread with that status;
 * a trap in any thread ends every thread (status 134, as wasmtime); `_start` returning ends the
 * process even while other threads run.
 *
 * Each thread has a WASI host of its own with the same args, env and preopens: node:wasi and
 * browser_wasi_shim keep a descriptor table per instance, so a file one thread opens after
 * start is not open in another.
 */
import { createMman, type Mman, type MmanOptions, type SharedMmanHandle } from "../syscalls/create-mman.js";
import { MMAN_MODULE } from "../syscalls/abi-mman.js";
import { compileModule, loadModuleSource, type ModuleSource } from "./instantiate.js";
import { ImportMismatchError } from "./check.js";
import { readModuleInfo, type MemoryLimits } from "./wasm-imports.js";
import {
  CONTROL_NEXT_TID,
  CONTROL_WORDS,
  EXIT_TRAP,
  type ThreadMessage,
  type ThreadStart,
  type ThreadWasiConfig,
} from "./thread-protocol.js";

export { EXIT_TRAP, MAX_THREAD_ID } from "./thread-protocol.js";

export interface ThreadedRunOptions {
  /** The WASI host of every thread (default "shim"; "node-wasi" needs Node). */
  host?: "shim" | "node-wasi";
  /** argv, including argv[0] (default `["module.wasm"]`). */
  args?: string[];
  env?: Record<string, string>;
  /** Guest path -> host directory (node-wasi only). */
  preopens?: Record<string, string>;
  /** Options of the memory engine every thread shares (page size, limits, growth). */
  mman?: MmanOptions;
  /** The shared memory (default: made from the limits of the module's memory import). */
  memory?: WebAssembly.Memory;
  /** Heap base for a module that does not export `__heap_base`. */
  heapBase?: number;
  /**
   * The worker script: hosts/thread-worker.js next to this file by default. A browser bundle
   * names its own built copy (scripts/build-demo.ts writes thread-worker.js).
   */
  workerUrl?: URL | string;
  /** Where notices go (default console.warn). */
  onWarning?: (message: string) => void;
}

export interface ThreadedRunResult {
  /** The status the process ended with: _start's, a proc_exit's, or 134 after a trap. */
  exitCode: number;
  /** The trap that ended the process, as "RuntimeError: unreachable", or null. */
  trap: string | null;
  /** Threads started by thread-spawn (the main thread not counted). */
  threadsSpawned: number;
  memory: WebAssembly.Memory;
  /** The engine every thread shared, or null for a module that imports no `mman` call. */
  mman: Mman | null;
}

/** True for a wasi-threads module: it imports `wasi.thread-spawn`. */
export function isThreadedModule(module: WebAssembly.Module): boolean {
  return WebAssembly.Module.imports(module).some((entry) => entry.module === "wasi" && entry.name === "thread-spawn" && entry.kind === "function");
}

/** A shared memory made from the module's memory import, which wasi-threads needs shared. */
export function sharedMemoryFor(limits: MemoryLimits, name: string): WebAssembly.Memory {
  if (!limits.shared) throw new ImportMismatchError(`wasi-mman: a threaded module must import a shared memory; ${name} is not shared`);
  if (limits.maxPages === null) throw new ImportMismatchError(`wasi-mman: the shared memory ${name} declares no maximum`);
  return new WebAssembly.Memory({ initial: limits.minPages, maximum: limits.maxPages, shared: true });
}

interface WorkerLike {
  post(start: ThreadStart): void;
  onMessage(listener: (message: ThreadMessage) => void): void;
  onError(listener: (error: unknown) => void): void;
  terminate(): Promise<unknown> | void;
}

interface NodeProcess {
  getBuiltinModule(id: string): unknown;
}
const nodeProcess = (globalThis as { process?: Partial<NodeProcess> }).process;

function defaultWorkerUrl(): URL {
  // From the sources (tests, tsx) the worker is a .ts file; from dist/ it is built JavaScript.
  return new URL(import.meta.url.endsWith(".ts") ? "./thread-worker.ts" : "./thread-worker.js", import.meta.url);
}

/** tsx's ESM loader API, as a file: URL, for running the worker from its .ts source. */
function tsxApi(): string {
  const { createRequire } = (nodeProcess as NodeProcess).getBuiltinModule("node:module") as typeof import("node:module");
  const { pathToFileURL } = (nodeProcess as NodeProcess).getBuiltinModule("node:url") as typeof import("node:url");
  return pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
}

function startWorker(url: URL | string, start: ThreadStart): WorkerLike {
  if (typeof nodeProcess?.getBuiltinModule === "function") {
    const { Worker } = nodeProcess.getBuiltinModule("node:worker_threads") as typeof import("node:worker_threads");
    const href = String(url);
    const worker = href.endsWith(".ts")
      ? // The sources (tests): the worker registers tsx's loader, then loads the .ts entry.
        new Worker(`import(${JSON.stringify(tsxApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(href)}); });`, { eval: true, workerData: start })
      : new Worker(new URL(href), { workerData: start });
    return {
      post: () => undefined,
      onMessage: (listener) => worker.on("message", listener),
      onError: (listener) => worker.on("error", listener),
      terminate: () => worker.terminate(),
    };
  }
  const worker = new Worker(url, { type: "module" });
  worker.postMessage(start);
  return {
    post: () => undefined,
    onMessage: (listener) => worker.addEventListener("message", (event) => listener(event.data as ThreadMessage)),
    onError: (listener) => worker.addEventListener("error", (event) => listener(event.message)),
    terminate: () => worker.terminate(),
  };
}

/** The heap base the module exports, read from an instance that runs nothing (no _start). */
async function probeHeapBase(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<number | undefined> {
  const imports: WebAssembly.Imports = {};
  for (const entry of WebAssembly.Module.imports(module)) {
    const value = entry.kind === "memory" ? memory : entry.kind === "function" ? () => { throw new Error("wasi-mman: called while only reading __heap_base"); } : undefined;
    if (value === undefined) return undefined;
    (imports[entry.module] ??= {})[entry.name] = value;
  }
  const instance = await WebAssembly.instantiate(module, imports);
  const base = instance.exports.__heap_base;
  return base instanceof WebAssembly.Global && typeof base.value === "number" ? base.value >>> 0 : undefined;
}

/** What every thread of one run shares, made on the calling thread before any worker starts. */
export interface ThreadedProcess {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** The engine attached on the calling thread, or null for a module that imports no `mman` call. */
  mman: Mman | null;
  mmanShared: SharedMmanHandle | null;
  /** The control words (hosts/thread-protocol.ts), next tid set to 1. */
  control: SharedArrayBuffer;
}

/**
 * Node 20's V8 (11.3) miscompiles wasm in its baseline tier, Liftoff: locals live across a
 * `memory.atomic.wait32` or `wait64` in a loop lose their values, even in one thread and when
 * the wait returns at once (a loop of 100,000 waits counted 1; right under TurboFan). Every
 * futex loop of a threaded program (pthread_join, mutexes, condition variables) has that shape,
 * so in Node the modules compiled from here on skip Liftoff: V8's flags are the process's, and
 * the module is compiled once here and shared by every worker. A module the caller compiled
 * before is as it was compiled (docs/threads.md).
 */
export function avoidLiftoffWaitBug(): void {
  if (typeof nodeProcess?.getBuiltinModule !== "function") return;
  const v8 = (nodeProcess as NodeProcess).getBuiltinModule("node:v8") as { setFlagsFromString(flags: string): void };
  v8.setFlagsFromString("--no-liftoff");
}

/**
 * The part of a threaded run that comes before the first worker: compiles the module, makes
 * its shared memory from the limits its memory import declares (unless `memory` is given),
 * attaches the engine to it and makes the control words. runThreaded and the browser's
 * runThreadedInBrowser (hosts/threads-browser.ts) both start from here.
 */
export async function prepareThreaded(source: ModuleSource, options: Pick<ThreadedRunOptions, "memory" | "mman" | "heapBase" | "onWarning"> = {}): Promise<ThreadedProcess> {
  avoidLiftoffWaitBug();
  const loaded = await loadModuleSource(source);
  const module = await compileModule(loaded);
  if (!isThreadedModule(module)) throw new ImportMismatchError("wasi-mman: the module imports no wasi.thread-spawn: it is not a wasi-threads module (run it with runWithShim or runWithNodeWasi)");
  let memory = options.memory;
  if (memory === undefined) {
    if (loaded instanceof WebAssembly.Module) throw new ImportMismatchError("wasi-mman: pass `memory` (shared) for a compiled module: its memory limits cannot be read");
    const bytes = ArrayBuffer.isView(loaded) ? new Uint8Array(loaded.buffer, loaded.byteOffset, loaded.byteLength) : new Uint8Array(loaded);
    const imported = readModuleInfo(bytes).imports.find((entry) => entry.kind === "memory");
    if (imported === undefined || imported.kind !== "memory") throw new ImportMismatchError("wasi-mman: a threaded module must import its (shared) memory; this one does not");
    memory = sharedMemoryFor(imported.limits, `${imported.module}.${imported.name}`);
  }
  const usesMman = WebAssembly.Module.imports(module).some((entry) => entry.module === MMAN_MODULE);
  let mman: Mman | null = null;
  let mmanShared: SharedMmanHandle | null = null;
  if (usesMman) {
    const engine = createMman({ onWarning: options.onWarning, ...options.mman });
    const heapBase = (await probeHeapBase(module, memory)) ?? options.heapBase;
    engine.attach(heapBase === undefined ? { memory } : { memory, heapBase });
    mman = engine;
    mmanShared = engine.share();
  }
  const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
  const words = new Int32Array(control);
  Atomics.store(words, CONTROL_NEXT_TID, 1);
  return { module, memory, mman, mmanShared, control };
}

/**
 * Runs a wasi-threads command: its `_start` in a worker, and a worker more for each
 * thread-spawn, until any thread ends the process. Resolves with the exit status.
 */
export async function runThreaded(source: ModuleSource, options: ThreadedRunOptions = {}): Promise<ThreadedRunResult> {
  const { module, memory, mman, mmanShared, control } = await prepareThreaded(source, options);
  const args = options.args ?? ["module.wasm"];
  const env = options.env ?? {};
  const wasi: ThreadWasiConfig =
    options.host === "node-wasi"
      ? { kind: "node-wasi", args, env, preopens: options.preopens ?? {} }
      : { kind: "shim", args, env: Object.entries(env).map(([key, value]) => `${key}=${value}`) };
  const workerUrl = options.workerUrl ?? defaultWorkerUrl();
  const workers = new Set<WorkerLike>();
  let threadsSpawned = 0;

  return new Promise<ThreadedRunResult>((resolve) => {
    let ended = false;
    const end = (exitCode: number, trap: string | null): void => {
      if (ended) return;
      ended = true;
      // Every thread stops with the process (wasi-threads: exit ends all threads).
      void Promise.all([...workers].map((worker) => worker.terminate())).then(() =>
        resolve({ exitCode, trap, threadsSpawned, memory: memory as WebAssembly.Memory, mman }),
      );
    };
    const launch = (role: ThreadStart["role"]): void => {
      if (ended) return;
      const worker = startWorker(workerUrl, { module, memory: memory as WebAssembly.Memory, mmanShared, control, wasi, role });
      workers.add(worker);
      worker.onMessage((message) => {
        if (message.type === "spawn") {
          threadsSpawned += 1;
          launch({ tid: message.tid, startArg: message.startArg });
        } else if (message.type === "exit") {
          end(message.status, message.trap);
        }
      });
      // A worker that failed outside the guest (its script did not load): the process ends as after a trap.
      worker.onError((error) => end(EXIT_TRAP, String(error)));
    };
    launch("main");
  });
}
