/**
 * `wasi-mman cc`: option errors are one line with exit status 2; a missing toolchain is one
 * line with exit status 2; a program builds under each allocator, links the allocator it was
 * asked for, and exports __heap_base exactly when the host must start the break there.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { ccCommand } from "../cli/cc.js";
import { cToolchainStatus } from "../scripts/build-c.js";
import { runC } from "./c-helpers.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** C COMPILER TESTS SKIPPED: ${toolchain.reason} ***\n`);

const work = mkdtempSync(join(tmpdir(), "wasi-mman-cc-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let errors: string[];
beforeEach(() => {
  errors = [];
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    errors.push(args.join(" "));
  });
});
afterEach(() => vi.restoreAllMocks());

describe("wasi-mman cc: bad options", () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown --malloc", ["--malloc=jemalloc", "-o", "x.wasm", "x.c"], /unknown --malloc=jemalloc/],
    ["--malloc without a value", ["--malloc"], /--malloc needs a value/],
    ["no -o", ["--malloc=mallocng", "x.c"], /name the output with -o/],
    ["-o without a file", ["--malloc=mallocng", "x.c", "-o"], /-o needs a file name/],
    ["no input", ["--malloc=mallocng", "-o", "x.wasm", "-O2"], /no input files/],
  ];
  for (const [name, argv, message] of cases) {
    test(name, async () => {
      expect(await ccCommand(argv)).toBe(2);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
      expect(errors[0]).not.toContain("\n");
    });
  }
});

describe.skipIf(!toolchain.ok)("wasi-mman cc: building", () => {
  const source = join(work, "prog.c");
  writeFileSync(
    source,
    [
      "#include <stdio.h>",
      "#include <stdlib.h>",
      "#include <unistd.h>",
      "int main(void) {",
      "  char *volatile big = malloc(1 << 20); /* volatile: kept, not folded away */",
      "  big[0] = 1;",
      "  printf(\"page=%d big=%d\\n\", getpagesize(), big[0]);",
      "  free(big);",
      "  return 0;",
      "}",
    ].join("\n"),
  );

  for (const malloc of ["mallocng", "oldmalloc", "dlmalloc"] as const) {
    test(`--malloc=${malloc} builds a program that runs on the host`, async () => {
      const output = join(work, `prog.${malloc}.wasm`);
      expect(await ccCommand([`--malloc=${malloc}`, "-O2", "-o", output, source])).toBe(0);
      // Nothing but the progress lines of a first build (test/cli-cc.test.ts).
      expect(errors.filter((line) => !/^wasi-mman cc: (building|fetching) /.test(line))).toEqual([]);
      const module = new WebAssembly.Module(readFileSync(output));
      const exports = WebAssembly.Module.exports(module).map((entry) => entry.name);
      const imports = WebAssembly.Module.imports(module).filter((entry) => entry.module === "mman").map((entry) => entry.name);
      if (malloc === "dlmalloc") {
        // wasi-libc's dlmalloc owns the memory above __heap_base: not exported (cli/cc.ts).
        expect(exports).not.toContain("__heap_base");
        expect(imports).not.toContain("brk");
      } else {
        expect(exports).toContain("__heap_base");
        // musl's allocator is linked: its 1 MiB block comes from the host's mmap.
        expect(imports).toEqual(expect.arrayContaining(["mmap", "munmap", "pagesize"]));
      }
      const run = await runC(output, { host: "browser_wasi_shim", pageSize: 16384 });
      expect(run.stdout).toBe("page=16384 big=1\n");
      if (malloc !== "dlmalloc") {
        // The block's own mapping: the request plus the allocator's header (mallocng: 4 + 16
        // bytes; oldmalloc: padded to 16, plus 8 + 8, to the page), unmapped by free.
        const big = run.trace.filter((record) => record.call === "mmap" && record.args[1] >= 1 << 20);
        const roundUp = (value: number, to: number): number => Math.ceil(value / to) * to;
        expect(big.map((record) => record.args[1])).toEqual([malloc === "mallocng" ? (1 << 20) + 20 : roundUp(roundUp((1 << 20) + 8, 16) + 8, 16384)]);
        expect(run.trace.filter((record) => record.call === "munmap" && record.args[0] === big[0].result).map((record) => record.result)).toEqual([0]);
      }
    });
  }

  test("a compile error is clang's message and exit status 1", async () => {
    const broken = join(work, "broken.c");
    writeFileSync(broken, "int main(void) { return missing; }\n");
    expect(await ccCommand(["--malloc=mallocng", "-o", join(work, "broken.wasm"), broken])).toBe(1);
    expect(errors.join("\n")).toMatch(/missing/);
    expect(existsSync(join(work, "broken.wasm"))).toBe(false);
  });
});

describe("wasi-mman cc: no toolchain", () => {
  test("one loud line and exit status 2", async () => {
    vi.resetModules();
    const saved = process.env.WASI_SDK_PATH;
    // toolchain.sh honours WASI_SDK_PATH first and says why it cannot use it.
    process.env.WASI_SDK_PATH = join(work, "no-such-wasi-sdk");
    try {
      const fresh = (await import("../cli/cc.js")) as typeof import("../cli/cc.js");
      expect(await fresh.ccCommand(["--malloc=mallocng", "-o", join(work, "x.wasm"), join(work, "x.c")])).toBe(2);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/NO C TOOLCHAIN FOR WASM32-WASI/);
      expect(errors[0]).not.toContain("\n");
    } finally {
      if (saved === undefined) delete process.env.WASI_SDK_PATH;
      else process.env.WASI_SDK_PATH = saved;
    }
  });
});
