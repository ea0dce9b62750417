/**
 * `wasi-mman cc -pthread`: C programs with POSIX threads, built against the posix-model
 * wasi-libc and guest/c/threads, run on runThreaded (a worker per thread, one shared memory,
 * the shared engine), and print exactly what the same source prints built natively with
 * `cc -pthread`:
 *
 *   fixtures/c-threads/pthread-alloc.c  4 threads of malloc/realloc/calloc/free over musl's
 *     heap and mmap tiers with checked patterns, a mutex counter, a condvar token ring, once
 *     and keys; under mallocng, oldmalloc and dlmalloc, both hosts, 4 and 64 KiB pages.
 *   fixtures/c-threads/pthread-api.c    each call's POSIX result: mutex types and errors,
 *     timed waits, barriers, detach, pthread_exit with a value, key reuse, stack size,
 *     detached threads ending in pthread_exit, read-write locks, flockfile, and pthread_exit
 *     in main while a thread runs on; every thread's mapping is released.
 *
 * Each run is a child process (test/c-threads-runner.ts), because the workers write the
 * program's stdout straight to file descriptor 1; the runs go side by side (most of a run is
 * starting its workers). After each run the shared engine's invariants are checked and its
 * counters read.
 */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { compileProgram, setCcProgress, type MallocChoice } from "../cli/cc.js";
import { cToolchainStatus } from "../scripts/build-c.js";
import { RESULT_MARK, hostCompiler, type RunnerResult } from "./c-threads-runner.js";

const FIXTURES = new URL("../fixtures/c-threads/", import.meta.url).pathname;
const RUNNER = new URL("./c-threads-runner.ts", import.meta.url).pathname;
const MALLOCS: readonly MallocChoice[] = ["mallocng", "oldmalloc", "dlmalloc"];
const HOSTS = ["shim", "node-wasi"] as const;
const PAGE_SIZES = [4096, 65536] as const;

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** C THREADS TESTS SKIPPED: ${toolchain.reason} ***\n`);

const native = toolchain.ok ? hostCompiler() : null;
if (toolchain.ok && native === null) console.warn("\n*** C THREADS: NO NATIVE cc/gcc/clang: OUTPUTS ARE CHECKED WITHOUT THE NATIVE COMPARISON ***\n");

interface ThreadedRun extends RunnerResult {
  stdout: string;
}

/**
 * One run in a child process whose stdout is a file, not a pipe: a pipe the parent drains
 * late makes the workers' writes fail with EAGAIN part way, and the program's stdio then
 * writes parts of its buffer twice (seen with runs side by side).
 */
async function runThreadedChild(wasm: string, host: (typeof HOSTS)[number], pageSize: number): Promise<ThreadedRun> {
  const outPath = `${wasm}.${host}.${pageSize}.stdout`;
  const out = openSync(outPath, "w");
  try {
    const child = spawn(process.execPath, ["--import", "tsx", RUNNER, host, String(pageSize), wasm], { stdio: ["ignore", out, "pipe"], timeout: 60_000 });
    let stderr = "";
    // stdio[2] is "pipe", so stderr is a stream (Node types it as possibly null).
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    await new Promise<void>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", () => resolve());
    });
    const line = stderr.split("\n").find((entry) => entry.startsWith(RESULT_MARK));
    if (line === undefined) throw new Error(`the runner reported nothing; stderr:\n${stderr}`);
    return { ...(JSON.parse(line.slice(RESULT_MARK.length)) as RunnerResult), stdout: readFileSync(outPath, "utf8") };
  } finally {
    closeSync(out);
  }
}

describe.skipIf(!toolchain.ok)("wasi-mman cc -pthread", () => {
  const work = mkdtempSync(join(tmpdir(), "wasi-mman-c-threads-"));
  const built = new Map<string, string>();
  const expected = new Map<string, string>();

  beforeAll(async () => {
    // The first build fetches and builds the posix sysroot (a minute or two, once).
    setCcProgress((line) => console.log(line));
    try {
      for (const malloc of MALLOCS) {
        const output = join(work, `pthread-alloc.${malloc}.wasm`);
        await compileProgram({ malloc, output, args: ["-pthread", "-O2", join(FIXTURES, "pthread-alloc.c")] });
        built.set(`alloc.${malloc}`, output);
      }
      const plainSource = join(work, "no-threads.c");
      writeFileSync(plainSource, '#include <stdio.h>\nint main(void) { printf("no thread created\\n"); return 0; }\n');
      const plain = join(work, "no-threads.wasm");
      await compileProgram({ malloc: "mallocng", output: plain, args: ["-pthread", "-O2", plainSource] });
      built.set("plain", plain);
      const api = join(work, "pthread-api.wasm");
      await compileProgram({ malloc: "mallocng", output: api, args: ["-pthread", "-O2", join(FIXTURES, "pthread-api.c")] });
      built.set("api", api);
    } finally {
      setCcProgress(null);
    }
    for (const name of ["pthread-alloc", "pthread-api"]) {
      if (native === null) continue;
      const binary = join(work, `${name}.native`);
      execFileSync(native, ["-O2", "-pthread", "-o", binary, join(FIXTURES, `${name}.c`)]);
      expected.set(name, execFileSync(binary, { encoding: "utf8" }));
    }
  }, 600_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test("a -pthread module imports a shared memory and wasi.thread-spawn and exports wasi_thread_start", () => {
    const module = new WebAssembly.Module(readFileSync(built.get("alloc.mallocng") as string));
    const imports = WebAssembly.Module.imports(module).map((entry) => `${entry.module}.${entry.name}:${entry.kind}`);
    expect(imports).toContain("wasi.thread-spawn:function");
    expect(imports).toContain("env.memory:memory");
    expect(imports).toContain("mman.mmap:function");
    const exports = WebAssembly.Module.exports(module).map((entry) => entry.name);
    expect(exports).toEqual(expect.arrayContaining(["wasi_thread_start", "_start", "__heap_base"]));
  });

  test("every export is unwrapped (no constructor calls around wasi_thread_start), and a program that creates no thread is still a wasi-threads module", async () => {
    // wasm-ld wraps exports in __wasm_call_ctors/__wasm_call_dtors unless _start calls the
    // constructors itself (guest/c/threads/crt/crt1-command.c); a wrapped wasi_thread_start
    // would run them on the main thread's stack and flush stdio whenever a thread ends.
    for (const name of ["alloc.mallocng", "plain"]) {
      const module = new WebAssembly.Module(readFileSync(built.get(name) as string));
      expect(WebAssembly.Module.imports(module).map((entry) => `${entry.module}.${entry.name}`)).toContain("wasi.thread-spawn");
    }
    const text = readFileSync(built.get("alloc.mallocng") as string).toString("latin1");
    expect(text).not.toContain("command_export");
    const result = await runThreadedChild(built.get("plain") as string, "shim", 4096);
    expect(result.exitCode).toBe(0);
    expect(result.threadsSpawned).toBe(0);
    expect(result.stdout).toBe("no thread created\n");
  }, 60_000);

  test("the native build prints the full workload (the reference the wasm runs must match)", () => {
    if (native === null) return;
    const reference = expected.get("pthread-alloc") as string;
    expect(reference).toMatch(/^counter=250 expected=250$/m);
    expect(reference).toMatch(/^handoffs=32 once=1 destructors=4 sum=10 joined=1$/m);
    expect(reference).not.toMatch(/bad=[1-9]/);
  });

  for (const malloc of MALLOCS) {
    for (const host of HOSTS) {
      for (const pageSize of PAGE_SIZES) {
        test.concurrent(`pthread-alloc.c, --malloc=${malloc}, ${host}, ${pageSize / 1024} KiB pages: same output as native; engine consistent`, async () => {
          const result = await runThreadedChild(built.get(`alloc.${malloc}`) as string, host, pageSize);
          expect(result.trap).toBeNull();
          expect(result.exitCode).toBe(0);
          expect(result.threadsSpawned).toBe(4);
          if (native !== null) expect(result.stdout).toBe(expected.get("pthread-alloc"));
          expect(result.stdout).toMatch(/^counter=250 expected=250$/m);
          expect(result.invariants).toBe("ok");
          const calls = result.calls as Record<string, number>;
          // Every thread's stack, TLS and struct is one mapping, unmapped by its joiner.
          expect(calls.mmap).toBeGreaterThanOrEqual(4);
          expect(calls.munmap).toBeGreaterThanOrEqual(4);
          if (malloc !== "dlmalloc") {
            // musl maps every block of 128 KiB and more (the workload has 57) and unmaps it on free.
            expect(calls.mmap).toBeGreaterThan(57);
            expect(calls.munmap).toBeGreaterThan(57);
          }
          expect(Object.values(result.errors as Record<string, number>).reduce((sum, count) => sum + count, 0) - (result.errors?.brk ?? 0)).toBe(0);
          if (malloc === "dlmalloc") expect(result.warnings.join("\n")).toMatch(/exports no __heap_base/);
          else expect(result.warnings).toEqual([]);
        }, 60_000);
      }
    }
  }

  for (const host of HOSTS) {
    test.concurrent(`pthread-api.c on ${host}: each call's result as native; main's pthread_exit waits for the last thread`, async () => {
      const result = await runThreadedChild(built.get("api") as string, host, 4096);
      expect(result.trap).toBeNull();
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/last thread: done after main's pthread_exit\n$/);
      if (native !== null) expect(result.stdout).toBe(expected.get("pthread-api"));
      expect(result.stdout).toMatch(/^recursive: lock=0 again=0 trylock=0 unlock x3=0,0,0 unlock once more=EPERM$/m);
      expect(result.stdout).toMatch(/^barrier: rounds=15 serial=5$/m);
      expect(result.invariants).toBe("ok");
      // The program allocates nothing itself: one mapping per thread, plus the main thread's
      // TLS block (pthread-create.c). Every thread's mapping is released (by its joiner, by
      // pthread_detach, or by a detached thread itself, pthread_exit included) except the one
      // still running when main's pthread_exit ended the process.
      const calls = result.calls as Record<string, number>;
      expect(result.threadsSpawned).toBe(16);
      expect(calls.mmap).toBe(result.threadsSpawned + 1);
      expect(calls.munmap).toBe(result.threadsSpawned - 1);
    }, 60_000);
  }
});
