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
