/**
 * One guest thread of a wasi-threads program: the worker that hosts/threads.ts starts for the
 * program's `_start` and for every thread-spawn. It instantiates the same module over the same
 * shared memory, with its own WASI host (same args, env and preopens; a descriptor table of its
 * own) and the shared memory engine, then runs `_start` or `wasi_thread_start(tid, arg)`.
 *
 * Runs as a Node worker_threads worker or a browser Web Worker (module type). Nothing here waits
 * on another thread: thread-spawn takes the next tid from the shared counter, asks the host
 * thread to start the worker and returns at once; stdout and stderr are written from this
 * thread (fs.writeSync in Node), so a thread blocked in memory.atomic.wait never holds up the
 * output of the others.
 */
import { WASI as ShimWasi } from "@bjorn3/browser_wasi_shim";
import { createMman, type MmanOptions } from "../syscalls/create-mman.js";
import { defaultShimFds } from "./shim.js";
import { shimFileResolver } from "./shim-files.js";
import {
  CONTROL_EXITING,
  CONTROL_NEXT_TID,
  CONTROL_STATUS,
  EXIT_TRAP,
  MAX_THREAD_ID,
  type ThreadMessage,
  type ThreadStart,
} from "./thread-protocol.js";

/** WASI's EAGAIN: no thread id is left (wasi-threads: thread-spawn fails with a negative value). */
const WASI_EAGAIN = 6;

/** proc_exit in any thread: unwinds this thread's wasm, then the whole process ends. */
class ThreadExit extends Error {
  constructor(readonly status: number) {
    super(`proc_exit(${status})`);
  }
}

interface NodeProcess {
  getBuiltinModule(id: string): unknown;
}
const nodeProcess = (globalThis as { process?: Partial<NodeProcess> }).process;
const inNode = typeof nodeProcess?.getBuiltinModule === "function";

interface Channel {
  post(message: ThreadMessage): void;
}

/** The worker's way back to the host thread, and its start message. */
async function connect(): Promise<{ channel: Channel; start: ThreadStart }> {
  if (inNode) {
    const threads = (nodeProcess as NodeProcess).getBuiltinModule("node:worker_threads") as typeof import("node:worker_threads");
    const port = threads.parentPort;
    if (port === null) throw new Error("wasi-mman: thread-worker runs only as a worker");
    return { channel: { post: (message) => port.postMessage(message) }, start: threads.workerData as ThreadStart };
  }
  const scope = globalThis as unknown as { postMessage(message: unknown): void; addEventListener(type: "message", listener: (event: MessageEvent) => void, options?: { once: boolean }): void };
  const start = await new Promise<ThreadStart>((resolve) => scope.addEventListener("message", (event) => resolve(event.data as ThreadStart), { once: true }));
  return { channel: { post: (message) => scope.postMessage(message) }, start };
}

/** fd 0, 1, 2 of the process in Node (written synchronously from this thread); the console elsewhere. */
async function shimStdio(): Promise<ReturnType<typeof defaultShimFds>> {
  if (!inNode) return defaultShimFds();
  const { processStdio } = await import("../cli/host-io.js");
  return processStdio();
}

interface WasiHost {
  imports: Record<string, Record<string, unknown>>;
  /** Hands the host its memory view and runs `_start` (main) or nothing (a thread). */
  enter(exports: WebAssembly.Exports, memory: WebAssembly.Memory, main: boolean): number | null;
  files: MmanOptions["files"];
}

async function wasiHost(start: ThreadStart): Promise<WasiHost> {
  const config = start.wasi;
  if (config.kind === "node-wasi") {
    const { WASI } = (nodeProcess as NodeProcess).getBuiltinModule("node:wasi") as typeof import("node:wasi");
    const wasi = new WASI({ version: "preview1", args: config.args, env: config.env, preopens: config.preopens, returnOnExit: true });
    return {
      imports: wasi.getImportObject() as Record<string, Record<string, unknown>>,
      enter(exports, memory, main) {
        if (main) return wasi.start({ exports: { memory, _start: exports._start } } as unknown as WebAssembly.Instance);
        wasi.initialize({ exports: { memory } } as unknown as WebAssembly.Instance);
        return null;
      },
      files: undefined,
    };
  }
  const wasi = new ShimWasi(config.args, config.env, await shimStdio(), { debug: false });
  return {
    imports: { wasi_snapshot_preview1: wasi.wasiImport as Record<string, unknown> },
    enter(exports, memory, main) {
      const view = { exports: { ...exports, memory } } as unknown as Parameters<ShimWasi["start"]>[0];
      if (main) return wasi.start(view);
      wasi.initialize({ exports: { memory } } as unknown as Parameters<ShimWasi["initialize"]>[0]);
      return null;
    },
    files: shimFileResolver(wasi),
  };
}

async function main(): Promise<void> {
  const { channel, start } = await connect();
  const control = new Int32Array(start.control);
  /** The first thread to end the process sets its status; the others only stop. */
  const exitProcess = (status: number, trap: string | null): void => {
    if (Atomics.compareExchange(control, CONTROL_EXITING, 0, 1) !== 0) return;
    Atomics.store(control, CONTROL_STATUS, status);
    channel.post({ type: "exit", status, trap });
  };
  try {
    const host = await wasiHost(start);
    const preview1 = { ...host.imports.wasi_snapshot_preview1, proc_exit: (status: number) => { throw new ThreadExit(status >>> 0 & 0xff); } };
    const threadSpawn = (startArg: number): number => {
      const tid = Atomics.add(control, CONTROL_NEXT_TID, 1);
      if (tid < 1 || tid > MAX_THREAD_ID) return -WASI_EAGAIN;
      channel.post({ type: "spawn", tid, startArg: startArg >>> 0 });
      return tid;
    };
    const imports: WebAssembly.Imports = {
      ...host.imports,
      wasi_snapshot_preview1: preview1 as WebAssembly.ModuleImports,
      wasi: { "thread-spawn": threadSpawn },
    };
    // Every thread's engine attaches to the one shared state (createMman({ shared })).
    if (start.mmanShared !== null) {
      const mman = createMman({ shared: start.mmanShared, files: host.files });
      Object.assign(imports, mman.imports);
    }
    // The memory import is whatever the module names it (usually env.memory).
    for (const entry of WebAssembly.Module.imports(start.module)) {
      if (entry.kind === "memory") imports[entry.module] = { ...(imports[entry.module] ?? {}), [entry.name]: start.memory };
    }
    const instance = await WebAssembly.instantiate(start.module, imports);
    if (start.role === "main") {
      const status = host.enter(instance.exports, start.memory, true) ?? 0;
      // Returning from _start ends the process, other threads or not (as returning from main).
      exitProcess(status, null);
      return;
    }
    host.enter(instance.exports, start.memory, false);
    channel.post({ type: "started", tid: start.role.tid });
    (instance.exports.wasi_thread_start as (tid: number, arg: number) => void)(start.role.tid, start.role.startArg);
  } catch (error) {
    if (error instanceof ThreadExit) exitProcess(error.status, null);
    else exitProcess(EXIT_TRAP, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }
}

void main();
