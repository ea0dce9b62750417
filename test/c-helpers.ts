/**
 * Runs a C fixture (a wasm32-wasi command built by scripts/build-c.ts) under one of the two
 * WASI hosts, with the memory calls of createMman(), and collects what a test checks: the exit
 * status, the program's stdout and stderr, and the host's trace of every memory call.
 *
 * Instantiation is done here directly, the way a user wires the two together:
 * `{ ...wasi imports, ...mman.imports }`, `mman.attach(instance)`, then `start`.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WASI as NodeWASI } from "node:wasi";
import { ConsoleStdout, File, OpenFile, WASI as ShimWASI } from "@bjorn3/browser_wasi_shim";
import { createMman, type Mman, type MmanOptions, type TraceRecord } from "../index.js";

export type WasiHost = "browser_wasi_shim" | "node:wasi";
export const WASI_HOSTS: readonly WasiHost[] = ["browser_wasi_shim", "node:wasi"];
export const PAGE_SIZES = [4096, 16384, 32768, 65536] as const;

export interface CRun {
  exitCode: number;
  stdout: string;
  stderr: string;
  trace: TraceRecord[];
  mman: Mman;
  /** What the host said through onWarning (e.g. where it took the heap base from). */
  warnings: string[];
}

export interface CRunOptions {
  host: WasiHost;
  pageSize: number;
  args?: string[];
  mman?: Omit<MmanOptions, "pageSize" | "trace">;
  /** Keep trace records (default true); the benchmark turns it off. */
  trace?: boolean;
  /** The createMman to use: the benchmark passes the built one from dist/. */
  createMman?: typeof createMman;
}

const moduleCache = new Map<string, WebAssembly.Module>();

/** Compiles a fixture once per file (tests run it for many page sizes and both hosts). */
export async function loadModule(path: string): Promise<WebAssembly.Module> {
  let module = moduleCache.get(path);
  if (!module) {
    module = await WebAssembly.compile(readFileSync(path) as Uint8Array<ArrayBuffer>);
    moduleCache.set(path, module);
  }
  return module;
}

export async function runC(wasmPath: string, options: CRunOptions): Promise<CRun> {
  const module = await loadModule(wasmPath);
  const trace: TraceRecord[] = [];
  const warnings: string[] = [];
  const mman = (options.createMman ?? createMman)({
    onWarning: (message) => warnings.push(message),
    ...options.mman,
    pageSize: options.pageSize,
    ...(options.trace === false ? {} : { trace: (record: TraceRecord) => trace.push(record) }),
  });
  const args = [wasmPath.split("/").pop() ?? "prog.wasm", ...(options.args ?? [])];
  if (options.host === "browser_wasi_shim") {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const fds = [
      new OpenFile(new File([])),
      ConsoleStdout.lineBuffered((line) => stdout.push(line)),
      ConsoleStdout.lineBuffered((line) => stderr.push(line)),
    ];
    const wasi = new ShimWASI(args, [], fds, { debug: false });
    const instance = await WebAssembly.instantiate(module, {
      wasi_snapshot_preview1: wasi.wasiImport,
      ...mman.imports,
    });
    mman.attach(instance);
    // browser_wasi_shim's Exports type lacks memory/_start (shared/NOTES.md).
    const exitCode = wasi.start(instance as unknown as Parameters<ShimWASI["start"]>[0]);
    return { exitCode, stdout: joinLines(stdout), stderr: joinLines(stderr), trace, mman, warnings };
  }
  // node:wasi writes to real file descriptors: capture them in temporary files.
  const dir = mkdtempSync(join(tmpdir(), "wasi-mman-c-"));
  const outPath = join(dir, "stdout");
  const errPath = join(dir, "stderr");
  const outFd = openSync(outPath, "w");
  const errFd = openSync(errPath, "w");
  try {
    const wasi = new NodeWASI({ version: "preview1", args, env: {}, stdout: outFd, stderr: errFd, returnOnExit: true });
    const instance = await WebAssembly.instantiate(module, {
      ...(wasi.getImportObject() as WebAssembly.Imports),
      ...mman.imports,
    });
    mman.attach(instance);
    const exitCode = wasi.start(instance);
    closeSync(outFd);
    closeSync(errFd);
    return { exitCode, stdout: readFileSync(outPath, "utf8"), stderr: readFileSync(errPath, "utf8"), trace, mman, warnings };
  } finally {
    try { closeSync(outFd); } catch { /* already closed */ }
    try { closeSync(errFd); } catch { /* already closed */ }
    rmSync(dir, { recursive: true, force: true });
  }
}

function joinLines(lines: string[]): string {
  return lines.length ? lines.join("\n") + "\n" : "";
}
