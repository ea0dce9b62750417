// `wasi-mman cc` as a user meets it (issue 13): what it builds says how it was built (the
// build note), so `wasi-mman run` gives no wrong __heap_base hint for a dlmalloc build.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { ccCommand } from "../cli/cc.js";
import { readBuildNote } from "../hosts/instantiate.js";
import { cToolchainStatus } from "../scripts/build-c.js";
import { cli } from "./helpers/cli.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** C COMPILER TESTS SKIPPED: ${toolchain.reason} ***\n`);

const work = mkdtempSync(join(tmpdir(), "wasi-mman-cli-cc-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROGRAM = [
  "#include <stdio.h>",
  "#include <stdlib.h>",
  "#include <sys/mman.h>",
  "int main(void) {",
  "  char *volatile block = malloc(200000);",
  "  void *map = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);",
  "  block[0] = 'x';",
  "  printf(\"%c %d\\n\", block[0], map != MAP_FAILED);",
  "  return 0;",
  "}",
].join("\n");

describe.skipIf(!toolchain.ok)("wasi-mman cc: the build note", () => {
  const source = join(work, "prog.c");
  writeFileSync(source, PROGRAM);

  test("a dlmalloc build says it has no __heap_base on purpose, and run gives no hint about it", async () => {
    const output = join(work, "prog.dlmalloc.wasm");
    expect(await ccCommand(["--malloc=dlmalloc", "-O2", "-o", output, source])).toBe(0);
    const module = new WebAssembly.Module(readFileSync(output));
    expect(WebAssembly.Module.exports(module).map((entry) => entry.name)).not.toContain("__heap_base");
    expect(readBuildNote(module)).toEqual({ tool: "wasi-mman cc", malloc: "dlmalloc", heapBase: "memory-size" });
    const run = await cli("run", output);
    expect(run).toEqual({ code: 0, stdout: "x 1\n", stderr: "" });
  });

  test("without --malloc, mallocng: the build exports __heap_base and says so", async () => {
    const output = join(work, "prog.mallocng.wasm");
    expect(await ccCommand(["-O2", "-o", output, source])).toBe(0);
    const module = new WebAssembly.Module(readFileSync(output));
    expect(readBuildNote(module)).toEqual({ tool: "wasi-mman cc", malloc: "mallocng", heapBase: "export" });
    expect(await cli("run", output)).toEqual({ code: 0, stdout: "x 1\n", stderr: "" });
  });
});
