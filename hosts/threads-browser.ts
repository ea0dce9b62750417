/**
 * wasi-threads in a browser: runThreaded's rules (hosts/threads.ts) with Web Workers and
 * browser_wasi_shim, for a page that is cross-origin isolated (COOP same-origin, COEP
 * require-corp: without them there is no SharedArrayBuffer and no shared memory).
 *
 *   const { exitCode, stdout } = await runThreadedInBrowser(bytes, { args: ["prog"] });
 *
 *   the page (this file)                   Web Workers (hosts/thread-worker-browser.ts,
 *   ──────────────────────                  built as thread-worker.js)
 *   prepareThreaded: compile, shared        main:  instantiate, _start
 *   memory, engine attached, share()        tid N: instantiate, wasi_thread_start(N, arg)
 *   new Worker(url, { type: "module" }) ─>  start message: module, memory, engine handle,
 *   per "spawn"                               control words, args, env, stdin, files
 *   stdout/stderr text  <──── "output" ──── every fd_write of fd 1 and 2, numbered
 *   terminate every worker <── "exit" ───── proc_exit / trap (134) / _start returns
 *
 * The page never runs guest code and never blocks. It compiles the module, makes the memory,
 * attaches the engine (whose lock only spins on the page, docs/threads.md: Atomics.wait is
 * not allowed there), starts the workers thread-spawn asks for and collects their output.
 * Guest threads wait with memory.atomic.wait in their workers, where that is allowed.
 *
 * Output: a worker numbers each write from a shared counter before it posts it. When the
 * process ends, the page reads the counter and waits for every write numbered below it, so
 * output a thread wrote before another thread called proc_exit is not lost on the way (the
 * messages of two workers arrive in no fixed order). Writes made after the end are dropped.
 */
import type { MmanOptions } from "../syscalls/create-mman.js";
import type { ModuleSource } from "./instantiate.js";
import { prepareThreaded, type ThreadedRunResult } from "./threads.js";
import { EXIT_TRAP, type ThreadMessage, type ThreadStart } from "./thread-protocol.js";

export interface BrowserThreadedRunOptions {
  /** argv, including argv[0] (default `["module.wasm"]`). */
  args?: string[];
  env?: Record<string, string>;
  /** fd 0's bytes; every thread reads its own copy from the start (default empty). */
  stdin?: Uint8Array | string;
  /**
   * Preopened directories: guest path -> { relative file path -> contents }. Every thread
   * gets its own copy (browser_wasi_shim's files are objects of one thread), so what one
   * thread writes there the others do not see.
   */
  preopens?: Record<string, Record<string, Uint8Array | string>>;
  /** Options of the memory engine every thread shares (page size, limits, growth). */
  mman?: MmanOptions;
  /** The shared memory (default: made from the limits of the module's memory import). */
  memory?: WebAssembly.Memory;
  /** Heap base for a module that does not export `__heap_base`. */
  heapBase?: number;
  /** The worker script (default: thread-worker.js next to this module, as the build writes it). */
  workerUrl?: URL | string;
  /** Each write to fd 1 as text, as it arrives (it is also in the result's `stdout`). */
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
  /** Where notices go (default console.warn). */
  onWarning?: (message: string) => void;
}

export interface BrowserThreadedRunResult extends ThreadedRunResult {
  /** Everything the threads wrote to fd 1 and fd 2 before the process ended, in arrival order. */
  stdout: string;
  stderr: string;
  /**
   * The same writes as bytes, in the order the threads made them (each write is numbered when
   * it is made): what a program writing binary data to stdout wrote.
   */
  stdoutBytes: Uint8Array;
  stderrBytes: Uint8Array;
}

/** The chunks of one descriptor in the order their writes were numbered, as one array. */
function inWriteOrder(chunks: { seq: number; bytes: Uint8Array }[]): Uint8Array {
  chunks.sort((a, b) => a.seq - b.seq);
  const joined = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.bytes.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    joined.set(chunk.bytes, at);
    at += chunk.bytes.length;
  }
  return joined;
}

/** What the browser's worker gets beyond ThreadStart: its files and the output counter. */
export interface BrowserThreadFiles {
  stdin: Uint8Array;
  preopens: Record<string, Record<string, Uint8Array>>;
  /** One Int32: writes posted so far by every thread (the next write's number). */
  outputsPosted: SharedArrayBuffer;
}
export interface BrowserThreadStart extends ThreadStart {
  files?: BrowserThreadFiles;
}
/** One write to fd 1 or 2, from a worker to the page. */
export interface BrowserThreadOutput {
  type: "output";
  seq: number;
  fd: 1 | 2;
  bytes: Uint8Array;
}

const encoder = new TextEncoder();
const asBytes = (value: Uint8Array | string): Uint8Array => (typeof value === "string" ? encoder.encode(value) : value);

/** Refuses early, with the reason, where a page cannot share memory between threads. */
function checkIsolated(): void {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (typeof SharedArrayBuffer === "undefined" || isolated === false) {
    throw new Error(
      "wasi-mman: threads need a cross-origin isolated page (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp); this one is not, so it has no SharedArrayBuffer",
    );
  }
}

/**
 * Runs a wasi-threads command in the page's Web Workers: its `_start` in one, and one more for
 * each thread-spawn, until any thread ends the process. Resolves with the exit status (_start's,
 * proc_exit's, or 134 after a trap) and the text the threads wrote.
 */
export async function runThreadedInBrowser(source: ModuleSource, options: BrowserThreadedRunOptions = {}): Promise<BrowserThreadedRunResult> {
  checkIsolated();
  const { module, memory, mman, mmanShared, control } = await prepareThreaded(source, options);
  const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  const preopens = Object.fromEntries(
    Object.entries(options.preopens ?? {}).map(([dir, files]) => [dir, Object.fromEntries(Object.entries(files).map(([path, contents]) => [path, asBytes(contents)]))]),
  );
  const files: BrowserThreadFiles = { stdin: asBytes(options.stdin ?? new Uint8Array(0)), preopens, outputsPosted: new SharedArrayBuffer(4) };
  const outputsPosted = new Int32Array(files.outputsPosted);
  const base: Omit<BrowserThreadStart, "role"> = { module, memory, mmanShared, control, wasi: { kind: "shim", args: options.args ?? ["module.wasm"], env }, files };
  const workerUrl = options.workerUrl ?? new URL("./thread-worker.js", import.meta.url);
  const workers = new Set<Worker>();
  const text = { 1: "", 2: "" };
  const chunks: Record<1 | 2, { seq: number; bytes: Uint8Array }[]> = { 1: [], 2: [] };
  const decoders = { 1: new TextDecoder(), 2: new TextDecoder() };
  const listeners = { 1: options.onStdout, 2: options.onStderr };
  let threadsSpawned = 0;

  return new Promise<BrowserThreadedRunResult>((resolve) => {
    /** Set when the process has ended: how many writes it waits for, and how many came. */
    let ending: { exitCode: number; trap: string | null; writes: number; arrived: number } | null = null;
    let done = false;
    const finish = (): void => {
      if (done || ending === null || ending.arrived < ending.writes) return;
      done = true;
      // Every thread stops with the process (wasi-threads: exit ends all threads).
      for (const worker of workers) worker.terminate();
      for (const fd of [1, 2] as const) text[fd] += decoders[fd].decode();
      resolve({ exitCode: ending.exitCode, trap: ending.trap, threadsSpawned, memory, mman, stdout: text[1], stderr: text[2], stdoutBytes: inWriteOrder(chunks[1]), stderrBytes: inWriteOrder(chunks[2]) });
    };
    /** Writes that arrived before the end: each was numbered before it was posted, so below the count read then. */
    let arrivedBefore = 0;
    const end = (exitCode: number, trap: string | null): void => {
      if (ending !== null) return;
      ending = { exitCode, trap, writes: Atomics.load(outputsPosted, 0), arrived: arrivedBefore };
      finish();
    };
    const output = (message: BrowserThreadOutput): void => {
      if (ending === null) arrivedBefore += 1;
      else if (message.seq >= ending.writes) return;
      else ending.arrived += 1;
      chunks[message.fd].push({ seq: message.seq, bytes: message.bytes });
      const chunk = decoders[message.fd].decode(message.bytes, { stream: true });
      text[message.fd] += chunk;
      listeners[message.fd]?.(chunk);
      finish();
    };
    const launch = (role: ThreadStart["role"]): void => {
      if (ending !== null) return;
      const worker = new Worker(workerUrl, { type: "module" });
      workers.add(worker);
      worker.addEventListener("message", (event: MessageEvent<ThreadMessage | BrowserThreadOutput>) => {
        const message = event.data;
        if (message.type === "output") output(message);
        else if (message.type === "spawn") {
          threadsSpawned += 1;
          launch({ tid: message.tid, startArg: message.startArg });
        } else if (message.type === "exit") end(message.status, message.trap);
      });
      // A worker that failed outside the guest (its script did not load): the process ends as after a trap.
      worker.addEventListener("error", (event) => end(EXIT_TRAP, `worker ${String(workerUrl)}: ${event.message || "failed to load"}`));
      const start: BrowserThreadStart = { ...base, role };
      worker.postMessage(start);
    };
    launch("main");
  });
}
