/**
 * What the thread host (hosts/threads.ts) and its workers (hosts/thread-worker.ts) say to each
 * other, and the shared control words every thread of one process reads.
 *
 *   control (Int32Array over a SharedArrayBuffer, one per process)
 *   ┌───────────┬────────────┬───────────┐
 *   │ 0 next tid│ 1 exiting  │ 2 status  │
 *   └───────────┴────────────┴───────────┘
 *
 * Thread ids come from `Atomics.add` on word 0, so any worker hands out the next one without
 * asking another thread. Word 1 goes 0 -> 1 once, for the first thread that ends the process
 * (proc_exit, a trap, or `_start` returning); word 2 holds that exit status.
 */

import type { SharedMmanHandle } from "../syscalls/create-mman.js";

/** wasi-threads: thread ids are 1..0x1FFFFFFF (the top bits are left for the guest's own use). */
export const MAX_THREAD_ID = 0x1fffffff;
/** As wasmtime reports a trap: 128 + SIGABRT. */
export const EXIT_TRAP = 134;

export const CONTROL_NEXT_TID = 0;
export const CONTROL_EXITING = 1;
export const CONTROL_STATUS = 2;
export const CONTROL_WORDS = 4;

/** Which WASI host each thread gets, rebuilt in every worker from these plain values. */
export type ThreadWasiConfig =
  | { kind: "node-wasi"; args: string[]; env: Record<string, string>; preopens: Record<string, string> }
  | { kind: "shim"; args: string[]; env: string[] };

/** The first message to a worker: everything it needs to run one guest thread. */
export interface ThreadStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** The engine's share() descriptor, or null for a module that imports no `mman` call. */
  mmanShared: SharedMmanHandle | null;
  control: SharedArrayBuffer;
  wasi: ThreadWasiConfig;
  /** "main": run `_start`; otherwise wasi_thread_start(tid, startArg). */
  role: "main" | { tid: number; startArg: number };
}

/** From a worker to the thread host. */
export type ThreadMessage =
  | { type: "spawn"; tid: number; startArg: number }
  | { type: "started"; tid: number }
  | { type: "exit"; status: number; trap: string | null };
