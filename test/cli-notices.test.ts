// No silent cases in `wasi-mman run` (issue 13, item 2): a module that imports no mman
// function gets one line saying nothing is tracked; a module built to have no __heap_base gets
// no wrong hint about it; a call refused at the memory limit is named with the limit at exit;
// SIGINT still writes --stats and the trace, and exits 130.
// Fixtures: fixtures/wat/host-argc.wat (no mman imports), fixtures/hosts/hello.wat,
// fixtures/cli/until-enomem.wat (maps until ENOMEM, declared maximum 2 MiB),
// fixtures/cli/spin.wat (maps and unmaps forever).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildNoteSection, readBuildNote } from "../hosts/instantiate.js";
import { runWithShim } from "../hosts/shim.js";
import { cli, errLines, startNode } from "./helpers/cli.js";
import { watToWasm } from "./helpers/wat.js";

const scratch = mkdtempSync(join(tmpdir(), "wasi-mman-notices-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const NO_MMAN =
  "wasi-mman: fixtures/wat/host-argc.wat imports no mman functions, so nothing is tracked: its allocator grows memory itself " +
  "(build it with `wasi-mman cc` to put malloc on the memory calls)";

describe.concurrent("a module that never calls the memory calls", () => {
  it("gets one line saying nothing is tracked, and no heap-base hint; its exit code stays", async () => {
    const run = await cli("run", "fixtures/wat/host-argc.wat", "a", "b");
    expect(run.code).toBe(3);
    expect(errLines(run)).toEqual([NO_MMAN]);
  });

  it("the library gives no heap-base hint for it either", async () => {
    const bytes = await watToWasm(readFileSync("fixtures/wat/host-argc.wat", "utf8"));
    const warnings: string[] = [];
    const result = await runWithShim(bytes, { onWarning: (line) => warnings.push(line) });
    expect(result.exitCode).toBe(1);
    expect(warnings).toEqual([]);
    expect(result.attachInfo.heapBaseSource).toBe("memory-size");
  });
});

describe.concurrent("a module without __heap_base", () => {
  // Imports mman, exports no __heap_base: a dlmalloc build as far as the host can tell.
  const text = `(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (import "mman" "pagesize" (func $pagesize (result i32)))
    (memory (export "memory") 1)
    (func (export "_start") (drop (call $pagesize))))`;

  it("is told to export it when nothing says its absence is deliberate", async () => {
    const warnings: string[] = [];
    await runWithShim(await watToWasm(text), { onWarning: (line) => warnings.push(line) });
    expect(warnings).toEqual([expect.stringMatching(/exports no __heap_base.*--export=__heap_base/)]);
  });

  it("is not, when its build note (what `wasi-mman cc --malloc=dlmalloc` writes) says the break starts above its memory", async () => {
    const plain = await watToWasm(text);
    const noted = new Uint8Array([...plain, ...buildNoteSection({ tool: "wasi-mman cc", malloc: "dlmalloc", heapBase: "memory-size" })]);
    expect(readBuildNote(new WebAssembly.Module(noted))).toEqual({ tool: "wasi-mman cc", malloc: "dlmalloc", heapBase: "memory-size" });
    const warnings: string[] = [];
    const result = await runWithShim(noted, { onWarning: (line) => warnings.push(line) });
    expect(warnings).toEqual([]);
    expect(result.attachInfo).toEqual({ heapBase: 65536, heapBaseSource: "memory-size" });
  });
});

describe.concurrent("the memory limit", () => {
  it("the declared maximum: the refused mmap is named with the limit, with its errno text", async () => {
    const run = await cli("run", "fixtures/cli/until-enomem.wat");
    expect(run.code).toBe(1);
    expect(errLines(run)).toEqual([
      "wasi-mman: out of memory: mmap(0, 1048576, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory): " +
        "linear memory is 1.06 MiB and may not grow past the module's declared maximum (2 MiB, 32 wasm pages)",
    ]);
  });

  it("--max-memory, below the declared maximum, is the limit named", async () => {
    const run = await cli("run", "--max-memory", "1m", "fixtures/cli/until-enomem.wat");
    expect(run.code).toBe(1);
    expect(errLines(run)).toEqual([expect.stringMatching(/^wasi-mman: out of memory: mmap\(0, 1048576, .*: linear memory is 64 KiB and may not grow past --max-memory 1 MiB$/)]);
  });

  it("a refused brk is named when the program then fails", async () => {
    const run = await cli("run", "--max-memory", "64k", "fixtures/hosts/hello.wat");
    expect(run.code).toBe(101);
    expect(errLines(run)).toEqual(["wasi-mman: out of memory: brk(0x11000) = 0x10000 (refused): linear memory is 128 KiB and may not grow past --max-memory 64 KiB"]);
  });

  it("nothing is said when nothing was refused", async () => {
    const run = await cli("run", "fixtures/hosts/hello.wat");
    expect(run).toEqual({ code: 0, stdout: "hello from mapped memory\n", stderr: "" });
  });
});

describe("SIGINT", () => {
  it("ends the run with 130 after writing --stats and the whole trace", async () => {
    const trace = join(scratch, "spin.jsonl");
    const running = startNode(["--import", "tsx", "cli/main.ts", "run", "--stats", "--trace", trace, "fixtures/cli/spin.wat"]);
    // The module is running once the first 64 KiB chunk of the trace is written.
    const started = Date.now();
    while (!(existsSync(trace) && statSync(trace).size > 0)) {
      if (Date.now() - started > 30_000) throw new Error("the module never started");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    running.child.kill("SIGINT");
    const run = await running.done;
    // The signal and stderr say what happened when it is not 130.
    expect({ code: run.code, signal: running.child.signalCode }, run.stderr).toEqual({ code: 130, signal: null });
    const lines = errLines(run);
    expect(lines[0]).toBe("wasi-mman: interrupted (SIGINT); writing what the run has so far");
    expect(lines[1]).toMatch(/^statistic\s+value$/);
    // Every call is in the trace, the last line whole; the counts agree with --stats.
    const records = readFileSync(trace, "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as { seq: number; call: string });
    expect(records.at(-1)?.seq).toBe(records.length);
    // The counts agree with --stats but for the one call SIGINT may have stopped between its
    // count and its trace line (Node's breakOnSigint ends the script between any two steps).
    const mmapCalls = records.filter((record) => record.call === "mmap").length;
    const counted = Number(/mmap calls\s+(\d+)\n/.exec(run.stderr)?.[1]);
    expect(counted - mmapCalls, run.stderr).toBeGreaterThanOrEqual(0);
    expect(counted - mmapCalls, run.stderr).toBeLessThanOrEqual(1);
  });
});
