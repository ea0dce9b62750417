// The host adapters (hosts/shim.ts, hosts/node-wasi.ts): both WASI hosts, command and
// reactor modules, exported and imported memory, a guest that grows memory itself between
// our calls, and the import checks that refuse a module before it runs.
// Fixtures: fixtures/hosts/hello.wat (command, exported memory), fixtures/wat/host-*.wat.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleStdout, File, OpenFile } from "@bjorn3/browser_wasi_shim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileWat } from "../cli/wat.js";
import { ImportMismatchError } from "../hosts/check.js";
import { runWithNodeWasi } from "../hosts/node-wasi.js";
import { runWithShim } from "../hosts/shim.js";
import { readModuleInfo, WasmFormatError } from "../hosts/wasm-imports.js";
import { createMman } from "../index.js";
import { PageKind } from "../runtime/address-space.js";

const root = new URL("../", import.meta.url);
const fixture = async (path: string) => compileWat(readFileSync(new URL(path, root), "utf8"), path);

const PROT_RW = 3;
const MAP_PRIVATE_ANON = 0x22;
const KiB = 1024;

let hello: Uint8Array<ArrayBuffer>;
let reactor: Uint8Array<ArrayBuffer>;
let reactorImported: Uint8Array<ArrayBuffer>;
let commandImported: Uint8Array<ArrayBuffer>;
let badImport: Uint8Array<ArrayBuffer>;
let badSignature: Uint8Array<ArrayBuffer>;
let scratch: string;

beforeAll(async () => {
  hello = await fixture("fixtures/hosts/hello.wat");
  reactor = await fixture("fixtures/wat/host-reactor.wat");
  reactorImported = await fixture("fixtures/wat/host-reactor-imported.wat");
  commandImported = await fixture("fixtures/wat/host-command-imported.wat");
  badImport = await fixture("fixtures/wat/host-bad-import.wat");
  badSignature = await fixture("fixtures/wat/host-bad-signature.wat");
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-hosts-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** stdin, and stdout/stderr captured into arrays. */
function captureFds() {
  const out: string[] = [];
  const err: string[] = [];
  const fds = [new OpenFile(new File([])), ConsoleStdout.lineBuffered((l) => out.push(l)), ConsoleStdout.lineBuffered((l) => err.push(l))];
  return { fds, out, err };
}

type ReactorExports = {
  initialized(): number;
  mmap(addr: number, len: number, prot: number, flags: number, fd: number, offset: bigint): number;
  munmap(addr: number, len: number): number;
  grow(pages: number): number;
  store8(addr: number, value: number): void;
  load8(addr: number): number;
};

/**
 * A guest that grows memory itself between two of our calls: its pages are foreign, never
 * handed out, never cleared; our mappings stay zeroed and distinct. Shared by every reactor.
 */
function checkForeignGrowth(exports: ReactorExports, mman: ReturnType<typeof createMman>, memory: WebAssembly.Memory): void {
  // Nothing mapped and the break at the heap base: the wilderness starts there, and its low
  // end goes first (docs/semantics.md, placement).
  const first = exports.mmap(0, 64 * KiB, PROT_RW, MAP_PRIVATE_ANON, -1, 0n);
  expect(first).toBe(Math.ceil(mman.stats().heapBase / mman.pageSize) * mman.pageSize);
  exports.store8(first, 0xaa);
  const before = memory.buffer.byteLength;
  const grownPage = exports.grow(2);
  expect(grownPage * 65536).toBe(before);
  exports.store8(before, 0x5a);
  exports.store8(before + 2 * 65536 - 1, 0x5b);
  // Several mappings after the guest's growth, enough to make us grow past it as well.
  const later: number[] = [];
  for (let i = 0; i < 4; i++) later.push(exports.mmap(0, 64 * KiB, PROT_RW, MAP_PRIVATE_ANON, -1, 0n));
  // What was left of the wilderness below the guest's pages is a hole now, filled from its low
  // end first; then memory grows past the guest's pages, whose end is the new wilderness.
  const expected: number[] = [];
  for (let hole = first + 64 * KiB, wilderness = before + 2 * 65536; expected.length < 4; ) {
    if (before - hole >= 64 * KiB) {
      expected.push(hole);
      hole += 64 * KiB;
    } else {
      expected.push(wilderness);
      wilderness += 64 * KiB;
    }
  }
  expect(later).toEqual(expected);
  for (const address of later) {
    // Reads as zeros.
    expect(exports.load8(address)).toBe(0);
    expect(exports.load8(address + 64 * KiB - 1)).toBe(0);
    expect(address).not.toBe(first);
  }
  expect(exports.load8(before)).toBe(0x5a);
  expect(exports.load8(before + 2 * 65536 - 1)).toBe(0x5b);
  expect(exports.load8(first)).toBe(0xaa);
  const stats = mman.stats();
  expect(stats.foreignBytes).toBe(2 * 65536);
  const kinds = mman.space.pageKinds();
  expect(kinds[before / mman.pageSize]).toBe(PageKind.FOREIGN);
  mman.checkInvariants(true);
}

describe("browser_wasi_shim", () => {
  it("runs a command with exported memory: attached before _start, exit code and output pass through", async () => {
    const { fds, out } = captureFds();
    const result = await runWithShim(hello, { args: ["hello", "x", "y"], fds });
    // hello exits with argc - 1; 100 + step if a call failed (e.g. -ENOSYS before attach).
    expect(result.exitCode).toBe(2);
    expect(result.kind).toBe("command");
    expect(result.importedMemory).toBe(false);
    expect(out).toEqual(["hello from mapped memory"]);
    expect(result.attachInfo).toEqual({ heapBase: 65536, heapBaseSource: "export" });
    const stats = result.mman.stats();
    expect(stats.calls.mmap).toBe(1);
    expect(stats.calls.mremap).toBe(1);
    expect(stats.calls.munmap).toBe(1);
    expect(stats.errors.mmap).toBe(0);
    expect(stats.liveMappings).toBe(0);
    result.mman.checkInvariants(true);
  });

  it("passes mman options through (page size, trace hook)", async () => {
    const calls: string[] = [];
    const { fds } = captureFds();
    const result = await runWithShim(hello, { fds, mman: { pageSize: 16384, trace: (r) => calls.push(r.call) } });
    expect(result.exitCode).toBe(0);
    expect(result.mman.pageSize).toBe(16384);
    // hello also calls pagesize() first; whether that call is traced is the core's choice
    // (its import answers without going through the counted calls today).
    expect(calls.filter((call) => call !== "pagesize")).toEqual(["brk", "brk", "mmap", "mremap", "munmap"]);
  });

  it("uses an Mman the caller made", async () => {
    const mman = createMman({ pageSize: 65536 });
    const { fds } = captureFds();
    const result = await runWithShim(hello, { fds, mman });
    expect(result.mman).toBe(mman);
    expect(mman.stats().calls.mmap).toBe(1);
  });

  it("runs a command with imported memory that grows memory itself", async () => {
    const result = await runWithShim(commandImported, { fds: captureFds().fds });
    // 42 = every step passed; 10x = the step that failed (see the fixture).
    expect(result.exitCode).toBe(42);
    expect(result.importedMemory).toBe(true);
    expect(result.mman.stats().foreignBytes).toBe(65536);
    result.mman.checkInvariants(true);
  });

  it("uses an imported memory the caller supplies", async () => {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 256 });
    const result = await runWithShim(commandImported, { fds: captureFds().fds, memory });
    expect(result.exitCode).toBe(42);
    expect(result.memory).toBe(memory);
    expect(memory.buffer.byteLength).toBeGreaterThan(2 * 65536);
  });

  it("runs a reactor with exported memory: _initialize runs, exports are callable, guest growth is foreign", async () => {
    const result = await runWithShim(reactor, { fds: captureFds().fds });
    expect(result.kind).toBe("reactor");
    expect(result.exitCode).toBeNull();
    const exports = result.instance.exports as unknown as ReactorExports;
    expect(exports.initialized()).toBe(1);
    checkForeignGrowth(exports, result.mman, result.memory);
  });

  it("runs a reactor with imported memory whose guest grows memory itself", async () => {
    const result = await runWithShim(reactorImported, { fds: captureFds().fds });
    expect(result.kind).toBe("reactor");
    expect(result.importedMemory).toBe(true);
    const exports = result.instance.exports as unknown as ReactorExports;
    expect(exports.initialized()).toBe(1);
    checkForeignGrowth(exports, result.mman, result.memory);
  });

  it("creates an imported memory with the module's declared limits", async () => {
    const result = await runWithShim(reactorImported, { fds: captureFds().fds });
    expect(result.memory.buffer.byteLength).toBe(2 * 65536);
    // maximum 512 pages: growing past it fails inside the guest, and our mmap says ENOMEM.
    const exports = result.instance.exports as unknown as ReactorExports;
    expect(exports.grow(511)).toBe(-1);
    expect(exports.mmap(0, 64 << 20, PROT_RW, MAP_PRIVATE_ANON, -1, 0n)).toBe(-12);
  });
});

describe("node:wasi", () => {
  it("runs a command with exported memory; stdout goes to the fd given", async () => {
    const path = join(scratch, "hello.out");
    const stdout = openSync(path, "w");
    try {
      const result = await runWithNodeWasi(hello, { args: ["hello", "a", "b", "c"], stdout });
      expect(result.exitCode).toBe(3);
      expect(result.kind).toBe("command");
    } finally {
      closeSync(stdout);
    }
    expect(readFileSync(path, "utf8")).toBe("hello from mapped memory\n");
  });

  it("runs a command with imported memory that grows memory itself", async () => {
    const result = await runWithNodeWasi(commandImported);
    expect(result.exitCode).toBe(42);
    expect(result.importedMemory).toBe(true);
    expect(result.mman.stats().foreignBytes).toBe(65536);
  });

  it("runs a reactor with exported memory", async () => {
    const result = await runWithNodeWasi(reactor);
    expect(result.kind).toBe("reactor");
    const exports = result.instance.exports as unknown as ReactorExports;
    expect(exports.initialized()).toBe(1);
    checkForeignGrowth(exports, result.mman, result.memory);
  });

  it("runs a reactor with imported memory", async () => {
    const result = await runWithNodeWasi(reactorImported);
    const exports = result.instance.exports as unknown as ReactorExports;
    expect(exports.initialized()).toBe(1);
    checkForeignGrowth(exports, result.mman, result.memory);
  });
});

describe("import checks before anything runs", () => {
  it("names an mman function that is not provided", async () => {
    const started: string[] = [];
    const run = runWithShim(badImport, { fds: captureFds().fds, mman: { trace: (r) => started.push(r.call) } });
    await expect(run).rejects.toThrow(ImportMismatchError);
    await expect(runWithShim(badImport, { fds: captureFds().fds })).rejects.toThrow(/mman\.mlock.*does not provide/);
    await expect(runWithNodeWasi(badImport)).rejects.toThrow(/mman\.mlock/);
    expect(started).toEqual([]);
  });

  it("names an mman function with the wrong signature, and both signatures", async () => {
    const error = await runWithShim(badSignature, { fds: captureFds().fds }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImportMismatchError);
    expect(String(error)).toContain("mman.mmap with signature (i32, i32, i32, i32, i32, i32) -> i32");
    expect(String(error)).toContain("declares (i32, i32, i32, i32, i32, i64) -> i32");
  });

  it("catches a wrong signature from a compiled module too (no bytes to read)", async () => {
    const module = await WebAssembly.compile(badSignature);
    // The typed wrappers still run a module whose signatures are right.
    const good = await runWithShim(await WebAssembly.compile(hello), { fds: captureFds().fds, args: ["hello", "1"] });
    expect(good.exitCode).toBe(1);
    expect(good.mman.stats().calls.mmap).toBe(1);
    await expect(runWithShim(module, { fds: captureFds().fds })).rejects.toThrow(/mman\.mmap does not match \(the mman ABI declares \(i32, i32, i32, i32, i32, i64\) -> i32\)/);
  });

  it("a compiled module that imports its memory needs `memory`: a readable error without it, a run with it", async () => {
    const module = await WebAssembly.compile(commandImported);
    // WebAssembly.Module.imports() does not give the memory's limits (2..256 pages here).
    for (const run of [() => runWithShim(module, { fds: captureFds().fds }), () => runWithNodeWasi(module)]) {
      const error = await run().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImportMismatchError);
      expect(String(error)).toMatch(/imports its memory env\.memory, .*pass `memory`/);
    }
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 256 });
    const result = await runWithShim(module, { fds: captureFds().fds, memory });
    expect(result.exitCode).toBe(42);
    expect(result.memory).toBe(memory);
  });

  it("names any other import nothing provides", async () => {
    const bytes = await compileWat('(module (import "env" "host_log" (func (param i32))) (memory (export "memory") 1) (func (export "_start")))');
    await expect(runWithShim(bytes, { fds: captureFds().fds })).rejects.toThrow(/function env\.host_log, which nothing provides/);
    const logged: number[] = [];
    const result = await runWithShim(bytes, { fds: captureFds().fds, imports: { env: { host_log: (n: number) => logged.push(n) } }, heapBase: 1024 });
    expect(result.exitCode).toBe(0);
  });

  it("warns about a start function, whose mman calls come before attach and get ENOSYS", async () => {
    const bytes = await compileWat(`(module
      (import "mman" "mmap" (func $mmap (param i32 i32 i32 i32 i32 i64) (result i32)))
      (memory (export "memory") 1)
      (global $early (mut i32) (i32.const 0))
      (func $start (global.set $early (call $mmap (i32.const 0) (i32.const 4096) (i32.const 3) (i32.const 0x22) (i32.const -1) (i64.const 0))))
      (start $start)
      (func (export "early") (result i32) (global.get $early)))`);
    const warnings: string[] = [];
    const result = await runWithShim(bytes, { fds: captureFds().fds, heapBase: 4096, onWarning: (m) => warnings.push(m) });
    expect((result.instance.exports.early as () => number)()).toBe(-38);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/start function.*ENOSYS/);
    // A module without a start function gets no such notice.
    const quiet: string[] = [];
    await runWithShim(hello, { fds: captureFds().fds, onWarning: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });

  it("reports bytes that are not a module in one line", async () => {
    await expect(runWithShim(new TextEncoder().encode("hello"))).rejects.toThrow(/invalid WebAssembly module/);
  });
});

describe("readModuleInfo", () => {
  it("reads function signatures and memory limits from the import section", async () => {
    const info = readModuleInfo(reactorImported);
    const memory = info.imports.find((i) => i.kind === "memory");
    expect(memory).toEqual({ module: "env", name: "memory", kind: "memory", limits: { minPages: 2, maxPages: 512, shared: false, memory64: false } });
    const mmap = info.imports.find((i) => i.name === "mmap");
    expect(mmap).toEqual({
      module: "mman",
      name: "mmap",
      kind: "function",
      signature: { params: ["i32", "i32", "i32", "i32", "i32", "i64"], results: ["i32"] },
    });
    expect(info.hasStartSection).toBe(false);
    expect(info.memories).toEqual([]);
    // A module that defines its memory: the memory section's limits.
    expect(readModuleInfo(reactor).memories).toEqual([{ minPages: 2, maxPages: 1024, shared: false, memory64: false }]);
  });

  it("reads memory without a maximum, tables, globals and a start section", async () => {
    const bytes = await compileWat(`(module
      (import "env" "m" (memory 1))
      (import "env" "t" (table 1 funcref))
      (import "env" "g" (global i64))
      (func $s) (start $s))`);
    const info = readModuleInfo(bytes);
    expect(info.imports.map((i) => i.kind)).toEqual(["memory", "table", "global"]);
    expect(info.imports[0]).toMatchObject({ limits: { minPages: 1, maxPages: null } });
    expect(info.hasStartSection).toBe(true);
  });

  it("refuses bytes that are not a version-1 module", () => {
    expect(() => readModuleInfo(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(WasmFormatError);
    expect(() => readModuleInfo(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).toThrow(/version/);
    // A section size running past the end.
    expect(() => readModuleInfo(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 0x7f]))).toThrow(/past the end/);
  });
});
