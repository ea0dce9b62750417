/**
 * `wasi-mman run` with a wasi-threads module (it imports wasi.thread-spawn): the command runs it
 * through runThreaded, a worker per thread over one shared memory and one engine. Fixtures of
 * fixtures/threads/: spawn-join.wat (4 threads joined, prints "joined 4"), exit-in-thread.wat
 * (proc_exit(7) in a thread), trap-in-thread.wat, argv-env.wat (a thread writes its argv and
 * environment and exits with argc * 16 + envc), mman-churn.wat (4 threads on the mman imports).
 * .wat files are compiled by `run` itself, with the threads feature.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refuseThreadedOptions, THREADED_REFUSALS } from "../cli/run-threads.js";
import { cli, errLines } from "./helpers/cli.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-cli-threads-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const THREADS = "fixtures/threads";

describe.concurrent("wasi-mman run, threaded modules", () => {
  it("spawn-join.wat: 4 threads spawned and joined, the output passes through, exit 0", async () => {
    const run = await cli("run", `${THREADS}/spawn-join.wat`);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("joined 4\n");
    // It imports no mman function: said, as for one thread.
    expect(errLines(run)).toEqual([expect.stringMatching(/spawn-join\.wat imports no mman functions, so nothing is tracked/)]);
  });

  it("proc_exit(7) in a thread ends the process with 7; a trap in a thread with 134 and one line", async () => {
    const exit = await cli("run", `${THREADS}/exit-in-thread.wat`);
    expect(exit.code).toBe(7);
    const trap = await cli("run", `${THREADS}/trap-in-thread.wat`);
    expect(trap.code).toBe(134);
    expect(errLines(trap)).toContain("wasi-mman: the module trapped: unreachable");
  });

  it("args (after the module and after --) and --env reach the threads", async () => {
    const run = await cli("run", "--env", "COLOUR=blue", `${THREADS}/argv-env.wat`, "one", "--env", "SIZE=2", "--", "--two");
    expect(run.code).toBe(3 * 16 + 2);
    expect(run.stdout).toBe(`${THREADS}/argv-env.wat\0one\0--two\0COLOUR=blue\0SIZE=2\0`);
  });

  it("--page-size, --growth and --stats: the shared engine's table counts every thread's calls", async () => {
    const run = await cli("run", "--page-size", "64k", "--growth", "exact", "--max-memory", "192m", "--stats", `${THREADS}/mman-churn.wat`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^statistic\s+value\n/);
    expect(run.stderr).toMatch(/\npage size\s+64 KiB\n/);
    const mmaps = Number(/\nmmap calls\s+([\d,]+)/.exec(run.stderr)?.[1].replace(/,/g, ""));
    // 4 threads of 2000 rounds, about a quarter of them mmap.
    expect(mmaps).toBeGreaterThan(1000);
  }, 60_000);

  it("--max-memory reaches the shared engine: a limit below what the threads need ends with a failed check", async () => {
    // mman-churn's first failed check is its exit status: 1 is an mmap that failed, 5 an mremap.
    const run = await cli("run", "--max-memory", "1m", "--page-size", "64k", `${THREADS}/mman-churn.wat`);
    expect([1, 5]).toContain(run.code);
  }, 60_000);

  // Through the command for three of them; refuseThreadedOptions below covers every one.
  it.each([["--guard"], ["-c"], ["--html", "report.html"]])("%s is refused for a threaded module with exit 2, naming the option", async (...option) => {
    const run = await cli("run", ...option.map((part) => (part.endsWith(".html") ? join(scratch, part) : part)), `${THREADS}/spawn-join.wat`);
    expect(run.code).toBe(2);
    const name = option[0] === "-c" ? "--strace-summary" : option[0];
    expect(errLines(run)).toEqual([expect.stringMatching(new RegExp(`^wasi-mman run: ${name} is not supported for a threaded module \\(it imports wasi.thread-spawn\\): `))]);
    expect(run.stdout).toBe("");
  });

  it("a threaded module that cannot run here is a usage error (exit 2), named before any thread starts", async () => {
    const unshared = join(scratch, "unshared.wat");
    writeFileSync(unshared, '(module (import "wasi" "thread-spawn" (func (param i32) (result i32))) (import "env" "memory" (memory 1 1)) (func (export "_start")))');
    const missing = join(scratch, "missing.wat");
    writeFileSync(missing, '(module (import "wasi" "thread-spawn" (func (param i32) (result i32))) (import "env" "frobnicate" (func)) (import "env" "memory" (memory 1 1 shared)) (func (export "_start")))');
    const wrongMman = join(scratch, "wrong-mman.wat");
    writeFileSync(wrongMman, '(module (import "wasi" "thread-spawn" (func (param i32) (result i32))) (import "mman" "mmap" (func (param i32) (result i32))) (import "env" "memory" (memory 1 1 shared)) (func (export "_start")))');
    const [a, b, c] = await Promise.all([cli("run", unshared), cli("run", missing), cli("run", wrongMman)]);
    expect([a.code, b.code, c.code]).toEqual([2, 2, 2]);
    expect(errLines(a)).toEqual([expect.stringMatching(/^wasi-mman run: a threaded module must import a shared memory; env\.memory is not shared$/)]);
    expect(errLines(b)).toEqual(["wasi-mman run: the module imports the function env.frobnicate, which nothing provides"]);
    expect(errLines(c)).toEqual([expect.stringMatching(/^wasi-mman run: the module imports mman\.mmap with signature .* but the mman ABI declares/)]);
  });

  it("--help tells what a threaded module gets", async () => {
    const run = await cli("run", "--help");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/wasi\.thread-spawn/);
    expect(run.stdout).toMatch(/refused/);
  });
});

describe("refuseThreadedOptions", () => {
  it("names each option run cannot honour for threads, with its reason; the others pass", () => {
    const refused = ["--dir", "--ro-dir", "--trace", "--strace", "--strace-summary", "--strace-output", "--html", "--guard"];
    expect(Object.keys(THREADED_REFUSALS).sort()).toEqual([...refused].sort());
    for (const option of refused) {
      expect(() => refuseThreadedOptions((given) => given === option), option).toThrow(new RegExp(`^${option} is not supported for a threaded module \\(it imports wasi.thread-spawn\\): ${THREADED_REFUSALS[option]}$`));
    }
    expect(() => refuseThreadedOptions((given) => ["--page-size", "--max-memory", "--growth", "--env", "--stats"].includes(given))).not.toThrow();
  });
});
