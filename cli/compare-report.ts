/**
 * What `wasi-mman compare` measured, and the plain-text and JSON forms of it.
 *
 * One CompareRun per page size. The text table has one column per page size, in the order
 * the page sizes were given, and the rows the question "which page size?" needs: how often
 * the guest called, what it asked for, what that cost in whole pages at the peak and over
 * the whole run, and what the host paid (linear memory, memory.grow calls, bitmap).
 */
import type { MmanStats } from "../syscalls/create-mman.js";
import { formatBytes, formatPercent } from "./format.js";

/** One point of the mapped-vs-requested timeline (sampled from the trace hook). */
export interface Sample {
  /** Memory calls made so far: the x axis of the charts, the same clock in every run. */
  calls: number;
  /** Milliseconds since the run started. */
  timeMs: number;
  mappedBytes: number;
  requestedBytes: number;
  /** Linear memory's size then (`wasi-mman run --html` records it; compare does not). */
  linearMemoryBytes?: number;
}

export interface CompareRun {
  pageSize: number;
  /** The mmap threshold this run's guest was given (--thresholds), else null. */
  threshold: number | null;
  /** The module's exit code (134 after a trap); null in synthetic mode. */
  exitCode: number | null;
  /** The trap message, when the module trapped. */
  trap: string | null;
  stdout: string;
  stderr: string;
  /** Wall time of the run (instantiate to exit), with tracing on: the median of timesMs. */
  timeMs: number;
  /** Every timed run of this page size (--repeat), in order, after the warm-up. */
  timesMs: number[];
  stats: MmanStats;
  samples: Sample[];
}

/** How one run differs from the first run. */
export interface RunDifference {
  pageSize: number;
  threshold: number | null;
  exitCode: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Where stdout first differs (null when it does not, or when output is not compared). */
  stdoutLine: LineDifference | null;
  stderrLine: LineDifference | null;
}

export interface CompareOptions {
  /** Compare exit codes only (--ignore-output): for programs that print addresses or times. */
  ignoreOutput?: boolean;
}

/** The runs whose exit code, stdout or stderr differ from the first run's. */
export function differences(runs: readonly CompareRun[], options: CompareOptions = {}): RunDifference[] {
  const [first] = runs;
  const found: RunDifference[] = [];
  const compare = options.ignoreOutput !== true;
  for (const run of runs.slice(1)) {
    const stdoutLine = compare ? firstDifferingLine(first.stdout, run.stdout) : null;
    const stderrLine = compare ? firstDifferingLine(first.stderr, run.stderr) : null;
    const difference = {
      pageSize: run.pageSize,
      threshold: run.threshold,
      // A trap is part of how the run ended: the same code with another trap message differs.
      exitCode: run.exitCode !== first.exitCode || run.trap !== first.trap,
      stdout: stdoutLine !== null,
      stderr: stderrLine !== null,
      stdoutLine,
      stderrLine,
    };
    if (difference.exitCode || difference.stdout || difference.stderr) found.push(difference);
  }
  return found;
}

/**
 * Where one stream of a run first differs from the first run's: the 1-based line and both
 * lines as written, with their newline (null: the stream has no such line).
 */
export interface LineDifference {
  line: number;
  expected: string | null;
  actual: string | null;
}

/** The first line where `actual` differs from `expected`, or null when they are equal. */
export function firstDifferingLine(expected: string, actual: string): LineDifference | null {
  if (expected === actual) return null;
  // Split after each newline, keeping it: "a\n" and "a" are different last lines.
  const want = expected.split(/(?<=\n)/);
  const got = actual.split(/(?<=\n)/);
  for (let index = 0; ; index++) {
    const a = want[index] ?? null;
    const b = got[index] ?? null;
    if (a !== b) return { line: index + 1, expected: a, actual: b };
  }
}

/** `line 3: "ptr 0x14000" (4 KiB run: "ptr 0x11000")`. */
export function describeLineDifference(difference: LineDifference, firstLabel: string): string {
  const bare = (text: string | null): string | null => (text === null ? null : text.replace(/\n$/, ""));
  const shown = (text: string | null): string => {
    const line = bare(text);
    return line === null ? "(no such line)" : JSON.stringify(line.length > 120 ? `${line.slice(0, 117)}...` : line);
  };
  const { expected, actual } = difference;
  // The same text, one with its newline and one without: the output ends differently.
  const ending = bare(expected) === bare(actual) ? ` (${actual?.endsWith("\n") ? "" : "no "}newline at the end; ${firstLabel} run: ${expected?.endsWith("\n") ? "" : "no "}newline)` : "";
  if (ending !== "") return `line ${difference.line}: ${shown(actual)}${ending}`;
  return `line ${difference.line}: ${shown(actual)} (${firstLabel} run: ${shown(expected)})`;
}

/** "4 KiB" for a page size; page sizes are whole KiB. */
export function pageLabel(pageSize: number): string {
  return formatBytes(pageSize);
}

/** A run's column label: its page size, and its threshold when there is one (`16 KiB t=128 KiB`). */
export function runLabel(run: Pick<CompareRun, "pageSize" | "threshold">): string {
  return run.threshold === null ? pageLabel(run.pageSize) : `${pageLabel(run.pageSize)} t=${exactBytes(run.threshold)}`;
}

/** `0`, or `134 (trap: unreachable)`. */
function ending(run: CompareRun): string {
  return run.trap === null ? String(run.exitCode) : `${String(run.exitCode)} (trap: ${run.trap})`;
}

/**
 * One line saying whether the runs agree, then, for runs whose output differs, one line per
 * stream with the first line that differs:
 *   all 4 runs agree: exit code 0, same stdout (25 bytes) and stderr (0 bytes)
 *   runs differ from the 4 KiB run (exit code 1): 64 KiB (exit code 16, stdout)
 *     64 KiB stdout, line 1: "page size: 65536" (4 KiB run: "page size: 4096")
 */
export function describeAgreement(runs: readonly CompareRun[], options: CompareOptions = {}): string {
  const [first] = runs;
  const found = differences(runs, options);
  if (found.length === 0) {
    const bytes = (text: string): number => Buffer.byteLength(text);
    if (runs.length === 1) return `one run: exit code ${ending(first)}, stdout ${bytes(first.stdout)} bytes, stderr ${bytes(first.stderr)} bytes`;
    if (options.ignoreOutput === true) return `all ${runs.length} runs agree: exit code ${ending(first)} (output not compared: --ignore-output)`;
    return `all ${runs.length} runs agree: exit code ${ending(first)}, same stdout (${bytes(first.stdout)} bytes) and stderr (${bytes(first.stderr)} bytes)`;
  }
  const parts = found.map((difference) => {
    const run = runs.find((candidate) => candidate.pageSize === difference.pageSize && candidate.threshold === difference.threshold) as CompareRun;
    const what: string[] = [];
    if (difference.exitCode) what.push(`exit code ${ending(run)}`);
    if (difference.stdout) what.push("stdout");
    if (difference.stderr) what.push("stderr");
    return `${runLabel(run)} (${what.join(", ")})`;
  });
  // Then, per differing stream, where it first differs.
  const where = found.flatMap((difference) => {
    const label = runLabel(difference);
    return [
      ...(difference.stdoutLine === null ? [] : [`  ${label} stdout, ${describeLineDifference(difference.stdoutLine, runLabel(first))}`]),
      ...(difference.stderrLine === null ? [] : [`  ${label} stderr, ${describeLineDifference(difference.stderrLine, runLabel(first))}`]),
    ];
  });
  return [`runs differ from the ${runLabel(first)} run (exit code ${ending(first)}): ${parts.join(", ")}`, ...where].join("\n");
}

interface Row {
  label: string;
  value(run: CompareRun): string;
}

function calls(stats: MmanStats, call: keyof MmanStats["calls"]): string {
  const failed = stats.errors[call];
  return failed > 0 ? `${stats.calls[call]} (${failed} failed)` : String(stats.calls[call]);
}

/**
 * Bytes that stay exact where rounding would mislead: `4095 B` rather than `4 KiB` below
 * 64 KiB when the value is not a whole KiB; formatBytes otherwise.
 */
export function exactBytes(bytes: number): string {
  return bytes % 1024 !== 0 && bytes < 65536 ? `${bytes} B` : formatBytes(bytes);
}

/** Wasted bytes at the peak, and of how much: `63 KiB of 192 KiB`. */
function wastedOf(stats: MmanStats): string {
  const { mappedBytes, requestedBytes } = stats.peak;
  return `${exactBytes(mappedBytes - requestedBytes)} of ${formatBytes(mappedBytes)}`;
}

export function milliseconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

const ROWS: Row[] = [
  { label: "mmap calls", value: (r) => calls(r.stats, "mmap") },
  { label: "munmap calls", value: (r) => calls(r.stats, "munmap") },
  { label: "mremap calls", value: (r) => calls(r.stats, "mremap") },
  { label: "brk calls", value: (r) => calls(r.stats, "brk") },
  { label: "bytes requested (all)", value: (r) => formatBytes(r.stats.cumulative.requestedBytes) },
  { label: "requested at peak", value: (r) => formatBytes(r.stats.peak.requestedBytes) },
  { label: "mapped at peak", value: (r) => formatBytes(r.stats.peak.mappedBytes) },
  { label: "wasted at peak", value: (r) => wastedOf(r.stats) },
  { label: "wastage at peak", value: (r) => formatPercent(r.stats.peak.wastage) },
  { label: "wastage, all mappings", value: (r) => formatPercent(r.stats.cumulative.wastage) },
  { label: "brk bytes (peak)", value: (r) => formatBytes(r.stats.peak.brkBytes) },
  { label: "peak linear memory", value: (r) => formatBytes(r.stats.peak.linearMemoryBytes) },
  {
    label: "memory.grow calls",
    value: (r) => (r.stats.growFailures > 0 ? `${r.stats.growCalls} (${r.stats.growFailures} failed)` : String(r.stats.growCalls)),
  },
  { label: "bitmap size", value: (r) => formatBytes(r.stats.bitmapBytes) },
  { label: "run time", value: (r) => milliseconds(r.timeMs) },
];

const EXIT_ROW: Row = { label: "exit code", value: (r) => (r.trap !== null ? `${String(r.exitCode)} (trap)` : String(r.exitCode)) };

/**
 * Lays out rows of cells: the first column left-aligned, the others right-aligned, two
 * spaces apart (no trailing newline).
 */
export function alignColumns(rows: readonly string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ").trimEnd()).join("\n");
}

/** The table's cells, header row first: one column per run; the exit code row only for module runs. */
export function compareTableRows(runs: readonly CompareRun[], label: (run: CompareRun) => string = runLabel): string[][] {
  const rows = runs.some((run) => run.exitCode !== null) ? [EXIT_ROW, ...ROWS] : ROWS;
  const header = ["page size", ...runs.map(label)];
  return [header, ...rows.map((row) => [row.label, ...runs.map((run) => row.value(run))])];
}

/** The comparison table as text (the same cells the HTML report shows). */
export function formatCompareTable(runs: readonly CompareRun[], label: (run: CompareRun) => string = runLabel): string {
  return alignColumns(compareTableRows(runs, label));
}
