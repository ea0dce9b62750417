/**
 * wasi-threads for node:wasi and browser_wasi_shim (hosts/threads.ts): the fixtures of
 * fixtures/threads/ run with a worker per thread over one shared memory.
 *   spawn-join.wat       4 threads spawned and joined on memory.atomic.wait32; tids unique, 1..
 *   exit-in-thread.wat   proc_exit(7) in a thread ends the process with 7 while _start waits
 *   trap-in-thread.wat   a trap in a thread ends the process with 134 while _start waits
 *   wait-loop.wat        100,000 waits in a loop counted in locals, in _start and a thread
 *   fd-per-thread.wat    a file _start opened is EBADF in a thread (node:wasi: one table per thread)
 * and once from dist/, imported as a user does ("wasi-mman/threads"), so the default worker
 * script is the built dist/hosts/thread-worker.js next to the entry.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compileWat } from "../cli/wat.js";
import { isThreadedModule, runThreaded } from "../hosts/threads.js";

const THREAD_FEATURES = { bulk_memory: true, mutable_globals: true, sign_extension: true, multi_value: true, threads: true };

export async function threadFixture(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const path = new URL(`../fixtures/threads/${name}.wat`, import.meta.url);
  return compileWat(readFileSync(path, "utf8"), `${name}.wat`, THREAD_FEATURES);
}

describe.each(["shim", "node-wasi"] as const)("thread-spawn with %s", (host) => {
  it("spawn-join.wat: 4 threads start, each with the tid thread-spawn returned; tids are unique and positive", async () => {
    const started = performance.now();
    const result = await runThreaded(await threadFixture("spawn-join"), { host, args: ["spawn-join"] });
    const elapsed = performance.now() - started;
    expect(result.exitCode).toBe(0);
    expect(result.trap).toBeNull();
    expect(result.threadsSpawned).toBe(4);
    const words = new Int32Array(result.memory.buffer);
    const returned = [...words.slice(4, 8)];
    const seen = [...words.slice(16, 20)];
    expect(seen).toEqual(returned);
    expect(new Set(returned).size).toBe(4);
    for (const tid of returned) expect(tid).toBeGreaterThan(0);
    console.log(`${host}: 4 threads spawned and joined in ${elapsed.toFixed(0)} ms (workers included)`);
  });

  it("wait-loop.wat: locals live across memory.atomic.wait32 in a loop keep their values, in _start and in a thread (Node 20's Liftoff lost them)", async () => {
    const result = await runThreaded(await threadFixture("wait-loop"), { host });
    expect(result.exitCode).toBe(0);
    expect([...new Int32Array(result.memory.buffer).slice(1, 4)]).toEqual([100000, 100000, 1]);
  });

  it("exit-in-thread.wat: proc_exit(7) in a thread ends the whole process with 7", async () => {
    const result = await runThreaded(await threadFixture("exit-in-thread"), { host });
    expect(result.exitCode).toBe(7);
    expect(result.trap).toBeNull();
  });

  it("trap-in-thread.wat: a trap in a thread ends the whole process with 134", async () => {
    const result = await runThreaded(await threadFixture("trap-in-thread"), { host });
    expect(result.exitCode).toBe(134);
    expect(result.trap).toMatch(/RuntimeError: unreachable/);
  });
});

describe("threaded modules", () => {
  it("are told from their wasi.thread-spawn import", async () => {
    expect(isThreadedModule(new WebAssembly.Module(await threadFixture("spawn-join")))).toBe(true);
    const plain = await compileWat('(module (memory (export "memory") 1) (func (export "_start")))');
    expect(isThreadedModule(new WebAssembly.Module(plain))).toBe(false);
  });
});

describe("descriptors under runThreaded (docs/semantics.md: one table per thread)", () => {
  it("fd-per-thread.wat with node:wasi: _start reads the file it opened; the same fd number in a thread is EBADF", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasi-mman-fd-thread-"));
    try {
      writeFileSync(join(dir, "in.txt"), "data");
      const result = await runThreaded(await threadFixture("fd-per-thread"), { host: "node-wasi", preopens: { "/data": dir } });
      expect(result.exitCode).toBe(0);
      const words = new Int32Array(result.memory.buffer);
      // Main's fd_read succeeded (errno 0) and read the file; the thread's failed with EBADF (8).
      expect([words[1], words[2]]).toEqual([0, 8]);
      expect(Buffer.from(result.memory.buffer, 1024, 4).toString()).toBe("data");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("from the built package", () => {
  it('"wasi-mman/threads" exports runThreaded; its default worker is found next to dist/hosts/threads.js', async () => {
    // The package's own name resolves through its "exports" (Node's self-reference).
    expect(import.meta.resolve("wasi-mman/threads")).toBe(new URL("../dist/hosts/threads.js", import.meta.url).href);
    const threads = (await import("wasi-mman/threads")) as typeof import("../hosts/threads.js");
    const result = await threads.runThreaded(await threadFixture("spawn-join"), { args: ["spawn-join"] });
    expect(result.exitCode).toBe(0);
    expect(result.threadsSpawned).toBe(4);
    expect(new Set(new Int32Array(result.memory.buffer).slice(16, 20)).size).toBe(4);
  });
});
