/**
 * One guest thread of a wasi-threads program: the worker that hosts/threads.ts starts for the
 * program's `_start` and for every thread-spawn. It instantiates the same module over the same
 * shared memory, with its own WASI host (same args, env and preopens; a descriptor table of its
 * own) and the shared memory engine, then runs `_start` or `wasi_thread_start(tid, arg)`
 * (hosts/thread-guest.ts, shared with the browser's worker, hosts/thread-worker-browser.ts).
 *
 * Runs as a Node worker_threads worker or a browser Web Worker (module type). Nothing here waits
 * on another thread; stdout and stderr are written from this thread (fs.writeSync in Node), so
 * a thread blocked in memory.atomic.wait never holds up the output of the others.
 */
import { WASI as ShimWasi } from "@bjorn3/browser_wasi_shim";
import { defaultShimFds } from "./shim.js";
import { runGuestThread, shimThreadHost, type ThreadChannel, type ThreadWasiHost } from "./thread-guest.js";
import type { ThreadStart } from "./thread-protocol.js";

interface NodeProcess {
  getBuiltinModule(id: string): unknown;
}
const nodeProcess = (globalThis as { process?: Partial<NodeProcess> }).process;
const inNode = typeof nodeProcess?.getBuiltinModule === "function";

/** The worker's way back to the host thread, and its start message. */
async function connect(): Promise<{ channel: ThreadChannel; start: ThreadStart }> {
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

async function wasiHost(start: ThreadStart): Promise<ThreadWasiHost> {
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
  return shimThreadHost(new ShimWasi(config.args, config.env, await shimStdio(), { debug: false }));
}

async function main(): Promise<void> {
  const { channel, start } = await connect();
  await runGuestThread(start, channel, wasiHost);
}

void main();
