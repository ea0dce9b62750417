/**
 * `wasi-mman run`: runs a WASI command module in Node through browser_wasi_shim, with the
 * memory calls plugged in. Exit code: the module's; 2 for a usage error, a missing or invalid
 * module, an import mismatch or a bad __heap_base (one line on stderr); 134 when the module
 * traps (as wasmtime reports a trap: 128 + SIGABRT); 139 when --guard stops it at a fault.
 */
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { WASI } from "@bjorn3/browser_wasi_shim";
import { ImportMismatchError } from "../hosts/check.js";
import { runWithShim } from "../hosts/shim.js";
import { traceJsonLine } from "../hosts/trace-format.js";
import { readModuleInfo, WasmFormatError, type ModuleInfo } from "../hosts/wasm-imports.js";
import { createMman, type Mman } from "../syscalls/create-mman.js";
import { createGuardedMman, EXIT_SEGV, GuardAttachError, isGuarded } from "../guard/guard.js";
import type { TraceRecord } from "../syscalls/calls.js";
import { shimFileResolver } from "../hosts/shim-files.js";
import { EXIT_USAGE, parseGrowthOption, parseMaxMemoryOption, parsePageSizeOption, splitOptions, UsageError } from "./args.js";
import { loadDir, parseDirSpec, type LoadedDir } from "./dirs.js";
import { formatStats } from "./format.js";
import { processStdio, writeLineSync } from "./host-io.js";
import { ChunkedFile, parseStraceFilter, Strace } from "./run-strace.js";
import { Ms } from "../runtime/linux.js";
import { compileWat, DEFAULT_WAT_FEATURES } from "./wat.js";
import { renderRunHtml, reportAssets, RunRecording, type ReportAssets } from "./run-html.js";
import { EXIT_SIGINT, importsMman, LimitWatch, memoryLimit, noMmanImportsLine, runInterruptibly } from "./run-notices.js";
import { importsThreadSpawn, refuseThreadedOptions, runThreadedCommand } from "./run-threads.js";

export const RUN_USAGE = `Usage: wasi-mman run [options] <module.wasm | module.wat> [args...] [-- args...]

Runs a WASI command module (wasi_snapshot_preview1, _start) in Node with browser_wasi_shim,
with the mman memory calls (brk, mmap, munmap, mremap, madvise, mprotect, msync) plugged in.
Options may come before or after the module; other arguments, and everything after --, go to
the module (its argv[0] is the module path). A .wat file is compiled first (needs wabt).

Options:
  --page-size SIZE     libc page size: 4k, 8k, 16k, 32k, 64k or bytes (default 4k)
  --max-memory SIZE    never grow linear memory past SIZE (e.g. 64m, 1g; default: the
                       module's declared maximum, at most 4g)
  --growth MODE        exact (grow by what is needed) or geometric (default: 1/16 of
                       memory a step, at least 64 KiB)
  --dir HOST[:GUEST]   preopen host directory HOST as GUEST (default: the same path). Files
                       are loaded into memory; changed and new files are written back when
                       the module exits (deletions and renames are not). Nothing outside
                       HOST is read or written: links leading out of it are left out, and
                       write-back never follows a link or opens a FIFO. Repeatable.
  --ro-dir HOST[:GUEST]  the same, read-only, nothing written back. Repeatable.
  --env KEY=VALUE      set an environment variable for the module. Repeatable.
  --stats              print the memory statistics table to stderr after the module exits
  --trace FILE         write every memory call to FILE as JSON lines:
                       {"seq","call","args","result","errno","time","durationUs"}
  --strace[=CALLS]     print every memory call to stderr, strace style, or only CALLS
                       (--strace=mmap,munmap, as strace -e trace=mmap,munmap):
                       mmap(0, 131072, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x20000
                       mmap(0, 1073741824, ...) = -1 ENOMEM (Cannot allocate memory)
  -c, --strace-summary at exit, a table of time, calls and errors per call (strace -c);
                       with --strace, the lines too
  --strace-output FILE write the --strace lines and the summary to FILE, not stderr
                       (strace -o); implies --strace unless --strace-summary is given
  --html FILE          write a self-contained report of the run to FILE: the memory map
                       stepped through the calls, the statistics, a timeline (offline)
  --guard              trap at the first access to memory that is not mapped, is PROT_NONE,
                       writes a page without PROT_WRITE, or is a null pointer; print what
                       was touched and where (docs/guard.md), exit 139
  -h, --help           show this help

Threads: a wasi-threads module (it imports wasi.thread-spawn and a shared memory) runs with
a worker per thread, all on one memory engine (docs/threads.md); each thread has its own
browser_wasi_shim with the same args, env and stdio. --page-size, --max-memory, --growth,
--env and --stats (the whole process's calls) work as above; --dir, --ro-dir, --trace,
--strace, -c, --strace-output, --html and --guard are refused (exit 2).

Exit status: the module's exit code; 2 for bad options, a missing or invalid module, or an
import the host does not provide; 134 if the module (any of its threads) traps; 139 at a
--guard fault.

Example:
  wasi-mman run node_modules/wasi-mman/examples/hello.wasm --stats --page-size 16k -- one two
  wasi-mman run --dir ./data:/data --strace prog.wasm /data/input.txt`;

const SPEC = {
  "--page-size": "value",
  "--max-memory": "value",
  "--growth": "value",
  "--dir": "list",
  "--ro-dir": "list",
  "--env": "list",
  "--stats": "flag",
  "--trace": "value",
  "--strace": "optional",
  "--strace-summary": "flag",
  "--strace-output": "value",
  "--html": "value",
  "--guard": "flag",
  "--help": "flag",
} as const;

/**
 * Writes the bytes of every MAP_SHARED file mapping still live at exit back to its file
 * (msync with MS_SYNC), as the kernel does for a process that exits with shared mappings:
 * munmap(2) and exit(2) leave the file holding what was stored through the mapping.
 * Tracing is off by then, so these syncs are not reported as the module's calls.
 */
function syncLiveFileMappings(mman: Mman): void {
  mman.setTrace(null);
  for (const mapping of mman.mappings()) {
    if (mapping.file !== null) mman.calls.msync(mapping.address, mapping.length, Ms.SYNC);
  }
}

/** The module's bytes; .wat is compiled. Unreadable or unparsable text is a usage error. */
export async function readModule(path: string): Promise<Uint8Array<ArrayBuffer>> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : code === "EACCES" ? "permission denied" : String(code);
    throw new UsageError(`cannot read ${path}: ${reason}`);
  }
  // A binary module starts with "\0asm"; anything else is taken as text.
  const isText = path.endsWith(".wat") || path.endsWith(".wast") || (bytes.length > 0 && bytes[0] !== 0);
  if (isText) {
    try {
      // With the threads feature: a wasi-threads module's shared memory and atomics.
      return await compileWat(bytes.toString("utf8"), path, { ...DEFAULT_WAT_FEATURES, threads: true });
    } catch (error) {
      throw new UsageError((error as Error).message.replace(/^wasi-mman: /, ""));
    }
  }
  return new Uint8Array(bytes);
}

function parseEnv(entries: readonly string[]): string[] {
  return entries.map((entry) => {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`--env: expected KEY=VALUE, got "${entry}"`);
    return entry;
  });
}

/** The module's import section and memories, or null when the bytes cannot be read as a module. */
function tryModuleInfo(bytes: Uint8Array): ModuleInfo | null {
  try {
    return readModuleInfo(bytes);
  } catch {
    // Not readable as a module: compiling it reports why.
    return null;
  }
}

/** The errors that mean "this module cannot run here" (exit 2), as one line. */
function asUsageError(error: unknown): UsageError | null {
  if (error instanceof ImportMismatchError || error instanceof WebAssembly.CompileError || error instanceof WasmFormatError) {
    return new UsageError(error.message.replace(/^wasi-mman: /, ""));
  }
  if (error instanceof WebAssembly.LinkError) return new UsageError(error.message);
  if (error instanceof GuardAttachError) return new UsageError(`--guard: ${error.message.replace(/^wasi-mman guard: /, "")}`);
  return null;
}

/** Thrown out of `_start` when Ctrl-C stopped it (see interruptibleStart). */
class Interrupted extends Error {}

/**
 * Makes the shim's start() interruptible: Ctrl-C ends the module's `_start` and throws
 * Interrupted, so that the run can still write --stats and the trace (run-notices.ts).
 */
function interruptibleStart(wasi: WASI, onStart: () => void): void {
  const start = wasi.start.bind(wasi);
  wasi.start = (instance) => {
    // The memory calls are attached by now, and nothing has run yet.
    onStart();
    const result = runInterruptibly(() => start(instance));
    if (result === "interrupted") throw new Interrupted("SIGINT");
    return result;
  };
}

/**
 * Instantiates the command and runs its `_start` with runWithShim. Returns the exit code,
 * 134 after a trap (one line on stderr), or "interrupted".
 */
async function startCommand(bytes: Uint8Array<ArrayBuffer>, modulePath: string, wasi: WASI, mman: Mman, onStart: () => void): Promise<number | "interrupted"> {
  interruptibleStart(wasi, onStart);
  try {
    const result = await runWithShim(bytes, { wasi, mman, run: "command", onWarning: (message) => writeLineSync(2, message) });
    return result.exitCode ?? 0;
  } catch (error) {
    if (error instanceof Interrupted) return "interrupted";
    const usage = asUsageError(error);
    if (usage !== null) throw usage;
    if (error instanceof TypeError && /exports no _start/.test(error.message)) {
      throw new UsageError(`${modulePath} exports no _start: it is not a WASI command (a reactor cannot be run)`);
    }
    // A RangeError out of a running module is a trap too: the engine's stack overflow
    // ("Maximum call stack size exceeded"), or the WASI host reading guest memory at an
    // out-of-bounds pointer the module passed it.
    const guardReport = error instanceof WebAssembly.RuntimeError && isGuarded(mman) ? mman.guard.report(error) : null;
    if (guardReport !== null) {
      writeLineSync(2, guardReport);
      return EXIT_SEGV;
    }
    if (error instanceof WebAssembly.RuntimeError || error instanceof RangeError) {
      writeLineSync(2, `wasi-mman: the module trapped: ${error.message}`);
      return EXIT_TRAP;
    }
    throw error;
  }
}

/** instrument() from guard/; a module it cannot instrument is a usage error. */
async function instrumentForGuard(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const { instrument } = await import("../guard/instrument.js");
  try {
    return instrument(bytes).bytes;
  } catch (error) {
    throw new UsageError(`--guard: ${(error as Error).message.replace(/^wasi-mman guard: /, "")}`);
  }
}

/** Writes the --html report; a file that cannot be written is a usage error. */
function writeReport(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (error) {
    throw new UsageError(`--html: cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** As wasmtime reports a trap: 128 + SIGABRT. */
const EXIT_TRAP = 134;

/** The `run` subcommand; returns the process exit code. */
export async function runCommand(argv: string[]): Promise<number> {
  let traceFile: ChunkedFile | null = null;
  let strace: Strace | null = null;
  let html: { path: string; assets: ReportAssets; recording: RunRecording; module: string; args: string[] } | null = null;
  /** The notice lines of this run, also shown in the --html report. */
  const notices: string[] = [];
  let dirs: LoadedDir[] = [];
  let mman: Mman | null = null;
  let stats = false;
  let exitCode: number | "interrupted";
  let limitWatch: LimitWatch | null = null;
  try {
    const { options, positional, afterDashes } = splitOptions(argv, SPEC, { "-h": "--help", "-c": "--strace-summary" });
    if (options.has("--help")) {
      console.log(RUN_USAGE);
      return 0;
    }
    // The module is the first argument that is not an option; the module's own arguments are
    // the other ones, then everything after `--`.
    const [modulePath, ...moduleArgs] = [...positional, ...afterDashes];
    if (modulePath === undefined) throw new UsageError("no module given (see wasi-mman run --help)");
    const one = (name: keyof typeof SPEC): string | undefined => options.get(name)?.[0];

    const pageSize = one("--page-size") === undefined ? undefined : parsePageSizeOption(one("--page-size") as string);
    const maxMemoryBytes = one("--max-memory") === undefined ? undefined : parseMaxMemoryOption(one("--max-memory") as string);
    const growth = one("--growth") === undefined ? undefined : parseGrowthOption(one("--growth") as string);
    const env = parseEnv(options.get("--env") ?? []);
    const dirSpecs = [
      ...(options.get("--dir") ?? []).map((text) => parseDirSpec(text, false)),
      ...(options.get("--ro-dir") ?? []).map((text) => parseDirSpec(text, true)),
    ];
    stats = options.has("--stats");
    const tracePath = one("--trace");
    const straceFilter = one("--strace") ? parseStraceFilter(one("--strace") as string) : null;
    const stracePath = one("--strace-output");
    const straceSummary = options.has("--strace-summary");
    // --strace-summary alone prints only the table (strace -c); with --strace, the lines too
    // (strace -C). --strace-output alone means the lines, to the file.
    const straceLines = options.has("--strace") || (stracePath !== undefined && !straceSummary);
    const htmlPath = one("--html");

    const moduleBytes = await readModule(modulePath);
    const info = tryModuleInfo(moduleBytes);
    if (importsThreadSpawn(info)) {
      // A wasi-threads module: a worker per thread on one shared engine (cli/run-threads.ts).
      refuseThreadedOptions((option) => options.has(option as keyof typeof SPEC));
      return await runThreadedCommand({ modulePath, moduleArgs, bytes: moduleBytes, info, env, mman: { pageSize, maxMemoryBytes, growth }, stats: options.has("--stats") });
    }
    const guard = options.has("--guard");
    // Binaryen (for instrument) is loaded only for --guard.
    const bytes = guard ? await instrumentForGuard(moduleBytes) : moduleBytes;
    const usesMman = importsMman(info);
    const watch = new LimitWatch(memoryLimit(maxMemoryBytes, info), () => mman?.stats().linearMemoryBytes ?? 0);
    limitWatch = watch;
    if (tracePath !== undefined) {
      try {
        traceFile = new ChunkedFile(openSync(tracePath, "w"), tracePath, "--trace");
      } catch (error) {
        throw new UsageError(`--trace: cannot write ${tracePath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
    }
    if (straceLines || straceSummary) {
      let output: ChunkedFile | null = null;
      if (stracePath !== undefined) {
        try {
          output = new ChunkedFile(openSync(stracePath, "w"), stracePath, "--strace-output");
        } catch (error) {
          throw new UsageError(`--strace-output: cannot write ${stracePath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
        }
      }
      strace = new Strace({ lines: straceLines, summary: straceSummary, filter: straceFilter, output });
    }
    if (htmlPath !== undefined) {
      // Before the run: the viewer must be there and the file writable.
      html = { path: htmlPath, assets: reportAssets(), recording: new RunRecording(() => mman as Mman), module: modulePath, args: moduleArgs };
      writeReport(htmlPath, "");
    }
    // A symbolic link left out because it leads outside its directory: one line each.
    dirs = dirSpecs.map((spec) => loadDir(spec, (line) => writeLineSync(2, line)));

    const fds = [...processStdio(), ...dirs.map((dir) => dir.preopen)];
    const wasi = new WASI([modulePath, ...moduleArgs], env, fds, { debug: false });
    const sink = traceFile;
    const straced = strace;
    const recording = html?.recording;
    // Always on: a call refused for want of memory is named at exit (LimitWatch).
    const trace = (record: TraceRecord): void => {
      watch.observe(record);
      sink?.add(traceJsonLine(record));
      straced?.observe(record);
      recording?.observe(record);
    };
    mman = (guard ? createGuardedMman : createMman)({ pageSize, maxMemoryBytes, growth, trace, files: shimFileResolver(wasi), onWarning: (message) => writeLineSync(2, message) });
    if (!usesMman) notices.push(noMmanImportsLine(modulePath));
    for (const line of notices) writeLineSync(2, line);
    exitCode = await startCommand(bytes, modulePath, wasi, mman, () => recording?.start());
  } catch (error) {
    traceFile?.close();
    strace?.finish();
    if (error instanceof UsageError) {
      writeLineSync(2, `wasi-mman run: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
  // Counted before the syncs below, which are the host's, not the module's.
  const finalStats = mman.stats();
  if (exitCode === "interrupted") writeLineSync(2, "wasi-mman: interrupted (SIGINT); writing what the run has so far");
  syncLiveFileMappings(mman);
  traceFile?.close();
  strace?.finish();
  for (const dir of dirs) dir.writeBack((line) => writeLineSync(2, line));
  const limitLine = limitWatch?.line(exitCode === "interrupted" ? EXIT_SIGINT : exitCode) ?? null;
  if (limitLine !== null) writeLineSync(2, limitLine);
  if (html !== null) {
    const summary = exitCode === EXIT_SEGV && isGuarded(mman) ? mman.guard.lastSummary : null;
    const fault = summary === null ? null : { address: summary.address, page: summary.page, access: summary.access, size: summary.size, what: summary.what, text: summary.text };
    const ending =
      exitCode === "interrupted"
        ? "interrupted (SIGINT)"
        : exitCode === EXIT_TRAP
          ? `trapped (exit code ${EXIT_TRAP})`
          : fault !== null
            ? `stopped by --guard at a ${fault.access} of page ${fault.page} (exit code ${EXIT_SEGV})`
            : `exit code ${exitCode}`;
    const report = html.recording.finish({ module: html.module, args: html.args, ending, notices: limitLine === null ? notices : [...notices, limitLine], fault });
    try {
      writeReport(html.path, renderRunHtml(report, html.assets));
    } catch (error) {
      writeLineSync(2, `wasi-mman: ${(error as Error).message}`);
    }
  }
  if (stats) writeLineSync(2, formatStats(finalStats));
  return exitCode === "interrupted" ? EXIT_SIGINT : exitCode;
}
