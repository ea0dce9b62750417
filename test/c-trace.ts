/**
 * Reading a host trace of a C program: which mappings were live after each call. A deliberately
 * simple model (a list of [start, end) ranges) replayed from the trace records, so that tests
 * can ask "was this address inside a mapping the allocator made" without trusting the engine.
 */
import type { TraceRecord } from "../index.js";

export interface Range {
  start: number;
  end: number;
}

export function roundUp(value: number, pageSize: number): number {
  return Math.ceil(value / pageSize) * pageSize;
}

const failed = (record: TraceRecord) => record.errno !== null;

/** Replays mmap/munmap/mremap records and returns the mappings live after `upTo` records. */
export function liveMappings(trace: TraceRecord[], pageSize: number, upTo = trace.length): Range[] {
  let live: Range[] = [];
  const remove = (start: number, end: number) => {
    live = live.flatMap((range) => {
      if (range.end <= start || range.start >= end) return [range];
      const pieces: Range[] = [];
      if (range.start < start) pieces.push({ start: range.start, end: start });
      if (range.end > end) pieces.push({ start: end, end: range.end });
      return pieces;
    });
  };
  for (const record of trace.slice(0, upTo)) {
    if (failed(record)) continue;
    const result = record.result >>> 0;
    if (record.call === "mmap") {
      const end = result + roundUp(record.args[1], pageSize);
      remove(result, end);
      live.push({ start: result, end });
    } else if (record.call === "munmap") {
      remove(record.args[0], record.args[0] + roundUp(record.args[1], pageSize));
    } else if (record.call === "mremap") {
      const [oldAddress, oldLength, newLength] = record.args;
      remove(oldAddress, oldAddress + roundUp(oldLength, pageSize));
      remove(result, result + roundUp(newLength, pageSize));
      live.push({ start: result, end: result + roundUp(newLength, pageSize) });
    }
  }
  return live;
}

export function contains(ranges: Range[], start: number, end = start + 1): boolean {
  return ranges.some((range) => range.start <= start && end <= range.end);
}

export function calls(trace: TraceRecord[], name: TraceRecord["call"]): TraceRecord[] {
  return trace.filter((record) => record.call === name);
}

/** Numbers printed by a fixture as `key=value` on its own lines (the last one wins). */
export function printed(stdout: string, key: string): number {
  const match = [...stdout.matchAll(new RegExp(`^${key}=(\\d+)`, "gm"))].pop();
  if (!match) throw new Error(`the program printed no ${key}=...:\n${stdout}`);
  return Number(match[1]);
}
