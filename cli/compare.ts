/**
 * `wasi-mman compare`: one workload, once per libc page size, side by side.
 *
 * The choice of page size is a trade (see docs/compare.md): small pages waste less at the
 * end of each mapping but need a larger bitmap; 64 KiB pages match memory.grow but waste up
 * to 64 KiB - 1 per mapping. This command measures it for a given program:
 *
 *   module mode     runs a WASI command once per page size with the same arguments,
 *                   environment, files and (empty) stdin, and checks that every run gives
 *                   the same exit code, stdout and stderr;
 *   synthetic mode  (--sizes) maps a list of sizes through the calls, no module needed.
 *
 * Output: a table (stdout), --json, --html FILE. Exit status: 0 when the runs agree, 1 when
 * they differ, 2 for a usage error or a missing or invalid module (one line on stderr).
 */
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";
import { ImportMismatchError } from "../hosts/check.js";
import { runWithShim } from "../hosts/shim.js";
import { shimFileResolver } from "../hosts/shim-files.js";
import { readModuleInfo, WasmFormatError, type ModuleInfo } from "../hosts/wasm-imports.js";
import type { GrowthOption } from "../runtime/growth.js";
import { createMman } from "../syscalls/create-mman.js";
import { EXIT_USAGE, parseGrowthOption, parseMaxMemoryOption, parsePageSizeOption, parseSize, splitOptions, UsageError } from "./args.js";
import { median, recommend, type Recommendation } from "./compare-advice.js";
import { renderCompareHtml } from "./compare-html.js";
import { describeAgreement, differences, exactBytes, formatCompareTable, milliseconds, pageLabel, runLabel, type CompareRun } from "./compare-report.js";
import { parseSizesOption, runSynthetic, formatSizeTable, type SyntheticResult } from "./compare-synthetic.js";
import { Timeline } from "./compare-timeline.js";
import { loadDir, parseDirSpec, type DirSpec } from "./dirs.js";
import { writeLineSync } from "./host-io.js";
import { readModule } from "./run.js";
import { importsMman, noMmanImportsLine } from "./run-notices.js";

export const COMPARE_USAGE = `Usage: wasi-mman compare [options] <module.wasm | module.wat> [--] [args...]
       wasi-mman compare [options] --sizes SIZE,SIZE,...

Runs a WASI command module once per libc page size, with the same arguments, environment,
files and an empty stdin, checks that every run gives the same exit code, stdout and stderr
(and says which differ), and prints one column per page size: calls, bytes requested,
bytes mapped at the peak, wastage, brk bytes, peak linear memory, memory.grow calls, bitmap
size and run time (the median of --repeat runs after a warm-up). The module's own output is
captured, not shown (see --json); where runs differ, the first differing line is shown. The
last lines recommend the page size with the lowest peak linear memory, and say why.

With --sizes and no module, maps each size once (anonymous, private) per page size and
prints the same table, plus the wastage of each size.

Options:
  --page-sizes LIST    page sizes to compare (default 4k,16k,32k,64k)
  --sizes LIST         synthetic mode: allocation sizes such as 129k,300k,1m
  --thresholds LIST    a second axis: run every page size once per mmap threshold (e.g.
                       64k,128k,256k), given to the module in the environment as
                       MALLOC_MMAP_THRESHOLD_=<bytes> (glibc's name; mallopt(3)), for guest
                       allocators that read it
  --threshold-env NAME the variable --thresholds sets instead
  --ignore-output      compare exit codes only, not stdout and stderr (for programs that
                       print addresses, times or anything else that may differ)
  --repeat N           time each page size as the median of N runs (default 3), after one
                       warm-up run that is not counted
  --json               print the results as JSON on stdout instead of the table
  --html FILE          also write a self-contained HTML report with charts to FILE
  --max-memory SIZE    never grow linear memory past SIZE (as for wasi-mman run)
  --growth MODE        exact or geometric (as for wasi-mman run)
  --dir HOST[:GUEST]   preopen a host directory, loaded afresh for every run; nothing is
                       written back (every run must see the same files). Repeatable.
  --env KEY=VALUE      set an environment variable for the module. Repeatable.
  -q, --quiet          no progress lines on stderr
  -h, --help           show this help

Exit status: 0 when all runs agree; 1 when their exit codes or output differ; 2 for bad
options or a missing or invalid module.

Examples:
  wasi-mman compare --sizes 129k,300k
  wasi-mman compare --html report.html fixtures/compare/known-wastage.wat
  wasi-mman compare --page-sizes 4k,64k --json prog.wasm -- input.txt
  wasi-mman compare --thresholds 64k,128k,256k fixtures/compare/threshold-env.wat`;

const SPEC = {
  "--page-sizes": "value",
  "--sizes": "value",
  "--thresholds": "value",
  "--threshold-env": "value",
  "--json": "flag",
  "--ignore-output": "flag",
  "--repeat": "value",
  "--html": "value",
  "--max-memory": "value",
  "--growth": "value",
  "--dir": "list",
  "--env": "list",
  "--quiet": "flag",
  "--help": "flag",
} as const;

const DEFAULT_PAGE_SIZES = [4096, 16384, 32768, 65536];

/** Timed runs per page size unless --repeat says otherwise. */
const DEFAULT_REPEAT = 3;

/** The recommendation's two lines after a blank line, or nothing. */
function recommendationText(recommendation: Recommendation | null): string {
  return recommendation === null ? "" : `\n\n${recommendation.lines.join("\n")}`;
}

/**
 * The variable --thresholds sets: glibc's name for the mmap threshold (mallopt(3),
 * M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_"); a guest allocator reads it at start-up.
 */
const DEFAULT_THRESHOLD_ENV = "MALLOC_MMAP_THRESHOLD_";

/** --thresholds: comma-separated byte counts (64k,128k,256k); no repeats. */
export function parseThresholdsOption(text: string): number[] {
  const thresholds = text.split(",").map((part) => parseSize(part, "--thresholds"));
  for (const threshold of thresholds) {
    if (threshold >= 2 ** 32) throw new UsageError(`--thresholds: each threshold must be under 4g, got ${threshold}`);
  }
  if (new Set(thresholds).size !== thresholds.length) throw new UsageError(`--thresholds: a threshold is given twice in "${text}"`);
  return thresholds;
}

/** Progress every so often during a long run (from the trace hook: the run is synchronous). */
const PROGRESS_INTERVAL_MS = 2000;

/** --page-sizes: a comma-separated list of page sizes, each as --page-size takes it; no repeats. */
export function parsePageSizesOption(text: string): number[] {
  const sizes = text.split(",").map((part) => {
    try {
      return parsePageSizeOption(part.trim());
    } catch (error) {
      throw new UsageError(`--page-sizes: ${(error as Error).message.replace(/^--page-size: /, "")}`);
    }
  });
  if (new Set(sizes).size !== sizes.length) throw new UsageError(`--page-sizes: a page size is given twice in "${text}"`);
  return sizes;
}

interface ModuleRunOptions {
  modulePath: string;
  bytes: Uint8Array<ArrayBuffer>;
  args: string[];
  env: string[];
  dirs: DirSpec[];
  maxMemoryBytes?: number;
  growth?: GrowthOption;
  progress: ((line: string) => void) | null;
  /** Where host notices go (a missing __heap_base...); null to drop them. */
  warn: ((line: string) => void) | null;
}

/** Collects a stream's bytes and decodes them once at the end. */
class Capture {
  private chunks: Uint8Array[] = [];
  readonly fd = new ConsoleStdout((bytes) => this.chunks.push(bytes.slice()));
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** Turns the errors that mean "this is not a module we can run" into usage errors. */
function asUsageError(error: unknown, modulePath: string): UsageError | null {
  if (error instanceof ImportMismatchError || error instanceof WebAssembly.CompileError || error instanceof WasmFormatError) {
    return new UsageError(error.message.replace(/^wasi-mman: /, ""));
  }
  if (error instanceof WebAssembly.LinkError) return new UsageError(error.message);
  if (error instanceof TypeError && /exports no _start/.test(error.message)) {
    return new UsageError(`${modulePath} exports no _start: it is not a WASI command (a reactor cannot be run)`);
  }
  return null;
}

/** Runs the module once with one page size; everything the run printed is captured. */
async function runModuleOnce(pageSize: number, threshold: number | null, options: ModuleRunOptions): Promise<CompareRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const fds = [new OpenFile(new File([])), stdout.fd, stderr.fd, ...options.dirs.map((spec) => loadDir(spec).preopen)];
  const wasi = new WASI([options.modulePath, ...options.args], options.env, fds, { debug: false });
  const timeline = new Timeline();
  let start = performance.now();
  let lastProgress = start;
  let callCount = 0;
  const mman = createMman({
    pageSize,
    maxMemoryBytes: options.maxMemoryBytes,
    growth: options.growth,
    // File-backed mmap resolves guest fds through the shim's descriptor table, as in `run`.
    files: shimFileResolver(wasi),
    // The counters are current when the hook runs (after the call); reading them is O(1).
    trace: (record) => {
      const counters = mman.space.counters;
      timeline.add(record.time - start, counters.mappedPages * pageSize, counters.requestedBytes);
      callCount++;
      if (options.progress !== null && record.time - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = record.time;
        options.progress(`  ${runLabel({ pageSize, threshold })}: ${callCount} calls, ${((record.time - start) / 1000).toFixed(1)} s`);
      }
    },
    // Notices (such as a missing __heap_base) are the same for every run: shown once.
    onWarning: (message) => options.warn?.(message),
  });
  start = performance.now();
  lastProgress = start;
  let exitCode: number;
  let trap: string | null = null;
  try {
    // The start-function notice, like every notice, is the same for every run: shown once.
    const result = await runWithShim(options.bytes, { wasi, mman, run: "command", onWarning: (message) => options.warn?.(message) });
    exitCode = result.exitCode ?? 0;
  } catch (error) {
    const usage = asUsageError(error, options.modulePath);
    if (usage !== null) throw usage;
    // A RangeError out of a running module is a trap too: a stack overflow, or the WASI
    // host reading guest memory at an out-of-bounds pointer the module passed it.
    if (!(error instanceof WebAssembly.RuntimeError || error instanceof RangeError)) throw error;
    // As `wasi-mman run` reports a trap: 128 + SIGABRT.
    exitCode = 134;
    trap = error.message;
  }
  const timeMs = performance.now() - start;
  const stats = mman.stats();
  return {
    pageSize,
    threshold,
    exitCode,
    trap,
    stdout: stdout.text(),
    stderr: stderr.text(),
    timeMs,
    timesMs: [timeMs],
    stats,
    samples: timeline.finish(timeMs, stats.mappedBytes, stats.requestedBytes),
  };
}

/**
 * Runs one page size `repeat` times and keeps the first run's figures and output with the
 * median time of all. The figures do not vary between runs (the engine is deterministic);
 * the time does, with the machine's load and the JIT.
 */
async function runModuleRepeated(pageSize: number, threshold: number | null, repeat: number, options: ModuleRunOptions): Promise<CompareRun> {
  const first = await runModuleOnce(pageSize, threshold, options);
  const timesMs = [first.timeMs];
  for (let i = 1; i < repeat; i++) {
    timesMs.push((await runModuleOnce(pageSize, threshold, { ...options, progress: null, warn: null })).timeMs);
  }
  return { ...first, timeMs: median(timesMs), timesMs };
}

/** --repeat: how many timed runs per page size (1 to 100). */
export function parseRepeatOption(text: string): number {
  const repeat = Number(text);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) throw new UsageError(`--repeat: expected a whole number from 1 to 100, got "${text}"`);
  return repeat;
}

function parseEnv(entries: readonly string[]): string[] {
  for (const entry of entries) {
    if (entry.indexOf("=") <= 0) throw new UsageError(`--env: expected KEY=VALUE, got "${entry}"`);
  }
  return [...entries];
}

interface JsonReport {
  mode: "module" | "synthetic";
  module?: string;
  args?: string[];
  pageSizes: number[];
  thresholds?: number[];
  thresholdEnv?: string;
  agree?: boolean;
  differences?: ReturnType<typeof differences>;
  /** --ignore-output: only exit codes were compared. */
  ignoreOutput?: boolean;
  /** Timed runs per page size, after one warm-up run (module mode). */
  repeat?: number;
  recommendation: Recommendation | null;
  sizes?: SyntheticResult["sizes"];
  perSize?: SyntheticResult["perSize"];
  runs: CompareRun[];
}

function writeReport(path: string, html: string): void {
  try {
    writeFileSync(path, html);
  } catch (error) {
    throw new UsageError(`--html: cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** The `compare` subcommand; returns the process exit code. */
export async function compareCommand(argv: string[]): Promise<number> {
  try {
    const { options, rest } = splitOptions(argv, SPEC, { "-h": "--help", "-q": "--quiet" });
    if (options.has("--help")) {
      console.log(COMPARE_USAGE);
      return 0;
    }
    const one = (name: keyof typeof SPEC): string | undefined => options.get(name)?.[0];
    const pageSizes = one("--page-sizes") === undefined ? DEFAULT_PAGE_SIZES : parsePageSizesOption(one("--page-sizes") as string);
    const maxMemoryBytes = one("--max-memory") === undefined ? undefined : parseMaxMemoryOption(one("--max-memory") as string);
    const growth = one("--growth") === undefined ? undefined : parseGrowthOption(one("--growth") as string);
    const json = options.has("--json");
    const htmlPath = one("--html");
    const quiet = options.has("--quiet") || json;
    const progress = quiet ? null : (line: string) => writeLineSync(2, line);
    const sizesText = one("--sizes");
    // Fail before the runs, not after them, when the report cannot be written.
    const checkReportPath = (): void => {
      if (htmlPath !== undefined) writeReport(htmlPath, "");
    };

    let report: JsonReport;
    let text: string;
    if (sizesText !== undefined) {
      if (rest.length > 0) throw new UsageError("--sizes takes no module (synthetic mode maps the sizes itself)");
      for (const option of ["--dir", "--env"] as const) {
        if (options.has(option)) throw new UsageError(`${option} needs a module; --sizes runs none`);
      }
      if (options.has("--thresholds")) throw new UsageError("--thresholds needs a module that reads its threshold; --sizes runs none");
      const sizes = parseSizesOption(sizesText);
      checkReportPath();
      const result = runSynthetic(sizes, pageSizes, { maxMemoryBytes, growth });
      const recommendation = recommend(result.runs);
      report = { mode: "synthetic", pageSizes, sizes: result.sizes, perSize: result.perSize, runs: result.runs, recommendation };
      text = `${formatCompareTable(result.runs)}\n\nwastage of each size (wasted of mapped):\n${formatSizeTable(result)}${recommendationText(recommendation)}`;
    } else {
      if (rest.length === 0) throw new UsageError("no module given, and no --sizes (see wasi-mman compare --help)");
      // splitOptions has already taken the first `--`: whatever follows is the module's, a
      // second `--` included.
      const [modulePath, ...args] = rest;
      const env = parseEnv(options.get("--env") ?? []);
      const thresholdEnv = one("--threshold-env") ?? DEFAULT_THRESHOLD_ENV;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(thresholdEnv)) throw new UsageError(`--threshold-env: not a variable name: "${thresholdEnv}"`);
      const thresholds: (number | null)[] = one("--thresholds") === undefined ? [null] : parseThresholdsOption(one("--thresholds") as string);
      if (thresholds[0] !== null && env.some((entry) => entry.startsWith(`${thresholdEnv}=`))) {
        throw new UsageError(`--env sets ${thresholdEnv}, which --thresholds varies`);
      }
      if (one("--threshold-env") !== undefined && thresholds[0] === null) throw new UsageError("--threshold-env needs --thresholds");
      const dirs = (options.get("--dir") ?? []).map((spec) => parseDirSpec(spec, false));
      const ignoreOutput = options.has("--ignore-output");
      const repeat = one("--repeat") === undefined ? DEFAULT_REPEAT : parseRepeatOption(one("--repeat") as string);
      const bytes = await readModule(modulePath);
      let info: ModuleInfo | null = null;
      try {
        info = readModuleInfo(bytes);
      } catch {
        // Not readable as a module: the first run reports why.
      }
      // Every column would be zeros: say why, once.
      if (!importsMman(info)) writeLineSync(2, noMmanImportsLine(modulePath));
      const runOptions = { modulePath, bytes, args, dirs, maxMemoryBytes, growth, progress };
      // Compile once before the runs so that the first run's time does not include it
      // (V8 keeps compiled modules by their bytes); a module that does not compile is a
      // usage error, reported before anything runs.
      try {
        await WebAssembly.compile(bytes);
      } catch (error) {
        throw asUsageError(error, modulePath) ?? error;
      }
      checkReportPath();
      // Every threshold (outer) with every page size (inner); `repeat` timed runs each.
      const plan = thresholds.flatMap((threshold) => pageSizes.map((pageSize) => ({ threshold, pageSize })));
      const envOf = (threshold: number | null): string[] => (threshold === null ? env : [...env, `${thresholdEnv}=${threshold}`]);
      // One warm-up run first, not counted: otherwise the first page size also pays for
      // compiling the engine's JavaScript and the module, and every later one looks faster.
      // Its notices (a start function, a missing __heap_base) are the same for every run: shown once.
      await runModuleOnce(plan[0].pageSize, plan[0].threshold, { ...runOptions, env: envOf(plan[0].threshold), progress: null, warn: (line) => writeLineSync(2, line) });
      const runs: CompareRun[] = [];
      for (const [index, { threshold, pageSize }] of plan.entries()) {
        const run = await runModuleRepeated(pageSize, threshold, repeat, { ...runOptions, env: envOf(threshold), warn: null });
        runs.push(run);
        const timing = repeat > 1 ? `median ${milliseconds(run.timeMs)} of ${repeat}` : milliseconds(run.timeMs);
        progress?.(`wasi-mman compare: ${runLabel(run)} done (${index + 1}/${plan.length}): exit code ${run.exitCode}, ${timing}`);
      }
      const found = differences(runs, { ignoreOutput });
      const recommendation = recommend(runs, found.length === 0);
      report = { mode: "module", module: modulePath, args, pageSizes, agree: found.length === 0, differences: found, ignoreOutput, repeat, runs, recommendation };
      if (thresholds[0] !== null) {
        report.thresholds = thresholds as number[];
        report.thresholdEnv = thresholdEnv;
      }
      // One table per threshold keeps the columns to the page sizes.
      const tables = thresholds.map((threshold) => {
        const group = runs.filter((run) => run.threshold === threshold);
        const heading = threshold === null ? "" : `mmap threshold ${exactBytes(threshold)} (${thresholdEnv}=${threshold}):\n`;
        // The heading names the threshold, so the columns need only the page size.
        return heading + formatCompareTable(group, (run) => pageLabel(run.pageSize));
      });
      text = `${tables.join("\n\n")}\n\n${describeAgreement(runs, { ignoreOutput })}${recommendationText(recommendation)}`;
    }

    if (htmlPath !== undefined) writeReport(htmlPath, renderCompareHtml(report));
    console.log(json ? JSON.stringify(report, null, 2) : text);
    return report.agree === false ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      writeLineSync(2, `wasi-mman compare: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
