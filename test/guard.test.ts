/**
 * Guard mode (issue #15): C fixtures in fixtures/c/guard/ that touch memory they may not, each
 * caught with the report that names what was touched; correct programs (fixtures/c and the
 * SQLite workload) give the same verdict and output under the guard, and the table the guard
 * keeps equals the one the engine's state gives at exit.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";
import { cBuildDir, compileProgram, type MallocChoice } from "../cli/cc.js";
import { buildFixture, buildSqlite, cToolchainStatus, type CFixture } from "../scripts/build-c.js";
import { createGuardedMman, EXIT_SEGV, GuardAttachError, type GuardedMman } from "../guard/guard.js";
import { instrument } from "../guard/instrument.js";
import { runWithShim } from "../hosts/shim.js";
import { shimFileResolver } from "../hosts/shim-files.js";
import { createMman } from "../syscalls/create-mman.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** GUARD TESTS SKIPPED: ${toolchain.reason} ***\n`);

interface GuardRun {
  exitCode: number | null;
  stdout: string;
  report: string | null;
  error: unknown;
  mman: GuardedMman | null;
}

async function run(bytes: Uint8Array, pageSize: number, guarded: boolean): Promise<GuardRun> {
  const out: string[] = [];
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered((line) => out.push(line)), ConsoleStdout.lineBuffered(() => {})];
  const wasi = new WASI(["prog"], [], fds, { debug: false });
  // runWithShim takes a given engine as it is: the file resolver must come with it.
  const files = shimFileResolver(wasi);
  const mman = guarded ? createGuardedMman({ pageSize, files }) : createMman({ pageSize, files });
  try {
    const result = await runWithShim(bytes as Uint8Array<ArrayBuffer>, { wasi, mman, run: "command" });
    return { exitCode: result.exitCode, stdout: out.join("\n"), report: null, error: null, mman: guarded ? (mman as GuardedMman) : null };
  } catch (error) {
    const report = guarded ? (mman as GuardedMman).guard.report(error) : null;
    return { exitCode: report === null ? null : EXIT_SEGV, stdout: out.join("\n"), report, error, mman: guarded ? (mman as GuardedMman) : null };
  }
}

/**
 * Builds fixtures/c/guard/<name>.c with mallocng. Without node_modules/.bin on PATH: clang
 * runs wasm-opt after linking when it finds one there (npm puts binaryen's there under
 * vitest), and wasm-opt drops the name section the report takes function names from.
 */
async function buildGuardFixture(name: string, malloc: MallocChoice = "mallocng"): Promise<Uint8Array> {
  const output = join(cBuildDir(), "guard", malloc === "mallocng" ? `${name}.wasm` : `${name}.${malloc}.wasm`);
  const path = process.env.PATH;
  process.env.PATH = (path ?? "").split(":").filter((dir) => !dir.includes("node_modules")).join(":");
  try {
    await compileProgram({ malloc, output, args: ["-O2", "-Wall", "-Werror", join("fixtures", "c", "guard", `${name}.c`)] });
  } finally {
    process.env.PATH = path;
  }
  return instrument(readFileSync(output)).bytes;
}

// Each fixture: what it prints before the fault, and what the report must say.
const FAULTS: { name: string; printed: RegExp; access: RegExp; page: RegExp; fn: RegExp }[] = [
  { name: "use-after-munmap", printed: /^mapped \d+ bytes$/, access: /invalid write of 1 byte at 0x[0-9a-f]+ \(store\)/, page: /unmapped by call #\d+ munmap\(0x[0-9a-f]+, \d+\) = 0/, fn: /in __original_main/ },
  { name: "write-readonly", printed: /^read 7$/, access: /invalid write of 4 bytes/, page: /PROT_READ part of an anonymous mapping .*last changed by call #\d+ mprotect\(0x[0-9a-f]+, \d+, PROT_READ\)/, fn: /in __original_main/ },
  { name: "read-prot-none", printed: /^first page opened$/, access: /invalid read of 1 byte/, page: /PROT_NONE reservation/, fn: /in __original_main/ },
  { name: "heap-underflow", printed: /^heap at /, access: /invalid write of 1 byte/, page: /mallocng's guard page: a PROT_NONE page mapped with MAP_FIXED at the start of the brk area/, fn: /in __original_main/ },
  { name: "null-deref", printed: /^one node$/, access: /invalid read of 4 bytes at 0x0 \(load\)/, page: /null pointer/, fn: /in second/ },
  { name: "large-use-after-free", printed: /^block of 200000 bytes$/, access: /invalid write of 1 byte/, page: /unmapped by call #\d+ munmap\(0x[0-9a-f]+, \d+\) = 0/, fn: /in __original_main/ },
];

describe.skipIf(!toolchain.ok)("guard: faults", () => {
  const built = new Map<string, Uint8Array>();
  beforeAll(async () => {
    Error.stackTraceLimit = 50; // the whole wasm stack in the report
    for (const fault of FAULTS) built.set(fault.name, await buildGuardFixture(fault.name));
  });

  for (const fault of FAULTS) {
    for (const pageSize of [4096, 65536]) {
      test(`${fault.name}, ${pageSize / 1024} KiB pages: trapped with its report`, async () => {
        const result = await run(built.get(fault.name) as Uint8Array, pageSize, true);
        expect(result.error).toBeInstanceOf(WebAssembly.RuntimeError);
        expect(result.stdout).toMatch(fault.printed);
        expect(result.stdout).not.toMatch(/not caught/);
        const report = result.report ?? "";
        expect(report).toMatch(fault.access);
        expect(report).toMatch(fault.page);
        expect(report).toMatch(fault.fn);
        expect(report).toMatch(/wasm stack:\n {4}at /);
        expect(result.exitCode).toBe(EXIT_SEGV);
      });
    }
  }

  test("use-after-munmap in a dlmalloc build (no __heap_base): trapped with its report", async () => {
    const result = await run(await buildGuardFixture("use-after-munmap", "dlmalloc"), 4096, true);
    expect(result.stdout).toMatch(/^mapped \d+ bytes$/);
    expect(result.report ?? "").toMatch(/unmapped by call #\d+ munmap\(0x[0-9a-f]+, \d+\) = 0/);
    expect(result.exitCode).toBe(EXIT_SEGV);
  });

  test("run --guard refuses what it cannot guard with one line and exit 2", () => {
    const dir = mkdtempSync(join(tmpdir(), "wasi-mman-guard-"));
    const cases: [string, string, RegExp][] = [
      ["no-memory.wat", '(module (func (export "_start")))', /--guard: the module has no memory to guard/],
      ["memory64.wat", '(module (memory i64 1) (func (export "_start")))', /--guard: |memory64|64-bit/],
    ];
    for (const [name, text, message] of cases) {
      writeFileSync(join(dir, name), text);
      const child = spawnSync(process.execPath, [join("bin", "wasi-mman.mjs"), "run", "--guard", join(dir, name)], { encoding: "utf8" });
      expect({ name, status: child.status }).toEqual({ name, status: 2 });
      expect(child.stderr.trim().split("\n"), name).toHaveLength(1);
      expect(child.stderr).toMatch(message);
      expect(child.stderr).not.toMatch(/internal error/);
    }
  });

  test("attach without the guard's exports is a GuardAttachError", () => {
    const mman = createGuardedMman({});
    const memory = new WebAssembly.Memory({ initial: 1 });
    expect(() => mman.attach({ exports: { memory } } as unknown as WebAssembly.Instance)).toThrow(GuardAttachError);
    expect(() => mman.attach(memory)).toThrow(GuardAttachError);
  });

  test("a trap that is not a guard fault gets no report", async () => {
    const mman = createGuardedMman({});
    expect(mman.guard.report(new WebAssembly.RuntimeError("unreachable"))).toBeNull();
  });
});

/** A correct program: the same exit code and output (addresses aside) with and without the guard. */
async function expectUnchanged(path: string, pageSize: number): Promise<void> {
  const plain = await run(readFileSync(path), pageSize, false);
  const guarded = await run(instrument(readFileSync(path)).bytes, pageSize, true);
  expect(guarded.report).toBeNull();
  expect(guarded.error).toBeNull();
  expect(guarded.exitCode).toBe(plain.exitCode);
  // Both runs pass their own checks (a failure in both would compare equal).
  expect(plain.stdout).not.toMatch(/^FAIL /m);
  // The table takes the place where the heap began, so printed addresses move; nothing else.
  const masked = (text: string): string => text.replace(/=\d{5,}|0x[0-9a-f]+/g, "=ADDR");
  expect(masked(guarded.stdout)).toBe(masked(plain.stdout));
  const mman = guarded.mman as GuardedMman;
  expect(Buffer.from(mman.guard.currentTable()).equals(Buffer.from(mman.guard.expectedTable()))).toBe(true);
}

const CORRECT: CFixture[] = ["tiers", "realloc", "many-small", "brk-blocked", "calloc-zero", "madvise-freed", "direct-mman"];
// dlmalloc builds export no __heap_base: the table goes at the end of the initial memory,
// which the guest's memory.size leaves out, and the memory its sbrk grows is its own.
const ALLOCATORS: MallocChoice[] = ["mallocng", "oldmalloc", "dlmalloc"];

describe.skipIf(!toolchain.ok)("guard: no false positives", () => {
  for (const malloc of ALLOCATORS) {
    // realloc and brk-blocked check musl's brk use (a wall at the break): they print FAIL
    // lines under dlmalloc with or without the guard (test/c-fixtures.test.ts runs only tiers there).
    for (const name of malloc === "dlmalloc" ? CORRECT.filter((fixture) => fixture !== "realloc" && fixture !== "brk-blocked") : CORRECT) {
      test(`${name}.${malloc} runs unchanged`, async () => {
        const path = await buildFixture(name, malloc);
        for (const pageSize of [4096, 16384]) await expectUnchanged(path, pageSize);
      });
    }
  }

  test("SQLite workload (mallocng) runs unchanged", { timeout: 300_000 }, async () => {
    const sqlite = await buildSqlite();
    await expectUnchanged(sqlite.wasm.mallocng, 4096);
  });
});
