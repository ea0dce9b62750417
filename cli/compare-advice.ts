/**
 * What `wasi-mman compare` advises: which page size (and mmap threshold) to use.
 *
 * The recommendation minimises peak linear memory, the memory the host really pays for:
 * wastage inside mappings only matters as far as it makes linear memory grow. Runs that tie
 * on it (memory grows in 64 KiB steps, so small programs often do) are told apart by the
 * number of memory calls (each costs a host call), then wastage over all mappings, then the
 * larger page size (a smaller bitmap). Run time is reported, not used: differences of a few
 * percent between runs are the machine's noise, and the choice must not change from one
 * invocation to the next.
 */
import { CALL_NAMES } from "../syscalls/calls.js";
import { milliseconds, runLabel, type CompareRun } from "./compare-report.js";
import { formatBytes, formatPercent } from "./format.js";

/** The middle value of `values` (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export interface Recommendation {
  pageSize: number;
  threshold: number | null;
  peakLinearMemoryBytes: number;
  /** Two lines: the choice and its measure, then why. */
  lines: [string, string];
}

function totalCalls(run: CompareRun): number {
  return CALL_NAMES.reduce((sum, name) => sum + run.stats.calls[name], 0);
}

function choice(run: CompareRun): string {
  return run.threshold === null ? `${formatBytes(run.pageSize)} pages` : `${formatBytes(run.pageSize)} pages with an mmap threshold of ${formatBytes(run.threshold)}`;
}

/**
 * The run to use and why; null when every run trapped (nothing worth choosing). `agree`
 * false adds a warning: runs whose output differs may not be doing the same work.
 */
export function recommend(runs: readonly CompareRun[], agree = true): Recommendation | null {
  const candidates = runs.filter((run) => run.trap === null);
  if (candidates.length === 0) return null;
  const peak = (run: CompareRun): number => run.stats.peak.linearMemoryBytes;
  const lowest = Math.min(...candidates.map(peak));
  const tied = candidates.filter((run) => peak(run) === lowest);
  const ordered = [...tied].sort(
    (a, b) =>
      totalCalls(a) - totalCalls(b) ||
      a.stats.cumulative.wastage - b.stats.cumulative.wastage ||
      b.pageSize - a.pageSize,
  );
  const best = ordered[0];
  const others = candidates.filter((run) => run !== best);
  const versus = others.length === 0 ? "" : ` (${others.map((run) => `${runLabel(run)}: ${formatBytes(peak(run))}`).join(", ")})`;
  const first = `recommended: ${choice(best)}: the lowest peak linear memory, ${formatBytes(lowest)}${versus}`;

  let why: string;
  if (tied.length === 1) {
    const next = Math.min(...others.map(peak));
    why = others.length === 0 ? "only one run" : `${formatBytes(next - lowest)} less than the next best`;
  } else {
    const runnerUp = ordered[1];
    const tie = `${tied.length} runs peak at ${formatBytes(lowest)}`;
    if (totalCalls(best) !== totalCalls(runnerUp)) why = `${tie}; this one makes the fewest memory calls (${totalCalls(best)}, against ${totalCalls(runnerUp)} for ${runLabel(runnerUp)})`;
    else if (best.stats.cumulative.wastage !== runnerUp.stats.cumulative.wastage) why = `${tie}, with as many calls; this one wastes least over all mappings`;
    else why = `${tie} with as many calls and the same wastage; the largest page size keeps the smallest bitmap`;
  }
  const timing = best.timesMs.length > 1 ? `median of ${best.timesMs.length} runs` : "one run";
  const second =
    `why: ${why}; wastage ${formatPercent(best.stats.peak.wastage)} at the peak, ${formatPercent(best.stats.cumulative.wastage)} over all mappings; ` +
    `${best.stats.calls.mmap} mmap call${best.stats.calls.mmap === 1 ? "" : "s"}; run time ${milliseconds(best.timeMs)} (${timing})` +
    (agree ? "" : "; but the runs differ (above): check that they do the same work first");
  return { pageSize: best.pageSize, threshold: best.threshold, peakLinearMemoryBytes: lowest, lines: [first, second] };
}
