/**
 * One guest thread of a wasi-threads program in a browser: the Web Worker (module type) that
 * runThreadedInBrowser (hosts/threads-browser.ts) starts for the program's `_start` and for
 * every thread-spawn. scripts/build-demo.ts bundles it, browser_wasi_shim included, as
 * thread-worker.js next to wasi-mman.js.
 *
 * The thread itself (instantiate, thread-spawn, proc_exit, traps) is hosts/thread-guest.ts, as
 * in Node. What is the browser's here: the start message comes by postMessage, and the thread's
 * browser_wasi_shim host gets its own copy of the run's stdin and preopened files, with fd 1
 * and 2 posting every write to the page as it happens:
 *
 *   fd_write(1, ...) ─> Atomics.add(outputs posted) ─> postMessage { output, seq, fd, bytes }
 *
 * The sequence number lets the page wait, when the process ends, for the output every thread
 * wrote before that (hosts/threads-browser.ts). A start message without the browser's part
 * (runThreaded from the browser bundle, which names this script too) writes to the console.
 */
import { ConsoleStdout, Directory, File, OpenFile, PreopenDirectory, WASI, type Fd, type Inode } from "@bjorn3/browser_wasi_shim";
import { defaultShimFds } from "./shim.js";
import { runGuestThread, shimThreadHost, type ThreadWasiHost } from "./thread-guest.js";
import { EXIT_TRAP, type ThreadMessage, type ThreadStart } from "./thread-protocol.js";
import type { BrowserThreadFiles, BrowserThreadOutput, BrowserThreadStart } from "./threads-browser.js";

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: "message" | "messageerror", listener: (event: MessageEvent) => void, options?: { once: boolean }): void;
}
const scope = globalThis as unknown as WorkerScope;

/** A directory tree from "a/b.txt" -> bytes (each thread gets its own copy: shim files are per instance). */
function directoryContents(files: Record<string, Uint8Array>): Map<string, Inode> {
  const root = new Map<string, Inode>();
  for (const [path, bytes] of Object.entries(files)) {
    const parts = path.split("/").filter((part) => part !== "");
    let contents = root;
    for (const name of parts.slice(0, -1)) {
      const found = contents.get(name);
      const directory = found instanceof Directory ? found : new Directory(new Map());
      contents.set(name, directory);
      contents = directory.contents;
    }
    if (parts.length > 0) contents.set(parts[parts.length - 1], new File(bytes.slice()));
  }
  return root;
}

/** stdin, stdout and stderr posting to the page, then one preopened directory per entry. */
function threadFds(files: BrowserThreadFiles): Fd[] {
  const outputs = new Int32Array(files.outputsPosted);
  const writer = (fd: 1 | 2) =>
    new ConsoleStdout((bytes) => {
      // Counted before it is posted, so the page knows it is on its way (see above).
      const seq = Atomics.add(outputs, 0, 1);
      const message: BrowserThreadOutput = { type: "output", seq, fd, bytes: bytes.slice() };
      scope.postMessage(message);
    });
  const preopened = Object.entries(files.preopens).map(([dir, contents]) => new PreopenDirectory(dir, directoryContents(contents)));
  return [new OpenFile(new File(files.stdin.slice())), writer(1), writer(2), ...preopened];
}

async function wasiHost(start: ThreadStart): Promise<ThreadWasiHost> {
  const config = start.wasi;
  if (config.kind !== "shim") throw new Error(`wasi-mman: a browser thread has no ${config.kind} host, only browser_wasi_shim`);
  const files = (start as BrowserThreadStart).files;
  const fds = files === undefined ? defaultShimFds() : threadFds(files);
  return shimThreadHost(new WASI(config.args, config.env, fds, { debug: false }));
}

// A start message this worker cannot receive (its module or memory cannot come to this agent)
// would leave the page waiting for a thread that never runs: that ends the process as a trap.
scope.addEventListener("messageerror", () => {
  const message: ThreadMessage = { type: "exit", status: EXIT_TRAP, trap: "wasi-mman: the thread's start message could not be received (messageerror)" };
  scope.postMessage(message);
});
const start = await new Promise<ThreadStart>((resolve) => scope.addEventListener("message", (event) => resolve(event.data as ThreadStart), { once: true }));
await runGuestThread(start, { post: (message) => scope.postMessage(message) }, wasiHost);
