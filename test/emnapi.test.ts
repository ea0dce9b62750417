/**
 * hosts/emnapi.ts: the shared engine under @tybys/wasm-util's WASI and @emnapi/wasi-threads
 * (the runtime of napi-rs's wasm32-wasip1-threads builds), in Node worker_threads.
 * fixtures/threads/mman-churn.wat's 4 threads map, cut, remap and unmap through the `mman`
 * imports while thread 0 moves the break; emnapi spawns the workers, the adapter gives each one
 * the engine. The program's main thread (test/threads/emnapi-main.ts) runs in a worker of its
 * own and hands its engine's handle to this thread, which joins it (createMman({ shared })) and
 * checks the state the run ended in as test/threads-abi.test.ts does. Once with a new worker per
 * thread-spawn, once with emnapi's pool of 4 workers loaded up front (preloadWorkers), where
 * beforeLoad runs before _start for every worker of the pool.
 */
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { createMman, type SharedMmanHandle } from "../syscalls/create-mman.js";
import { EmnapiMman, EmnapiMmanThread, MMAN_HANDLE_KEY } from "../hosts/emnapi.js";
import { checkChurn, churnFailure, threadFixture } from "./helpers/mman-churn.js";
import { evalWorkerSource } from "./threads/ts-worker.js";

type MainMessage = { type: "attached"; heapBase: number; handle: SharedMmanHandle } | { type: "exit"; exitCode: number } | { type: "warning"; message: string };

/** Runs the program's main thread in a worker; resolves with its exit code and the engine's handle. */
function runUnderEmnapi(bytes: Uint8Array, pageSize: number, pool: boolean, timeoutMs: number): Promise<{ exitCode: number | "timeout"; handle: SharedMmanHandle; warnings: string[] }> {
  const worker = new Worker(evalWorkerSource(new URL("./threads/emnapi-main.ts", import.meta.url)), { eval: true, workerData: { bytes, pageSize, pool, args: ["mman-churn"] } });
  let handle: SharedMmanHandle | null = null;
  const warnings: string[] = [];
  return new Promise((resolve, reject) => {
    const finish = (exitCode: number | "timeout"): void => {
      clearTimeout(timer);
      void worker.terminate();
      if (handle === null) reject(new Error("the main thread ended before attaching its engine"));
      else resolve({ exitCode, handle, warnings });
    };
    // A thread that fails its checks ends the process; if a host failed to, the memory still tells why.
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    worker.on("message", (message: MainMessage) => {
      if (message.type === "attached") handle = message.handle;
      else if (message.type === "warning") warnings.push(message.message);
      else finish(message.exitCode);
    });
    worker.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

describe.each([
  [4096, false],
  [65536, false],
  [4096, true],
])("@emnapi/wasi-threads with the shared engine, %i-byte pages, worker pool %s", (pageSize, pool) => {
  it("4 threads spawned by emnapi share one engine: no page handed out twice, every live mapping and the break keep their bytes", async () => {
    const started = performance.now();
    const run = await runUnderEmnapi(await threadFixture("mman-churn"), pageSize, pool, 45_000);
    const elapsed = performance.now() - started;
    const mman = createMman({ shared: run.handle });
    expect(churnFailure(run.handle.memory)).toBeNull();
    expect(run.exitCode).toBe(0);
    expect(run.warnings).toEqual([]);
    expect(mman.pageSize).toBe(pageSize);
    const figures = checkChurn(run.handle.memory, mman);
    expect(figures.calls.mmap).toBeGreaterThan(1000);
    console.log(
      `emnapi${pool ? " (pool of 4 preloaded workers)" : ""}, ${pageSize / 1024} KiB pages: ${figures.calls.mmap} mmap, ${figures.calls.munmap} munmap, ${figures.calls.mremap} mremap, ` +
        `${figures.calls.brk} brk from 4 threads (${figures.mostRunning} at once) in ${elapsed.toFixed(0)} ms (workers included)`,
    );
  }, 60_000);
});

describe("the adapter's own checks", () => {
  it("a worker joins on the handle message only, once; without one its imports say what is missing", () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 64, shared: true });
    const warnings: string[] = [];
    const main = new EmnapiMman({ onWarning: (message) => warnings.push(message) });
    const posted: unknown[] = [];
    // beforeLoad before attach is the caller's mistake, said before any worker loads.
    expect(() => main.beforeLoad({ postMessage: (message) => posted.push(message) })).toThrow(/before attach\(\)/);
    // No __heap_base export: the heap starts above the memory, with a notice.
    expect(main.attach({ exports: {} } as WebAssembly.Instance, memory)).toEqual({ heapBase: 131072, heapBaseSource: "memory-size" });
    expect(warnings).toEqual([expect.stringMatching(/exports no __heap_base/)]);
    main.beforeLoad({ postMessage: (message) => posted.push(message) });
    expect(posted).toHaveLength(1);
    expect(Object.keys(posted[0] as object)).toEqual([MMAN_HANDLE_KEY]);

    const thread = new EmnapiMmanThread();
    expect(() => thread.imports).toThrow(/beforeLoad: mman.beforeLoad/);
    expect(thread.receive({ __emnapi__: { type: "load", payload: {} } })).toBe(false);
    expect(thread.receive(null)).toBe(false);
    // The worker's engine is a second engine of this thread here, which createMman refuses; a
    // real worker is another thread. The refusal shows the handle was taken and joined.
    expect(() => thread.receive(posted[0])).toThrow(/already works on this shared memory/);
  });

  it("an unshared memory is refused at attach, not in a worker", () => {
    const main = new EmnapiMman({ onWarning: () => undefined });
    expect(() => main.attach({ exports: {} } as WebAssembly.Instance, new WebAssembly.Memory({ initial: 2 }))).toThrow(/the memory is not shared/);
    // Nothing was attached: the same engine still takes a shared memory.
    expect(main.mman.shared).toBe(false);
    main.attach({ exports: {} } as WebAssembly.Instance, new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true }));
    expect(main.mman.shared).toBe(true);
  });
});

describe("from the built package", () => {
  it('"wasi-mman/emnapi" exports the adapter, with no import of emnapi itself', async () => {
    // The package's own name resolves through its "exports" (Node's self-reference).
    expect(import.meta.resolve("wasi-mman/emnapi")).toBe(new URL("../dist/hosts/emnapi.js", import.meta.url).href);
    const built = (await import("wasi-mman/emnapi")) as typeof import("../hosts/emnapi.js");
    expect(typeof built.EmnapiMman).toBe("function");
    expect(typeof built.EmnapiMmanThread).toBe("function");
    expect(built.MMAN_HANDLE_KEY).toBe(MMAN_HANDLE_KEY);
    // Users of the adapter bring their own @emnapi/wasi-threads and @tybys/wasm-util.
    expect(readFileSync(new URL("../dist/hosts/emnapi.js", import.meta.url), "utf8")).not.toMatch(/(from|import\()\s*["']@(emnapi|tybys)\//);
  });
});
