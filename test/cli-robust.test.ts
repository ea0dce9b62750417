// `wasi-mman run` where the host side goes wrong or the module misbehaves: preopened
// directories written back only where the module changed them, shared mappings still live at
// exit, unreadable and unwritable host files, symbolic link loops, traps the engine reports
// as RangeError, closed or full stdout/stderr, and a --trace file that cannot be written.
// Each test spawns the command and checks exit code, output and host files.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, errLines, repoRoot, type Run } from "./helpers/cli.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-robust-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CLI = ["--import", "tsx", "cli/main.ts"];

/**
 * `wasi-mman <args>` with stdout going to `stdoutFd` (a host file), or with stdout and/or
 * stderr pipes whose reading end is closed right away (before node has even started), so that
 * every write to them fails with EPIPE.
 */
function cliWith(args: string[], setup: { stdoutFd?: number; closeStdout?: boolean; closeStderr?: boolean }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...CLI, ...args], { cwd: repoRoot, stdio: ["ignore", setup.stdoutFd ?? "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    if (setup.closeStdout === true) child.stdout?.destroy();
    else child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    if (setup.closeStderr === true) child.stderr?.destroy();
    else child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe.concurrent("wasi-mman run --dir write-back", () => {
  it("leaves host files the module did not touch as the host wrote them (stdout redirected into the dir, --trace there)", async () => {
    const dir = mkdtempSync(join(scratch, "redirect-"));
    const out = join(dir, "out.txt");
    const trace = join(dir, "trace.jsonl");
    // As `> dir/out.txt` does: the file exists, empty, when the directory is loaded.
    const fd = openSync(out, "w");
    const run = await cliWith(["run", "--dir", dir, "--trace", trace, "fixtures/hosts/hello.wat"], { stdoutFd: fd });
    closeSync(fd);
    expect(run.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("hello from mapped memory\n");
    const calls = readFileSync(trace, "utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { call: string }).call);
    expect(calls.filter((call) => call !== "pagesize")).toEqual(["brk", "brk", "mmap", "mremap", "munmap"]);
  });

  it("the same host directory preopened twice: the second, unchanged, does not undo the first's edit", async () => {
    const dir = mkdtempSync(join(scratch, "twice-"));
    writeFileSync(join(dir, "data.txt"), "edited through fd 3\n");
    // upcase edits data.txt in the first preopen (fd 3) only.
    const run = await cli("run", "--dir", `${dir}:/x`, "--dir", `${dir}:/y`, "fixtures/hosts/upcase.wat");
    expect(run.code).toBe(0);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("EDITED THROUGH FD 3\n");
  });

  it("a MAP_SHARED mapping still live at exit is written back, without a call in the trace or the counts", async () => {
    const dir = mkdtempSync(join(scratch, "live-"));
    writeFileSync(join(dir, "data.txt"), "never synced by the module\n");
    const run = await cli("run", "--strace", "--stats", "--dir", dir, "fixtures/wat/host-upcase-nosync.wat");
    expect(run.code).toBe(0);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("NEVER SYNCED BY THE MODULE\n");
    expect(run.stderr).toMatch(/^mmap\(0, 4096, PROT_READ\|PROT_WRITE, MAP_SHARED, 4, 0\) = 0x[0-9a-f]+$/m);
    expect(run.stderr).not.toMatch(/^msync\(/m);
    expect(run.stderr).not.toMatch(/\nmsync calls\s+[1-9]/);
  });

  it("a file that cannot be written back is one warning line; the others are written, the exit code and --stats stay", async () => {
    const dir = mkdtempSync(join(scratch, "wb-fail-"));
    writeFileSync(join(dir, "data.txt"), "a file on the host\n");
    // The module replaces data.txt with a directory (which cannot replace the host's file),
    // then creates new.txt.
    const run = await cli("run", "--stats", "--dir", dir, "fixtures/wat/host-replace-with-dir.wat");
    expect(run.code).toBe(5);
    // The fixture imports no mman function: the first line says so (test/cli-notices.test.ts).
    const [notice, ...lines] = errLines(run);
    expect(notice).toMatch(/imports no mman functions/);
    expect(lines[0]).toBe(`wasi-mman: --dir: cannot create directory ${join(dir, "data.txt")}: a file of that name is in the way`);
    expect(lines[1]).toMatch(/^statistic\s+value$/);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("a file on the host\n");
    expect(readFileSync(join(dir, "new.txt"), "utf8")).toBe("new\n");
  });

  it("a file that cannot be loaded is a one-line usage error, exit 2, before the module runs", async () => {
    const dir = mkdtempSync(join(scratch, "unreadable-"));
    const big = join(dir, "big.bin");
    // Sparse: 2 GiB + 1 byte of nothing, more than Node reads into one buffer.
    closeSync(openSync(big, "w"));
    truncateSync(big, 2 ** 31 + 1);
    for (const option of ["--dir", "--ro-dir"]) {
      const run = await cli("run", option, dir, "fixtures/hosts/hello.wat");
      expect(run.code, option).toBe(2);
      expect(errLines(run), option).toEqual([`wasi-mman run: ${option}: cannot read ${big}: file too large to load (2 GiB or more)`]);
      expect(run.stdout, option).toBe("");
    }
  });

  it("a symbolic link loop is left out instead of being followed forever", async () => {
    const dir = mkdtempSync(join(scratch, "loop-"));
    mkdirSync(join(dir, "sub"));
    symlinkSync("..", join(dir, "sub", "up"));
    symlinkSync(".", join(dir, "self"));
    writeFileSync(join(dir, "data.txt"), "in a tree with loops\n");
    const run = await cli("run", "--dir", dir, "fixtures/hosts/upcase.wat");
    expect(run.code).toBe(0);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("IN A TREE WITH LOOPS\n");
  }, 30_000);
});

describe.concurrent("wasi-mman run: traps reported as RangeError", () => {
  it("a stack overflow is a trap: exit 134, one line, --stats and --trace still written", async () => {
    const trace = join(scratch, "overflow.jsonl");
    const run = await cli("run", "--stats", "--trace", trace, "fixtures/wat/host-stack-overflow.wat");
    expect(run.code).toBe(134);
    const lines = errLines(run);
    expect(lines[0]).toBe("wasi-mman: the module trapped: Maximum call stack size exceeded");
    expect(lines[1]).toMatch(/^statistic\s+value$/);
    expect(run.stderr).toMatch(/\nmmap calls\s+1\n/);
    expect((JSON.parse(readFileSync(trace, "utf8").trimEnd().split("\n").at(-1) as string) as { call: string }).call).toBe("mmap");
  });

  it("a pointer past the end of memory handed to WASI is a trap: exit 134", async () => {
    const run = await cli("run", "--stats", "fixtures/wat/host-bad-pointer.wat");
    expect(run.code).toBe(134);
    const lines = errLines(run);
    expect(lines[0]).toMatch(/^wasi-mman: the module trapped: /);
    expect(lines[1]).toMatch(/^statistic\s+value$/);
  });
});

describe.concurrent("wasi-mman run: host output that cannot be written", () => {
  it("stdout on a full device: the module's fd_write gets ENOSPC (51) and its exit code is the run's", async () => {
    const fd = openSync("/dev/full", "w");
    const run = await cliWith(["run", "fixtures/wat/host-write-status.wat"], { stdoutFd: fd });
    closeSync(fd);
    // Only the notice that the fixture imports no mman function (test/cli-notices.test.ts).
    expect(errLines(run)).toEqual([expect.stringMatching(/imports no mman functions/)]);
    expect(run.code).toBe(51);
  });

  it("stdout to a closed pipe: the module's fd_write gets EPIPE (64)", async () => {
    const run = await cliWith(["run", "fixtures/wat/host-write-status.wat"], { closeStdout: true });
    expect(errLines(run)).toEqual([expect.stringMatching(/imports no mman functions/)]);
    expect(run.code).toBe(64);
  });

  it("--strace and --stats to a closed stderr: the run still ends with the module's exit code", async () => {
    const run = await cliWith(["run", "--strace", "--stats", "fixtures/hosts/hello.wat", "--", "a", "b"], { closeStderr: true });
    expect(run.stdout).toBe("hello from mapped memory\n");
    expect(run.code).toBe(2);
  });

  it("a --trace file that cannot be written: one line, tracing stops, the run, write-back and --stats go on", async () => {
    const dir = mkdtempSync(join(scratch, "trace-full-"));
    writeFileSync(join(dir, "data.txt"), "still written back\n");
    const run = await cli("run", "--stats", "--trace", "/dev/full", "--dir", dir, "fixtures/hosts/upcase.wat");
    expect(run.code).toBe(0);
    const lines = errLines(run);
    expect(lines[0]).toBe("wasi-mman: --trace: cannot write /dev/full: ENOSPC; tracing stopped");
    expect(lines[1]).toMatch(/^statistic\s+value$/);
    expect(lines.filter((line) => line.includes("--trace"))).toHaveLength(1);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("STILL WRITTEN BACK\n");
  });
});
