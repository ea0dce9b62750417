// runWithShim takes a module in every form a user has one (issue 13, item 4): bytes (a
// Uint8Array, a Node Buffer, an ArrayBuffer), a compiled WebAssembly.Module, a fetch()
// Response, a URL, or a file path in Node. Fixture: fixtures/hosts/hello.wat (prints a line,
// exits with its argument count). The types are checked in test/package.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ConsoleStdout, File, OpenFile } from "@bjorn3/browser_wasi_shim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWithShim } from "../hosts/shim.js";
import type { ModuleSource } from "../hosts/instantiate.js";
import { watToWasm } from "./helpers/wat.js";

const scratch = mkdtempSync(join(tmpdir(), "wasi-mman-sources-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let bytes: Uint8Array<ArrayBuffer>;
let path: string;
beforeAll(async () => {
  bytes = await watToWasm(readFileSync("fixtures/hosts/hello.wat", "utf8"), "hello.wat");
  path = join(scratch, "hello.wasm");
  writeFileSync(path, bytes);
});

/** Runs hello from `source` with argv [hello, a, b]; returns its exit code and stdout. */
async function runHello(source: ModuleSource): Promise<{ exitCode: number | null; stdout: string }> {
  let stdout = "";
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered((line) => (stdout += `${line}\n`)), ConsoleStdout.lineBuffered(() => {})];
  const { exitCode } = await runWithShim(source, { args: ["hello", "a", "b"], fds });
  return { exitCode, stdout };
}

describe.concurrent("runWithShim's module sources", () => {
  const expected = { exitCode: 2, stdout: "hello from mapped memory\n" };
  const sources: [string, () => ModuleSource][] = [
    ["a Uint8Array", () => bytes],
    ["a Node Buffer", () => readFileSync(path)],
    ["an ArrayBuffer", () => bytes.slice().buffer],
    ["a compiled WebAssembly.Module", () => new WebAssembly.Module(bytes)],
    ["a Response", () => new Response(bytes, { headers: { "content-type": "application/wasm" } })],
    ["a file: URL", () => pathToFileURL(path)],
    ["a file:// URL as a string", () => pathToFileURL(path).href],
    ["a path", () => path],
  ];
  for (const [what, source] of sources) {
    it(what, async () => {
      expect(await runHello(source())).toEqual(expected);
    });
  }

  it("a missing file, a failed response and a value that is no module are readable errors", async () => {
    await expect(runHello(join(scratch, "nope.wasm"))).rejects.toThrow(`wasi-mman: cannot read the module ${join(scratch, "nope.wasm")}: no such file`);
    await expect(runHello(new Response("not found", { status: 404, statusText: "Not Found" }))).rejects.toThrow(/cannot fetch the module .*HTTP 404 Not Found/);
    await expect(runHello(42 as unknown as ModuleSource)).rejects.toThrow(TypeError);
    await expect(runHello(42 as unknown as ModuleSource)).rejects.toThrow(/must be bytes, a WebAssembly.Module, a Response, a URL or a path, got \[object Number\]/);
  });
});
