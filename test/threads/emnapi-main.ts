// The main thread of a wasi-threads program under @tybys/wasm-util's WASI and
// @emnapi/wasi-threads, with the shared engine of hosts/emnapi.ts (test/emnapi.test.ts).
// It runs in a worker of its own, so that a guest blocked in memory.atomic.wait never blocks
// the test: the memory and the engine's handle go to the test before _start, the exit code after.
import { parentPort, Worker, workerData } from "node:worker_threads";
import { WASI } from "@tybys/wasm-util";
import { WASIThreads, type WASIInstance } from "@emnapi/wasi-threads";
import { EmnapiMman } from "../../hosts/emnapi.js";
import { evalWorkerSource } from "./ts-worker.js";

const { bytes, pageSize, args, pool } = workerData as { bytes: Uint8Array<ArrayBuffer>; pageSize: number; args: string[]; pool: boolean };
const port = parentPort!;
const memory = new WebAssembly.Memory({ initial: 2, maximum: 4096, shared: true });
const wasi = new WASI({ version: "preview1", args, returnOnExit: true });
const mman = new EmnapiMman({ pageSize, onWarning: (message) => port.postMessage({ type: "warning", message }) });
const wasiThreads = new WASIThreads({
  // wasm-util's start() may return a promise (its asyncify mode); emnapi's type wants a number.
  wasi: wasi as WASIInstance,
  // pool: 4 workers loaded up front by preloadWorkers() (beforeLoad runs for each then), and
  // reused; otherwise a new worker per thread-spawn.
  reuseWorker: pool ? { size: 4, strict: true } : false,
  // thread-spawn returns once the thread runs (emnapi waits up to this many ms on its words).
  waitThreadStart: 10_000,
  onCreateWorker: () => new Worker(evalWorkerSource(new URL("./emnapi-worker.ts", import.meta.url)), { eval: true }),
  beforeLoad: mman.beforeLoad,
});
const imports = { env: { memory }, wasi_snapshot_preview1: wasi.wasiImport, ...(wasiThreads.getImportObject() as unknown as WebAssembly.Imports), ...mman.imports };
const { module, instance } = await WebAssembly.instantiate(bytes, imports);
const attached = mman.attach(instance, memory);
wasiThreads.setup(instance, module, memory);
if (pool) await wasiThreads.preloadWorkers();
port.postMessage({ type: "attached", heapBase: attached.heapBase, handle: mman.mman.share() });
// wasm-util's start reads exports.memory; the program imports its memory. (emnapi's
// createInstanceProxy adds it too, but stubs _start: it is meant for child threads.)
const exitCode = wasi.start({ exports: { ...instance.exports, memory } } as WebAssembly.Instance);
// The test terminates this worker, and Node ends the thread workers it started with it.
port.postMessage({ type: "exit", exitCode });
