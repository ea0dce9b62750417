/**
 * `wasi-mman run --strace`, with strace(1)'s habits:
 *
 *   --strace                 every call, one line each, on stderr
 *   --strace=mmap,munmap     only these calls (strace -e trace=mmap,munmap)
 *   --strace-summary, -c     a table at exit: time, calls, errors per call (strace -c)
 *   --strace-output FILE     the lines and the table to FILE instead of stderr (strace -o)
 *
 * and the chunked writer that --trace and --strace-output share.
 */
import { closeSync } from "node:fs";
import { straceLine } from "../hosts/trace-format.js";
import { CALL_NAMES, type CallName, type TraceRecord } from "../syscalls/calls.js";
import { UsageError } from "./args.js";
import { closestName } from "./suggest.js";
import { tryWriteAllSync, writeLineSync } from "./host-io.js";

/**
 * Lines collected and written to a file in large chunks. When the file cannot be written (a
 * full disk, /dev/full), one line says so and writing stops: the module's run, the write-back
 * and the statistics do not depend on it.
 */
export class ChunkedFile {
  private chunks: string[] = [];
  private size = 0;
  private failed = false;
  constructor(
    private readonly fd: number,
    private readonly path: string,
    /** The option that named the file, for the error line (`--trace`). */
    private readonly option: string,
  ) {}

  add(line: string): void {
    if (this.failed) return;
    this.chunks.push(line, "\n");
    this.size += line.length + 1;
    if (this.size >= 1 << 16) this.flush();
  }

  flush(): void {
    if (this.failed || this.chunks.length === 0) return;
    const code = tryWriteAllSync(this.fd, new TextEncoder().encode(this.chunks.join("")));
    this.chunks = [];
    this.size = 0;
    if (code !== null) {
      this.failed = true;
      writeLineSync(2, `wasi-mman: ${this.option}: cannot write ${this.path}: ${code}; ${this.option === "--trace" ? "tracing" : "writing it"} stopped`);
    }
  }

  close(): void {
    this.flush();
    try {
      closeSync(this.fd);
    } catch {
      // Nothing is left to lose: every line was written or reported above.
    }
  }
}

/** --strace=LIST: call names, comma-separated; a mistyped one is a usage error with a suggestion. */
export function parseStraceFilter(text: string): Set<CallName> {
  const calls = new Set<CallName>();
  for (const part of text.split(",").map((name) => name.trim())) {
    if (!(CALL_NAMES as readonly string[]).includes(part)) {
      const suggestion = closestName(part, CALL_NAMES);
      const hint = suggestion === null ? "" : ` (did you mean ${suggestion}?)`;
      throw new UsageError(`--strace: unknown call "${part}"${hint}; the calls are ${CALL_NAMES.join(", ")}`);
    }
    calls.add(part as CallName);
  }
  return calls;
}

interface Tally {
  calls: number;
  errors: number;
  microseconds: number;
}

/**
 * strace -c's table: one row per call made, most time first, then the total.
 *
 *   % time     seconds  usecs/call     calls    errors syscall
 *   ------ ----------- ----------- --------- --------- ----------------
 *    71.43    0.000010           5         2           mmap
 */
export function formatStraceSummary(tallies: ReadonlyMap<CallName, Tally>): string {
  const rows = [...tallies.entries()].sort((a, b) => b[1].microseconds - a[1].microseconds || b[1].calls - a[1].calls);
  const total = rows.reduce((sum, [, tally]) => ({ calls: sum.calls + tally.calls, errors: sum.errors + tally.errors, microseconds: sum.microseconds + tally.microseconds }), {
    calls: 0,
    errors: 0,
    microseconds: 0,
  });
  const rule = "------ ----------- ----------- --------- --------- ----------------";
  const line = (percent: string, tally: Tally, perCall: string, name: string): string =>
    `${percent.padStart(6)} ${(tally.microseconds / 1e6).toFixed(6).padStart(11)} ${perCall.padStart(11)} ${String(tally.calls).padStart(9)} ${(tally.errors > 0 ? String(tally.errors) : "").padStart(9)} ${name}`;
  const percentOf = (microseconds: number): string => (total.microseconds > 0 ? ((100 * microseconds) / total.microseconds).toFixed(2) : "0.00");
  return [
    "% time     seconds  usecs/call     calls    errors syscall",
    rule,
    ...rows.map(([name, tally]) => line(percentOf(tally.microseconds), tally, String(Math.round(tally.microseconds / tally.calls)), name)),
    rule,
    line("100.00", total, "", "total"),
  ].join("\n");
}

export interface StraceOptions {
  /** Print a line per call. */
  lines: boolean;
  /** Tally the calls for the table at exit. */
  summary: boolean;
  /** Only these calls (null: all). */
  filter: Set<CallName> | null;
  /** Where lines and the table go: a file, or null for stderr (unbuffered, in call order with the module's output). */
  output: ChunkedFile | null;
}

/** Receives every call's record; writes the lines as they come and the table at the end. */
export class Strace {
  private readonly tallies = new Map<CallName, Tally>();
  constructor(private readonly options: StraceOptions) {}

  observe(record: TraceRecord): void {
    if (this.options.filter !== null && !this.options.filter.has(record.call)) return;
    if (this.options.lines) this.write(straceLine(record, { errnoText: true }));
    if (this.options.summary) {
      const tally = this.tallies.get(record.call) ?? { calls: 0, errors: 0, microseconds: 0 };
      tally.calls++;
      if (record.errno !== null) tally.errors++;
      tally.microseconds += record.durationUs;
      this.tallies.set(record.call, tally);
    }
  }

  /** The table (when asked for), then the output file closed. */
  finish(): void {
    if (this.options.summary) this.write(formatStraceSummary(this.tallies));
    this.options.output?.close();
  }

  private write(line: string): void {
    if (this.options.output === null) writeLineSync(2, line);
    else this.options.output.add(line);
  }
}
