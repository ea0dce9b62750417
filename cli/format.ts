/**
 * The statistics table that `wasi-mman run --stats` prints, as a reusable function: one
 * column per run, so a comparison of several runs (page sizes, allocators) is the same table
 * with more columns.
 *
 *   formatStatsTable([{ label: "4 KiB", stats: a }, { label: "64 KiB", stats: b }])
 *
 *   statistic              4 KiB     64 KiB
 *   page size              4 KiB     64 KiB
 *   live mappings              0          0
 *   ...
 */
import { CALL_NAMES } from "../syscalls/calls.js";
import type { MmanStats } from "../syscalls/create-mman.js";

export interface StatsColumn {
  label: string;
  stats: MmanStats;
}

const UNITS = ["B", "KiB", "MiB", "GiB"];

/** Bytes for people: `512 B`, `4 KiB`, `1.5 MiB` (binary units, up to two decimals). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(value) : String(Math.round(value * 100) / 100);
  return `${text} ${UNITS[unit]}`;
}

/** A 0..1 ratio as a percentage with one decimal: `12.5%`. */
export function formatPercent(ratio: number): string {
  return `${(Math.round(ratio * 1000) / 10).toFixed(1)}%`;
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

interface Row {
  label: string;
  value(stats: MmanStats): string;
}

/** The rows, in the order a reader asks the questions: what now, what at most, what overall. */
const ROWS: Row[] = [
  { label: "page size", value: (s) => formatBytes(s.pageSize) },
  { label: "heap base", value: (s) => hex(s.heapBase) },
  { label: "break", value: (s) => `${hex(s.brk)} (+${formatBytes(s.brkBytes)})` },
  { label: "live mappings", value: (s) => String(s.liveMappings) },
  { label: "mapped now", value: (s) => formatBytes(s.mappedBytes) },
  { label: "requested now", value: (s) => formatBytes(s.requestedBytes) },
  { label: "wastage now", value: (s) => formatPercent(s.wastage) },
  { label: "peak live mappings", value: (s) => String(s.peak.liveMappings) },
  { label: "peak mapped", value: (s) => formatBytes(s.peak.mappedBytes) },
  { label: "requested at peak", value: (s) => formatBytes(s.peak.requestedBytes) },
  { label: "wastage at peak", value: (s) => formatPercent(s.peak.wastage) },
  { label: "peak brk area", value: (s) => formatBytes(s.peak.brkBytes) },
  { label: "all mappings, mapped", value: (s) => formatBytes(s.cumulative.mappedBytes) },
  { label: "all mappings, requested", value: (s) => formatBytes(s.cumulative.requestedBytes) },
  { label: "all mappings, wastage", value: (s) => formatPercent(s.cumulative.wastage) },
  { label: "linear memory", value: (s) => formatBytes(s.linearMemoryBytes) },
  { label: "peak linear memory", value: (s) => formatBytes(s.peak.linearMemoryBytes) },
  { label: "memory.grow calls", value: (s) => (s.growFailures > 0 ? `${s.growCalls} (${s.growFailures} failed)` : String(s.growCalls)) },
  { label: "grown by the guest", value: (s) => formatBytes(s.foreignBytes) },
  { label: "cleared for reuse", value: (s) => formatBytes(s.clearedBytes) },
  { label: "bookkeeping", value: (s) => formatBytes(s.bookkeepingBytes) },
];

/** `3` or `3 (1 failed)`. */
function callCell(stats: MmanStats, call: (typeof CALL_NAMES)[number]): string {
  const count = stats.calls[call];
  const failed = stats.errors[call];
  return failed > 0 ? `${count} (${failed} failed)` : String(count);
}

/**
 * The statistics of one or more runs as a plain-text table (no trailing newline): a label
 * column, then one right-aligned column per run. Calls that no run made are left out.
 */
export function formatStatsTable(columns: readonly StatsColumn[]): string {
  const header = ["statistic", ...columns.map((c) => c.label)];
  const body: string[][] = ROWS.map((row) => [row.label, ...columns.map((c) => row.value(c.stats))]);
  for (const call of CALL_NAMES) {
    if (columns.every((c) => c.stats.calls[call] === 0)) continue;
    body.push([`${call} calls`, ...columns.map((c) => callCell(c.stats, call))]);
  }
  const rows = [header, ...body];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ").trimEnd())
    .join("\n");
}

/** The table for a single run (column label "value"). */
export function formatStats(stats: MmanStats): string {
  return formatStatsTable([{ label: "value", stats }]);
}
