/**
 * One address space for several threads (runtime/shared-state.ts): workers join the shared
 * engine and map, remap and unmap at once while thread 0 moves the break. Afterwards no page is
 * in two live mappings, every page of every live mapping still carries its owner's tag, and the
 * engine's invariants hold. At 4 KiB and 64 KiB pages.
 */
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { createMman } from "../dist/index.js";

const WORKER = new URL("./threads/engine-worker.mjs", import.meta.url);

function runWorker(workerData: unknown): Promise<{ live: [number, number, number][]; problems: string[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData });
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
    });
  });
}

describe.each([4096, 65536])("shared engine, %i-byte pages", (pageSize) => {
  it("4 threads map, remap and unmap at once: no page handed out twice, every mapping keeps its bytes", async () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 16384, shared: true });
    const mman = createMman({ pageSize, debug: false });
    mman.attach({ memory, heapBase: 65536 });
    expect(mman.shared).toBe(true);
    const handle = mman.share();
    const results = await Promise.all([0, 1, 2, 3].map((thread) => runWorker({ handle, thread, rounds: 5000, seed: 1000 + thread })));
    const problems = results.flatMap((r) => r.problems);
    expect(problems).toEqual([]);
    const live = results.flatMap((r) => r.live).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < live.length; i++) expect(live[i][0]).toBeGreaterThanOrEqual(live[i - 1][0] + live[i - 1][1]);
    expect(mman.stats().liveMappings).toBe(live.length);
    expect(() => mman.checkInvariants(true)).not.toThrow();
    const { calls } = mman.stats();
    expect(calls.mmap).toBeGreaterThan(2000);
  }, 60_000);
});

/** A worker that joins `handle` and runs `body` (a function of `calls` and the data) once. */
function runSource(body: string, workerData: unknown): Promise<unknown> {
  const source = `const { parentPort, workerData } = require("node:worker_threads");
import(${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)}).then(({ createMman }) => {
  const calls = createMman({ shared: workerData.handle }).calls;
  parentPort.postMessage((${body})(calls, workerData));
});`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData });
    worker.once("message", (value) => {
      void worker.terminate();
      resolve(value);
    });
    worker.once("error", reject);
  });
}

describe("shared engine: files belong to the thread that mapped them", () => {
  it("another thread's munmap, mprotect, madvise and MAP_FIXED over a file mapping fail with EACCES and change nothing; anonymous mappings are anyone's", async () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024, shared: true });
    const contents = new Uint8Array(8192).fill(7);
    const file = {
      identity: {},
      readable: true,
      writable: true,
      regular: true,
      size: () => contents.length,
      read: (offset: number, target: Uint8Array) => {
        const part = contents.subarray(offset, offset + target.length);
        target.set(part);
        return part.length;
      },
      write: (offset: number, bytes: Uint8Array) => contents.set(bytes, offset),
    };
    const mman = createMman({ files: { resolve: (fd) => (fd === 3 ? file : null) } });
    mman.attach({ memory, heapBase: 65536 });
    const mapped = mman.calls.mmap(0, 8192, 3, 0x02, 3, 0);
    const anonymous = mman.calls.mmap(0, 4096, 3, 0x22, -1, 0);
    expect(mapped).toBeGreaterThan(0);
    const results = await runSource(
      `(calls, { mapped, anonymous }) => [
        calls.munmap(mapped, 8192),
        calls.mprotect(mapped, 4096, 1),
        calls.madvise(mapped + 4096, 4096, 4),
        calls.mmap(mapped, 4096, 3, 0x32, -1, 0),
        calls.munmap(anonymous, 4096),
      ]`,
      { handle: mman.share(), mapped, anonymous },
    );
    expect(results).toEqual([-13, -13, -13, -13, 0]);
    expect(mman.mappings().map((m) => [m.address, m.length, m.prot])).toEqual([[mapped, 8192, 3]]);
    expect(new Uint8Array(memory.buffer, mapped, 8192).every((byte) => byte === 7)).toBe(true);
    // The owner may do what the other thread could not.
    expect(mman.calls.munmap(mapped, 8192)).toBe(0);
  });
});

describe("shared engine handles", () => {
  it("share() needs a shared memory, and a handle is checked", () => {
    const plain = createMman();
    plain.attach(new WebAssembly.Memory({ initial: 2 }));
    expect(plain.shared).toBe(false);
    expect(() => plain.share()).toThrow(/shared memory/);
    expect(() => createMman({ shared: { kind: "other" } as never })).toThrow(/mman.share\(\)/);
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 64, shared: true });
    const first = createMman();
    first.attach({ memory, heapBase: 4096 });
    expect(() => createMman({ shared: first.share(), pageSize: 4096 })).toThrow(/comes from the shared handle/);
    // A second engine of the same thread on the same memory would be a second address space.
    expect(() => createMman({ shared: first.share() })).toThrow(/already works on this shared memory/);
  });
});
