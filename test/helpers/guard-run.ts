/**
 * One guarded run, written once for both places it runs: in Node (test/guard-browser.test.ts
 * passes the modules it imports) and in headless Chromium (guard-page.ts passes the
 * self-contained bundle, wasi-mman-guard.js). The module is instrumented where it runs, so
 * Binaryen's JavaScript build does that part in the browser too.
 */
import type * as GuardBrowser from "../../guard/browser.js";

/** What the run needs: guard/browser.ts's exports, or the same taken from their own modules. */
export type GuardLibrary = Pick<typeof GuardBrowser, "instrument" | "createGuardedMman" | "runWithShim" | "shimFileResolver" | "WASI" | "File" | "OpenFile" | "ConsoleStdout">;

export interface GuardOutcome {
  /** SHA-256 of the instrumented module, hex: Node and the browser must write the same bytes. */
  instrumentedDigest: string;
  instrumentedBytes: number;
  exitCode: number | null;
  stdout: string;
  /** The trap's constructor name ("RuntimeError"), or null when the program ended. */
  errorName: string | null;
  errorMessage: string | null;
  report: string | null;
  summary: ReturnType<GuardBrowser.Guard["summary"]>;
  /** The table the guard kept equals the one the engine's state gives. */
  tableAgrees: boolean;
  instrumentMs: number;
  runMs: number;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Instruments `original`, runs it as a command under the guard, and reports what happened. */
export async function guardedRun(lib: GuardLibrary, original: Uint8Array, pageSize: number): Promise<GuardOutcome> {
  // The report lists the whole wasm stack; V8's default keeps 10 frames.
  Error.stackTraceLimit = 50;
  const instrumentStart = performance.now();
  const { bytes } = lib.instrument(original);
  const instrumentMs = performance.now() - instrumentStart;
  const out: string[] = [];
  const fds = [new lib.OpenFile(new lib.File([])), lib.ConsoleStdout.lineBuffered((line) => out.push(line)), lib.ConsoleStdout.lineBuffered(() => {})];
  const wasi = new lib.WASI(["prog"], [], fds, { debug: false });
  // The shim's descriptors as mmap's files, as runWithShim gives a createMman of its own.
  const mman = lib.createGuardedMman({ pageSize, files: lib.shimFileResolver(wasi) });
  const runStart = performance.now();
  let exitCode: number | null = null;
  let error: unknown = null;
  try {
    exitCode = (await lib.runWithShim(bytes, { wasi, mman, run: "command" })).exitCode;
  } catch (caught) {
    error = caught;
  }
  const runMs = performance.now() - runStart;
  const report = error === null ? null : mman.guard.report(error);
  const current = mman.guard.currentTable();
  const expected = mman.guard.expectedTable();
  return {
    instrumentedDigest: await sha256(bytes),
    instrumentedBytes: bytes.length,
    exitCode,
    stdout: out.join("\n"),
    errorName: error === null ? null : error instanceof Error ? error.constructor.name : typeof error,
    errorMessage: error === null ? null : error instanceof Error ? error.message : String(error),
    report,
    summary: report === null ? null : mman.guard.summary(error),
    tableAgrees: current.length === expected.length && current.every((byte, index) => byte === expected[index]),
    instrumentMs,
    runMs,
  };
}
