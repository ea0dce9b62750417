/**
 * One guest thread of a wasi-threads program, whatever the worker it runs in: Node's
 * (hosts/thread-worker.ts) or a browser's (hosts/thread-worker-browser.ts). The worker gives
 * its way back to the host thread and its WASI host; this instantiates the module over the
 * shared memory with that host, the shared memory engine and our `wasi.thread-spawn`, then
 * runs `_start` or `wasi_thread_start(tid, arg)`.
 *
 * Nothing here waits on another thread: thread-spawn takes the next tid from the shared
 * counter, asks the host thread to start the worker and returns at once.
 */
import type { WASI as ShimWasi } from "@bjorn3/browser_wasi_shim";
import { createMman, type MmanOptions } from "../syscalls/create-mman.js";
import { shimFileResolver } from "./shim-files.js";
import { CONTROL_EXITING, CONTROL_NEXT_TID, CONTROL_STATUS, EXIT_TRAP, MAX_THREAD_ID, type ThreadMessage, type ThreadStart } from "./thread-protocol.js";

/** WASI's EAGAIN: no thread id is left (wasi-threads: thread-spawn fails with a negative value). */
const WASI_EAGAIN = 6;

/** proc_exit in any thread: unwinds this thread's wasm, then the whole process ends. */
class ThreadExit extends Error {
  constructor(readonly status: number) {
    super(`proc_exit(${status})`);
  }
}

/** The worker's way back to the host thread. */
export interface ThreadChannel {
  post(message: ThreadMessage): void;
}

/** A thread's own WASI host (a descriptor table of its own). */
export interface ThreadWasiHost {
  imports: Record<string, Record<string, unknown>>;
  /** Hands the host its memory view and runs `_start` (main) or nothing (a thread). */
  enter(exports: WebAssembly.Exports, memory: WebAssembly.Memory, main: boolean): number | null;
  files: MmanOptions["files"];
}

/** A thread's host made of a browser_wasi_shim WASI object (its own descriptor table). */
export function shimThreadHost(wasi: ShimWasi): ThreadWasiHost {
  return {
    imports: { wasi_snapshot_preview1: wasi.wasiImport as Record<string, unknown> },
    enter(exports, memory, main) {
      // The shim reads `exports.memory` on every call; an imported memory is not among the exports.
      const view = { exports: { ...exports, memory } } as unknown as Parameters<ShimWasi["start"]>[0];
      if (main) return wasi.start(view);
      wasi.initialize({ exports: { memory } } as unknown as Parameters<ShimWasi["initialize"]>[0]);
      return null;
    },
    files: shimFileResolver(wasi),
  };
}

/**
 * Runs the thread `start` describes until it returns, exits or traps. The first thread to end
 * the process sets the status in the control words and posts "exit"; the others only stop.
 * A failure to make the WASI host ends the process as a trap does.
 */
export async function runGuestThread(start: ThreadStart, channel: ThreadChannel, makeHost: (start: ThreadStart) => Promise<ThreadWasiHost>): Promise<void> {
  const control = new Int32Array(start.control);
  const exitProcess = (status: number, trap: string | null): void => {
    if (Atomics.compareExchange(control, CONTROL_EXITING, 0, 1) !== 0) return;
    Atomics.store(control, CONTROL_STATUS, status);
    channel.post({ type: "exit", status, trap });
  };
  try {
    const host = await makeHost(start);
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
