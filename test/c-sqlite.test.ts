/**
 * A real program on the memory calls: SQLite 3.40.1 (Debian source package sqlite3) running a
 * fixed in-memory workload (fixtures/c/sqlite/workload.c), built with `wasi-mman cc` under
 * mallocng, oldmalloc and dlmalloc. Its output must equal the same program built natively.
 *
 * Host: browser_wasi_shim. node:wasi in Node 20.20 crashes the process (SIGSEGV, or a corrupted
 * JavaScript heap) after a program that writes to stdout has grown its memory a few hundred
 * times, whoever grows it (the module's own memory.grow included), so the long workload runs
 * under one host; the fixtures cover node:wasi.
 */
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, test } from "vitest";
import { buildSqlite, cToolchainStatus, type SqliteBuild } from "../scripts/build-c.js";
import { runC } from "./c-helpers.js";

const toolchain = cToolchainStatus();
let tclMissing = false;
try {
  execFileSync("sh", ["-c", "command -v tclsh && command -v gcc && command -v make"], { stdio: "ignore" });
} catch {
  tclMissing = true;
}
const skipReason = !toolchain.ok ? toolchain.reason : tclMissing ? "SQLite's amalgamation needs tclsh, gcc and make (Debian: tcl gcc make)" : "";
if (skipReason) console.warn(`\n*** C SQLITE TEST SKIPPED: ${skipReason} ***\n`);

describe.skipIf(skipReason !== "")("SQLite workload under each allocator matches the native build", () => {
  let build: SqliteBuild;
  let expected: string;
  beforeAll(async () => {
    build = await buildSqlite();
    expected = execFileSync(build.native, { encoding: "utf8" });
  });

  test("the native output is the full workload", () => {
    expect(expected).toContain("-- groups\n0|");
    expect(expected.trimEnd().endsWith("done")).toBe(true);
  });

  for (const pageSize of [4096, 65536]) {
    test(`mallocng, ${pageSize / 1024} KiB pages: same output; groups mapped and unmapped, large blocks remapped`, async () => {
      const run = await runC(build.wasm.mallocng, { host: "browser_wasi_shim", pageSize, trace: false });
      expect(run.stdout).toBe(expected);
      expect(run.exitCode).toBe(0);
      run.mman.checkInvariants();
      const { calls } = run.mman.stats();
      expect(calls.mmap).toBeGreaterThan(100);
      expect(calls.munmap).toBeGreaterThan(100);
      expect(calls.mremap).toBeGreaterThan(0);
    });

    test(`oldmalloc, ${pageSize / 1024} KiB pages: same output; heap on brk, large blocks on mmap and mremap`, async () => {
      const run = await runC(build.wasm.oldmalloc, { host: "browser_wasi_shim", pageSize, trace: false });
      expect(run.stdout).toBe(expected);
      expect(run.exitCode).toBe(0);
      run.mman.checkInvariants();
      const stats = run.mman.stats();
      expect(stats.calls.brk).toBeGreaterThan(2);
      expect(stats.peak.brkBytes).toBeGreaterThan(256 << 10);
      expect(stats.calls.mmap).toBeGreaterThan(0);
      expect(stats.calls.mremap).toBeGreaterThan(0);
    });
  }

  test("dlmalloc: same output; wasi-libc's allocator grows memory itself", async () => {
    const run = await runC(build.wasm.dlmalloc, { host: "browser_wasi_shim", pageSize: 4096, trace: false });
    expect(run.stdout).toBe(expected);
    expect(run.exitCode).toBe(0);
    const stats = run.mman.stats();
    expect(stats.calls.mmap + stats.calls.brk).toBe(0);
    expect(stats.foreignBytes).toBeGreaterThan(1 << 20);
    // Without an exported __heap_base the host starts above the memory dlmalloc claims.
    expect(run.warnings.join("\n")).toMatch(/heap/i);
  });
});
