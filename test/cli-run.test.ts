// `wasi-mman run` end to end: each test spawns the command and checks exit code, stdout,
// stderr and files. Fixtures: fixtures/hosts/hello.wat (exits with argc - 1, 100 + step on a
// failed call), fixtures/hosts/upcase.wat (edits data.txt through a MAP_SHARED mapping),
// fixtures/wat/host-*.wat. .wat files are compiled by `run` itself.
//
// The command runs from the TypeScript sources (`node --import tsx cli/main.ts`), so a stale
// dist/ never answers for them; one test runs bin/wasi-mman.mjs itself.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, errLines, spawnNode, type Run } from "./helpers/cli.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-cli-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));


describe.concurrent("wasi-mman (dispatcher)", () => {
  it("bin/wasi-mman.mjs runs the command", async () => {
    const run = await spawnNode(["bin/wasi-mman.mjs", "run", "--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Usage: wasi-mman run");
  });

  it("lists the commands, exits 2 without one and for an unknown one", async () => {
    const none = await cli();
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/run .*\n.*cc .*\n.*compare/);
    const unknown = await cli("frobnicate");
    expect(unknown.code).toBe(2);
    expect(errLines(unknown)).toEqual(['wasi-mman: unknown command "frobnicate" (commands: run, cc, compare, demo)']);
  });

  it("delegates cc to its own module", async () => {
    const run = await cli("cc", "--help");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/wasi-mman cc/);
  });
});

describe.concurrent("wasi-mman run", () => {
  it("--help shows every option and an example", async () => {
    const run = await cli("run", "--help");
    expect(run.code).toBe(0);
    for (const option of ["--page-size", "--max-memory", "--growth", "--dir", "--ro-dir", "--env", "--stats", "--trace", "--strace"]) {
      expect(run.stdout).toContain(option);
    }
    expect(run.stdout).toMatch(/Example:\n\s+wasi-mman run /);
  });

  it("runs a .wat command: output passes through, the exit code is the module's, args after -- reach it", async () => {
    const plain = await cli("run", "fixtures/hosts/hello.wat");
    expect(plain).toEqual({ code: 0, stdout: "hello from mapped memory\n", stderr: "" });
    const withArgs = await cli("run", "fixtures/hosts/hello.wat", "--", "one", "--two", "3");
    expect(withArgs.code).toBe(3);
    // Options may follow the module; other arguments are the module's, and so is all after --.
    const mixed = await cli("run", "fixtures/hosts/hello.wat", "x", "--stats", "y", "--", "--stats");
    expect(mixed.code).toBe(3);
    expect(mixed.stderr).toMatch(/^statistic\s+value\n/);
  });

  it("--stats prints the statistics table to stderr after the module exits", async () => {
    const run = await cli("run", "--stats", "--page-size", "16k", "fixtures/hosts/hello.wat");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("hello from mapped memory\n");
    const lines = errLines(run);
    expect(lines[0]).toMatch(/^statistic\s+value$/);
    expect(run.stderr).toMatch(/\npage size\s+16 KiB\n/);
    expect(run.stderr).toMatch(/\npeak mapped\s+256 KiB\n/);
    expect(run.stderr).toMatch(/\nmmap calls\s+1\n/);
    expect(run.stderr).toMatch(/\nmremap calls\s+1\n/);
  });

  it("--page-size accepts 4k..64k and bytes, and refuses anything else with exit 2", async () => {
    const bytes = await cli("run", "--stats", "--page-size=65536", "fixtures/hosts/hello.wat");
    expect(bytes.code).toBe(0);
    expect(bytes.stderr).toMatch(/\npage size\s+64 KiB\n/);
    for (const bad of ["3k", "128k", "4097", "big"]) {
      const run = await cli("run", "--page-size", bad, "fixtures/hosts/hello.wat");
      expect(run.code, bad).toBe(2);
      expect(errLines(run), bad).toEqual([`wasi-mman run: --page-size: expected a power of two from 4k to 64k (4k, 8k, 16k, 32k, 64k, 16KiB or bytes), got "${bad}"`]);
      expect(run.stdout).toBe("");
    }
  });

  it("--max-memory caps linear memory: mmap fails with ENOMEM inside the module", async () => {
    // hello's memory starts at 128 KiB; its 128 KiB mapping cannot fit under 128k.
    const capped = await cli("run", "--max-memory", "128k", "--strace", "fixtures/hosts/hello.wat");
    expect(capped.code).toBe(102);
    expect(capped.stderr).toContain("mmap(0, 131072, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)\n");
    const roomy = await cli("run", "--max-memory", "1m", "fixtures/hosts/hello.wat");
    expect(roomy.code).toBe(0);
    const bad = await cli("run", "--max-memory", "12q", "fixtures/hosts/hello.wat");
    expect(bad.code).toBe(2);
    expect(errLines(bad)).toHaveLength(1);
    expect(bad.stderr).toContain("--max-memory");
  });

  it("--growth exact grows only what is needed; geometric by 1/16 of memory, at least 64 KiB", async () => {
    // host-many-maps makes 64 mappings of 16 KiB on a 64 KiB memory.
    const exact = await cli("run", "--stats", "--growth", "exact", "fixtures/wat/host-many-maps.wat");
    const geometric = await cli("run", "--stats", "--growth", "geometric", "fixtures/wat/host-many-maps.wat");
    expect(exact.code).toBe(0);
    expect(geometric.code).toBe(0);
    const grows = (run: Run) => Number(/\nmemory\.grow calls\s+(\d+)\n/.exec(run.stderr)?.[1]);
    // Exact: one wasm page per four mappings, 1 MiB in all = 16 calls.
    expect(grows(exact)).toBe(16);
    // Below 1 MiB, 1/16 of memory is less than the 64 KiB minimum step: the same 16 steps.
    // (Fewer, larger steps on a larger memory: test/engine.test.ts.)
    expect(grows(geometric)).toBe(16);
    expect(exact.stderr).toMatch(/\npeak linear memory\s+1\.06 MiB\n/);
    const bad = await cli("run", "--growth", "fast", "fixtures/hosts/hello.wat");
    expect(bad.code).toBe(2);
    expect(errLines(bad)).toEqual(['wasi-mman run: --growth: expected "exact" or "geometric", got "fast"']);
  });

  it("--env passes variables; a malformed one is exit 2", async () => {
    const run = await cli("run", "--env", "A=1", "--env", "B=two=2", "--env=C=", "fixtures/wat/host-env.wat");
    expect(run.code).toBe(3);
    // host-env.wat imports no mman function: one line says so (test/cli-notices.test.ts).
    expect(errLines(run)).toEqual([expect.stringMatching(/^wasi-mman: fixtures\/wat\/host-env.wat imports no mman functions/)]);
    const bad = await cli("run", "--env", "NOEQUALS", "fixtures/wat/host-env.wat");
    expect(bad.code).toBe(2);
    expect(errLines(bad)).toEqual(['wasi-mman run: --env: expected KEY=VALUE, got "NOEQUALS"']);
  });

  it("--dir preopens a host directory; a shared mapping's changes are written back to the host file", async () => {
    const dir = mkdtempSync(join(scratch, "dir-"));
    writeFileSync(join(dir, "data.txt"), "hello, mapped world\n");
    const run = await cli("run", "--strace", "--dir", `${dir}:/data`, "fixtures/hosts/upcase.wat");
    expect(run.code).toBe(0);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("HELLO, MAPPED WORLD\n");
    expect(run.stderr).toMatch(/^mmap\(0, 4096, PROT_READ\|PROT_WRITE, MAP_SHARED, 4, 0\) = 0x[0-9a-f]+$/m);
    expect(run.stderr).toMatch(/^msync\(0x[0-9a-f]+, 4096, MS_SYNC\) = 0$/m);
  });

  it("--ro-dir preopens read-only: the module cannot open the file for writing, the host file is untouched", async () => {
    const dir = mkdtempSync(join(scratch, "ro-"));
    writeFileSync(join(dir, "data.txt"), "stays lower case\n");
    const run = await cli("run", "--ro-dir", dir, "fixtures/hosts/upcase.wat");
    // upcase exits 11 when path_open fails.
    expect(run.code).toBe(11);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("stays lower case\n");
    const missing = await cli("run", "--dir", join(scratch, "no-such-dir"), "fixtures/hosts/upcase.wat");
    expect(missing.code).toBe(2);
    expect(errLines(missing)).toEqual([`wasi-mman run: --dir: no such directory: ${join(scratch, "no-such-dir")}`]);
  });

  it("--trace writes one JSON line per call: seq, call, args, result, errno name, time, durationUs", async () => {
    const file = join(scratch, "trace.jsonl");
    const run = await cli("run", "--trace", file, "fixtures/hosts/hello.wat");
    expect(run.code).toBe(0);
    const records = readFileSync(file, "utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    // pagesize() (hello's first call) may or may not be traced: see hosts-adapters.test.ts.
    expect(records.map((r) => r.call).filter((call) => call !== "pagesize")).toEqual(["brk", "brk", "mmap", "mremap", "munmap"]);
    for (const [i, record] of records.entries()) {
      expect(Object.keys(record)).toEqual(["seq", "call", "args", "result", "errno", "time", "durationUs"]);
      expect(record.seq).toBe(i + 1);
      expect(typeof record.time).toBe("number");
      expect(typeof record.durationUs).toBe("number");
    }
    const mmapRecord = records.find((r) => r.call === "mmap") as Record<string, unknown>;
    expect(mmapRecord).toMatchObject({ args: [0, 131072, 3, 0x22, -1, 0], errno: null });
    // Nothing is mapped yet: the mapping starts the wilderness, at the break rounded up to a page.
    const lastBreak = records.filter((r) => r.call === "brk").at(-1)?.result as number;
    expect(mmapRecord.result).toBe(Math.ceil(lastBreak / 4096) * 4096);

    const failing = join(scratch, "trace-enomem.jsonl");
    const capped = await cli("run", "--max-memory", "128k", "--trace", failing, "fixtures/hosts/hello.wat");
    expect(capped.code).toBe(102);
    const last = JSON.parse(readFileSync(failing, "utf8").trimEnd().split("\n").at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({ call: "mmap", result: -12, errno: "ENOMEM" });
  });

  it("--strace prints calls to stderr as strace does, interleaved with the module's output", async () => {
    const run = await cli("run", "--strace", "fixtures/hosts/hello.wat");
    expect(run.code).toBe(0);
    const lines = errLines(run).filter((line) => !line.startsWith("pagesize() = "));
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe("brk(0) = 0x10000");
    expect(lines[1]).toBe("brk(0x11000) = 0x11000");
    expect(lines[2]).toMatch(/^mmap\(0, 131072, PROT_READ\|PROT_WRITE, MAP_PRIVATE\|MAP_ANONYMOUS, -1, 0\) = 0x[0-9a-f]+$/);
    expect(lines[3]).toMatch(/^mremap\(0x[0-9a-f]+, 131072, 262144, MREMAP_MAYMOVE, 0\) = 0x[0-9a-f]+$/);
    expect(lines[4]).toMatch(/^munmap\(0x[0-9a-f]+, 262144\) = 0$/);
    expect(run.stdout).toBe("hello from mapped memory\n");
  });

  it("bad inputs: one line on stderr, exit 2", async () => {
    const garbage = join(scratch, "garbage.wasm");
    writeFileSync(garbage, Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1]));
    const badWat = join(scratch, "bad.wat");
    writeFileSync(badWat, "(module (func (result i32)))");
    const cases: [string[], RegExp][] = [
      [[], /^wasi-mman run: no module given/],
      [["missing.wasm"], /^wasi-mman run: cannot read missing\.wasm: no such file$/],
      [["fixtures"], /^wasi-mman run: cannot read fixtures: is a directory$/],
      [[garbage], /^wasi-mman run: invalid WebAssembly module: /],
      [[badWat], /^wasi-mman run: cannot compile .*bad\.wat:1:\d+: error: /],
      [["fixtures/wat/host-bad-import.wat"], /^wasi-mman run: the module imports the function mman\.mlock, which wasi-mman does not provide/],
      [["fixtures/wat/host-bad-signature.wat"], /^wasi-mman run: the module imports mman\.mmap with signature \(i32, i32, i32, i32, i32, i32\) -> i32, but/],
      [["fixtures/wat/host-reactor.wat"], /^wasi-mman run: .*exports no _start/],
      [["--no-such-option", "x.wasm"], /^wasi-mman run: unknown option --no-such-option/],
      [["--page-size"], /^wasi-mman run: --page-size needs a value$/],
      [["--stats=yes", "x.wasm"], /^wasi-mman run: --stats takes no value$/],
      [["--trace", join(scratch, "no", "such", "dir", "t.jsonl"), "fixtures/hosts/hello.wat"], /^wasi-mman run: --trace: cannot write .*: ENOENT$/],
    ];
    await Promise.all(
      cases.map(async ([args, pattern]) => {
        const run = await cli("run", ...args);
        expect(run.code, args.join(" ")).toBe(2);
        expect(errLines(run), args.join(" ")).toHaveLength(1);
        expect(errLines(run)[0], args.join(" ")).toMatch(pattern);
        expect(run.stdout).toBe("");
      }),
    );
  });

  it("a trap is reported in one line with exit 134, after the calls it made", async () => {
    const run = await cli("run", "--strace", "fixtures/wat/host-trap.wat");
    expect(run.code).toBe(134);
    const lines = errLines(run);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^mmap\(/);
    expect(lines[1]).toMatch(/^wasi-mman: the module trapped: unreachable/);
  });
});
