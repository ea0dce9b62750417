/**
 * C benchmark (`npm run bench -- c-mman`):
 *
 * 1. mmap/munmap pairs from C with 10,000 mappings alive, built against wasi-mman's layer and
 *    against wasi-libc's emulated mman (-D_WASI_EMULATED_MMAN -lwasi-emulated-mman, where mmap
 *    is malloc plus memset): 1, 16 and 33 pages each, then mixed sizes (1..33 pages) unmapped
 *    and mapped again in random order. Both hand out zeroed memory. Prints ns per pair and
 *    the ratio emulated / ours (above 1: ours is faster).
 * 2. The SQLite workload (fixtures/c/sqlite/workload.c) under mallocng, oldmalloc and
 *    dlmalloc: wall time and peak linear memory.
 *
 * Pages are 4 KiB (the host's page size and the program's PAGE). Times come from the
 * program's own CLOCK_MONOTONIC around its loop, so set-up is not counted.
 */
import type { MallocChoice } from "../cli/cc.js";
import { buildBenchPrograms, buildSqlite, cToolchainStatus } from "../scripts/build-c.js";
import { runC } from "../test/c-helpers.js";
import type { createMman as CreateMman } from "../index.js";
import { existsSync } from "node:fs";

// The library as shipped (dist/, built by `npm run bench`), not the sources through a loader.
const shipped = new URL("../dist/index.js", import.meta.url);
const { createMman } = (await import(existsSync(shipped) ? shipped.href : new URL("../index.js", import.meta.url).href)) as {
  createMman: typeof CreateMman;
};

const LIVE = 10_000;

interface PairCase {
  label: string;
  pages: number; // 0: mixed 1..33
  pairs: number;
}

const CASES: PairCase[] = [
  { label: "1 page", pages: 1, pairs: 100_000 },
  { label: "16 pages", pages: 16, pairs: 40_000 },
  { label: "33 pages", pages: 33, pairs: 20_000 },
  { label: "mixed 1..33 pages", pages: 0, pairs: 40_000 },
];

// Everything runs under browser_wasi_shim: node:wasi in Node 20.20 corrupts the process's
// memory once a program that writes to stdout has grown its memory many times
// (test/c-sqlite.test.ts says more), which these programs do.
async function nsPerPair(wasm: string, pairCase: PairCase, live = LIVE, pairs = pairCase.pairs): Promise<number> {
  const result = await runC(wasm, {
    createMman,
    host: "browser_wasi_shim",
    pageSize: 4096,
    args: [String(pairCase.pages), String(live), String(pairs), "12345"],
    trace: false,
  });
  const match = /ns_per_pair=(\d+)/.exec(result.stdout);
  if (result.exitCode !== 0 || !match) throw new Error(`${wasm} failed (${result.exitCode}): ${result.stdout}${result.stderr}`);
  return Number(match[1]);
}

function pad(text: string, width: number): string {
  return text.padEnd(width);
}

export async function run(): Promise<void> {
  console.log("\n## C: mmap/munmap pairs (10,000 live mappings, 4 KiB pages) and the SQLite workload");
  const status = cToolchainStatus();
  if (!status.ok) {
    console.log(`*** C BENCHMARK SKIPPED: ${status.reason} ***`);
    return;
  }
  const programs = await buildBenchPrograms();
  // Warm-up: V8 compiles wasm in a fast tier first and optimises hot code later; one short
  // run of each program lets both reach their optimised code before anything is timed.
  for (const wasm of [programs.layer, programs.emulated]) await nsPerPair(wasm, CASES[3], 2000, 40_000);
  console.log(`${pad("case", 20)}${pad("wasi-mman ns/pair", 20)}${pad("emulated ns/pair", 20)}emulated/ours`);
  for (const pairCase of CASES) {
    // Alternating runs of each side, best of each (after the warm-up). Filling 10,000
    // mappings of 16 or 33 pages takes the emulated side seconds, so those run once.
    const rounds = pairCase.pages === 1 ? 3 : 1;
    let best = Infinity;
    let baseline = Infinity;
    for (let round = 0; round < rounds; round++) {
      best = Math.min(best, await nsPerPair(programs.layer, pairCase));
      baseline = Math.min(baseline, await nsPerPair(programs.emulated, pairCase));
    }
    console.log(`${pad(pairCase.label, 20)}${pad(String(best), 20)}${pad(String(baseline), 20)}${(baseline / best).toFixed(2)}x`);
  }

  const sqlite = await buildSqlite();
  console.log(`\n${pad("SQLite workload", 20)}${pad("time ms", 12)}${pad("peak memory MiB", 18)}${pad("mmap calls", 12)}brk calls`);
  for (const malloc of ["mallocng", "oldmalloc", "dlmalloc"] as MallocChoice[]) {
    const started = performance.now();
    const result = await runC(sqlite.wasm[malloc], { host: "browser_wasi_shim", pageSize: 4096, trace: false, createMman });
    const elapsed = performance.now() - started;
    if (result.exitCode !== 0) throw new Error(`SQLite workload under ${malloc} failed: ${result.stdout}${result.stderr}`);
    const stats = result.mman.stats();
    console.log(
      `${pad(malloc, 20)}${pad(elapsed.toFixed(0), 12)}${pad((stats.peak.linearMemoryBytes / 2 ** 20).toFixed(1), 18)}${pad(String(stats.calls.mmap), 12)}${stats.calls.brk}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
