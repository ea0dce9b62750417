// A module's `__heap_base` is checked by the host before the memory calls attach (issue 11):
// an i64, f32 or f64 global, one that is not a global, or an address past the end of the
// module's memory (-1 as an i32 is 0xffffffff) is a readable error, HeapBaseError through the
// library (a kind of ImportMismatchError) and exit 2 with one line from `wasi-mman run`, never
// a value cut to 32 bits or "the module trapped". Modules are written inline: each imports
// mman.brk, exports (or imports) a one-page memory and a __heap_base of the type under test.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImportMismatchError } from "../hosts/check.js";
import { HeapBaseError, instantiateWithMman } from "../hosts/instantiate.js";
import { runWithNodeWasi } from "../hosts/node-wasi.js";
import { runWithShim } from "../hosts/shim.js";
import { cli, errLines } from "./helpers/cli.js";
import { watToWasm } from "./helpers/wat.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-heap-base-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A command whose `__heap_base` export is `heapBase` (a WAT export field's body). */
function moduleText(heapBase: string, memory: "exported" | "imported" = "exported"): string {
  return `(module
    (import "mman" "brk" (func $brk (param i32) (result i32)))
    ${memory === "imported" ? '(import "env" "memory" (memory 1))' : '(memory (export "memory") 1)'}
    ${heapBase}
    (func (export "_start") (drop (call $brk (i32.const 0)))))`;
}

const global = (type: string): string => `(global (export "__heap_base") ${type})`;

const BAD: [string, string, string][] = [
  ["-1 (an i32 at 0xffffffff)", global("i32 (i32.const -1)"), "the module's __heap_base is 0xffffffff (-1 as a signed i32), past the end of its memory (65536 bytes)"],
  ["an i32 one byte past the end of memory", global("i32 (i32.const 65537)"), "the module's __heap_base is 0x10001, past the end of its memory (65536 bytes)"],
  ["an i64 above 4 GiB", global("i64 (i64.const 0x100000010)"), "the module's __heap_base is an i64 global (0x100000010); it must be an i32 address in its memory"],
  ["an f64", global("f64 (f64.const 1e300)"), "the module's __heap_base is an f64 global (1e+300); it must be an i32 address in its memory"],
  ["an f32 holding an integer", global("f32 (f32.const 4096)"), "the module's __heap_base is an f32 global (4096); it must be an i32 address in its memory"],
  ["a function", '(func (export "__heap_base"))', "the module exports __heap_base as a function, not as an i32 global"],
];

describe.concurrent("wasi-mman run: a bad __heap_base is a usage error", () => {
  for (const pageSize of ["4k", "64k"]) {
    for (const [what, heapBase, message] of BAD) {
      it(`${what}: exit 2, one line (${pageSize} pages)`, async () => {
        const path = join(scratch, `${pageSize}-${what.replace(/\W+/g, "-")}.wat`);
        writeFileSync(path, moduleText(heapBase));
        const run = await cli("run", "--page-size", pageSize, path);
        expect(errLines(run)).toEqual([`wasi-mman run: ${message}`]);
        expect(run.code).toBe(2);
      });
    }

    it(`an imported memory with __heap_base -1: exit 2, one line (${pageSize} pages)`, async () => {
      const path = join(scratch, `${pageSize}-imported.wat`);
      writeFileSync(path, moduleText(global("i32 (i32.const -1)"), "imported"));
      const run = await cli("run", "--page-size", pageSize, path);
      expect(errLines(run)).toEqual([`wasi-mman run: ${BAD[0][2]}`]);
      expect(run.code).toBe(2);
    });

    it(`an i32 at the end of memory, and a mutable i32, are taken as they are (${pageSize} pages)`, async () => {
      for (const [heapBase, shown] of [
        [global("i32 (i32.const 65536)"), "0x10000"],
        [global("(mut i32) (i32.const 8192)"), "0x2000"],
      ]) {
        const path = join(scratch, `${pageSize}-${shown}.wat`);
        writeFileSync(path, moduleText(heapBase));
        const run = await cli("run", "--stats", "--page-size", pageSize, path);
        expect(run.code, heapBase).toBe(0);
        expect(run.stderr, heapBase).toMatch(new RegExp(`^heap base\\s+${shown}$`, "m"));
      }
    });
  }
});

describe("library: a bad __heap_base is a HeapBaseError before anything runs", () => {
  for (const pageSize of [4096, 65536]) {
    it(`runWithShim, runWithNodeWasi and a compiled module (${pageSize / 1024} KiB pages)`, async () => {
      for (const [what, heapBase, message] of BAD) {
        const bytes = await watToWasm(moduleText(heapBase));
        const shim = runWithShim(bytes, { mman: { pageSize } });
        await expect(shim, what).rejects.toThrow(HeapBaseError);
        await expect(shim, what).rejects.toThrow(ImportMismatchError);
        await expect(shim, what).rejects.toThrow(`wasi-mman: ${message}`);
        const compiled = instantiateWithMman(await WebAssembly.compile(bytes), {}, { mman: { pageSize } });
        await expect(compiled, what).rejects.toThrow(`wasi-mman: ${message}`);
      }
      const imported = await watToWasm(moduleText(global("i64 (i64.const 0x100000010)"), "imported"));
      await expect(runWithShim(imported, { mman: { pageSize } })).rejects.toThrow(`wasi-mman: ${BAD[2][2]}`);
      await expect(runWithNodeWasi(await watToWasm(moduleText(BAD[0][1])), { mman: { pageSize } })).rejects.toThrow(HeapBaseError);
    });
  }

  it("a good __heap_base still attaches from the export", async () => {
    const result = await runWithShim(await watToWasm(moduleText(global("i32 (i32.const 65536)"))));
    expect(result.attachInfo).toEqual({ heapBase: 65536, heapBaseSource: "export" });
    const imported = await runWithShim(await watToWasm(moduleText(global("i32 (i32.const 4096)"), "imported")));
    expect(imported.attachInfo).toEqual({ heapBase: 4096, heapBaseSource: "export" });
  });
});
