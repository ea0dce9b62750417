/**
 * fixtures/threads/mman-churn.wat: 4 threads map, cut, remap and unmap through the `mman`
 * imports of one shared engine (thread 0 also moves the break), each checking its own tag in
 * every word it owns. After a run, checkChurn() reads what the guest left in memory (the layout
 * is drawn in the .wat file) and compares it with the engine: the same live mappings, every
 * word of them still its thread's tag, the same break, the same call counts, no page in two
 * mappings, and the engine's invariants (deep: free pages read zero).
 *
 * The model of test/oracle is fed by one engine's trace hook on the thread that makes the
 * calls, with the guest's memory read at that moment; here the calls come from four workers,
 * each with an engine object of its own, so the check is on the state the run ends in, plus
 * the checks the guest makes itself after every call.
 */
import { readFileSync } from "node:fs";
import { expect } from "vitest";
import { compileWat } from "../../cli/wat.js";
import type { Mman } from "../../syscalls/create-mman.js";

export const THREAD_FEATURES = { bulk_memory: true, mutable_globals: true, sign_extension: true, multi_value: true, threads: true };

export const CHURN_THREADS = 4;
const SLOTS = 16;
const FAILURE = 0x100, COUNTS = 0x200, SLOT_TABLE = 0x400, BREAK_AREA = 0x800;
const BREAK_TAG = 0x0b0b0b0b;
const FAILURE_CODES: Record<number, string> = {
  1: "mmap failed", 2: "fresh mapping not zero", 3: "mapping lost its tag", 4: "munmap failed", 5: "mremap failed",
  6: "mremap lost kept bytes", 7: "mremap's new part not zero", 8: "break moved by another thread", 9: "grown break not zero",
  10: "brk returned neither the old nor the new break", 11: "break area lost its tag", 12: "brk shrink failed",
  13: "mapping lost its tag at the end", 14: "address not page aligned",
};

/** A .wat file of fixtures/threads/ compiled with the threads feature. */
export async function threadFixture(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const path = new URL(`../../fixtures/threads/${name}.wat`, import.meta.url);
  return compileWat(readFileSync(path, "utf8"), `${name}.wat`, THREAD_FEATURES);
}

/** The guest's failure record as a sentence, or null when no check failed. */
export function churnFailure(memory: WebAssembly.Memory): string | null {
  const words = new Uint32Array(memory.buffer, FAILURE, 6);
  if (words[0] === 0) return null;
  const hex = (value: number): string => `0x${value.toString(16)}`;
  return `thread ${words[1]}: ${FAILURE_CODES[words[2]] ?? `code ${words[2]}`} at ${hex(words[3])} (expected ${hex(words[4])}, found ${hex(words[5])})`;
}

export interface ChurnFigures {
  mappings: number;
  mappedBytes: number;
  calls: { mmap: number; munmap: number; mremap: number; brk: number };
  brkRefusals: number;
  /** The most threads one thread saw in their rounds at once. */
  mostRunning: number;
}

/** Every check of a finished run (exit status 0 already checked by the caller). */
export function checkChurn(memory: WebAssembly.Memory, mman: Mman): ChurnFigures {
  expect(churnFailure(memory)).toBeNull();
  const words = new Uint32Array(memory.buffer);
  const count = (thread: number, which: number): number => words[(COUNTS >>> 2) + thread * 8 + which];
  const live: { address: number; length: number; tag: number }[] = [];
  for (let thread = 0; thread < CHURN_THREADS; thread++) {
    expect(count(thread, 5), `thread ${thread} rounds`).toBe(2000);
    for (let slot = 0; slot < SLOTS; slot++) {
      const at = (SLOT_TABLE >>> 2) + thread * 64 + slot * 4;
      if (words[at + 1] !== 0) live.push({ address: words[at], length: words[at + 1], tag: words[at + 2] });
    }
  }
  live.sort((a, b) => a.address - b.address);
  // No page in two live mappings (the guest's view), and the engine holds exactly these.
  for (let i = 1; i < live.length; i++) expect(live[i].address).toBeGreaterThanOrEqual(live[i - 1].address + live[i - 1].length);
  expect(mman.mappings().map((m) => [m.address, m.length, m.prot])).toEqual(live.map((m) => [m.address, m.length, 3]));
  for (const mapping of live) {
    const body = words.subarray(mapping.address >>> 2, (mapping.address + mapping.length) >>> 2);
    const wrong = body.findIndex((word) => word !== mapping.tag);
    expect(wrong, `mapping at 0x${mapping.address.toString(16)} keeps its tag 0x${mapping.tag.toString(16)}`).toBe(-1);
  }
  const stats = mman.stats();
  const breakStart = words[BREAK_AREA >>> 2];
  const breakLength = words[(BREAK_AREA >>> 2) + 1];
  expect(stats.brk).toBe(breakStart + breakLength);
  expect(words.subarray(breakStart >>> 2, (breakStart + breakLength) >>> 2).every((word) => word === BREAK_TAG)).toBe(true);
  const sum = (which: number): number => [0, 1, 2, 3].reduce((total, thread) => total + count(thread, which), 0);
  // Every thread's calls went to the one shared engine: its tallies are the guests' sums.
  const calls = { mmap: sum(0), munmap: sum(1), mremap: sum(2), brk: sum(3) };
  expect({ mmap: stats.calls.mmap, munmap: stats.calls.munmap, mremap: stats.calls.mremap, brk: stats.calls.brk }).toEqual(calls);
  expect(stats.brkRefusals).toBe(count(0, 4));
  expect(stats.errors.mmap + stats.errors.munmap + stats.errors.mremap).toBe(0);
  expect(stats.liveMappings).toBe(live.length);
  expect(() => mman.checkInvariants(true)).not.toThrow();
  // The threads did run at once (they wait for each other at a start line).
  const mostRunning = Math.max(...[0, 1, 2, 3].map((thread) => count(thread, 6)));
  expect(mostRunning).toBeGreaterThanOrEqual(2);
  return { mappings: live.length, mappedBytes: stats.mappedBytes, calls, brkRefusals: stats.brkRefusals, mostRunning };
}
