// Benchmark: the two-tier AssemblyScript allocator (guest/as) on wasi-mman against
// AssemblyScript's own TLSF (`--runtime minimal`, heap.alloc/realloc/free), replaying the
// same random allocation trace (fixtures/as/bench-driver.ts) side by side in one run.
// Prints operations per second and peak linear memory for each, and the ratios ours/TLSF
// (throughput: higher is better; memory: lower is better).
//
//   node --import tsx bench/as-alloc.ts      (or through bench/run.ts)
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import type { createMman as CreateMman } from "../index.js";
import { loadAs } from "../scripts/build-as.js";

// The library as shipped (dist/, which `npm run bench` builds) when it exists, else the sources.
const shipped = new URL("../dist/index.js", import.meta.url);
const { createMman } = (await import(existsSync(shipped) ? shipped.href : new URL("../index.js", import.meta.url).href)) as {
  createMman: typeof CreateMman;
};

interface DriverExports {
  memory: WebAssembly.Memory;
  _initialize?: () => void;
  replay(seed: number, operations: number, live: number, mixed: number): number;
  release_all(): void;
  dynamic_threshold(max: number): void;
  peak_live_bytes(): number;
}

interface Workload {
  name: string;
  operations: number;
  live: number;
  mixed: boolean;
  /** Ours only: glibc-style dynamic mmap threshold up to this many bytes (0: fixed 112 KiB). */
  dynamicMax: number;
}

const WORKLOADS: Workload[] = [
  { name: "small (8 B-2 KiB)", operations: 1_000_000, live: 2000, mixed: false, dynamicMax: 0 },
  { name: "mixed (+3% 2-64 KiB, +0.5% 128-512 KiB)", operations: 300_000, live: 1000, mixed: true, dynamicMax: 0 },
  { name: "mixed, dynamic threshold (max 512 KiB)", operations: 300_000, live: 1000, mixed: true, dynamicMax: 512 << 10 },
];
const SEED = 0x2545f491;
const REPEATS = 5;

export interface AllocatorFigures {
  opsPerSecond: number;
  peakMemoryBytes: number;
}

export interface WorkloadFigures {
  workload: string;
  ours: AllocatorFigures;
  tlsf: AllocatorFigures;
  /** ours / TLSF */
  throughputRatio: number;
  /** ours / TLSF */
  memoryRatio: number;
  /** The most bytes the trace itself held at once (the same for both). */
  peakLiveBytes: number;
}

function env(): WebAssembly.ModuleImports {
  return {
    abort() {
      throw new Error("benchmark guest aborted");
    },
  };
}

/** One fresh instance replaying the trace; returns its time and its final (= peak) memory. */
async function replayOnce(
  module: WebAssembly.Module,
  ours: boolean,
  workload: Workload,
): Promise<{ ms: number; peak: number; peakLive: number }> {
  const mman = ours ? createMman({ pageSize: 4096 }) : null;
  const imports: WebAssembly.Imports = { env: env(), ...(mman ? mman.imports : {}) };
  const instance = await WebAssembly.instantiate(module, imports);
  mman?.attach(instance);
  const exports = instance.exports as unknown as DriverExports;
  exports._initialize?.();
  exports.dynamic_threshold(workload.dynamicMax);
  const start = performance.now();
  const corrupt = exports.replay(SEED, workload.operations, workload.live, workload.mixed ? 1 : 0);
  const ms = performance.now() - start;
  if (corrupt !== 0) throw new Error(`${ours ? "ours" : "TLSF"}: ${corrupt} blocks lost their bytes`);
  // Linear memory never shrinks, so its size now is its peak.
  return { ms, peak: exports.memory.buffer.byteLength, peakLive: exports.peak_live_bytes() };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

export async function measure(): Promise<WorkloadFigures[]> {
  const ours = new WebAssembly.Module(await loadAs("bench-ours"));
  const tlsf = new WebAssembly.Module(await loadAs("bench-tlsf"));
  const results: WorkloadFigures[] = [];
  for (const workload of WORKLOADS) {
    // Warm both up (tier-up to optimized code), then alternate, so drift hits both alike.
    await replayOnce(ours, true, workload);
    await replayOnce(tlsf, false, workload);
    const times = { ours: [] as number[], tlsf: [] as number[] };
    const peaks = { ours: 0, tlsf: 0, live: 0 };
    for (let i = 0; i < REPEATS; i++) {
      const a = await replayOnce(ours, true, workload);
      const b = await replayOnce(tlsf, false, workload);
      times.ours.push(a.ms);
      times.tlsf.push(b.ms);
      peaks.ours = Math.max(peaks.ours, a.peak);
      peaks.tlsf = Math.max(peaks.tlsf, b.peak);
      peaks.live = Math.max(a.peakLive, b.peakLive);
    }
    const oursFigures = { opsPerSecond: workload.operations / (median(times.ours) / 1000), peakMemoryBytes: peaks.ours };
    const tlsfFigures = { opsPerSecond: workload.operations / (median(times.tlsf) / 1000), peakMemoryBytes: peaks.tlsf };
    results.push({
      workload: workload.name,
      ours: oursFigures,
      tlsf: tlsfFigures,
      throughputRatio: oursFigures.opsPerSecond / tlsfFigures.opsPerSecond,
      memoryRatio: oursFigures.peakMemoryBytes / tlsfFigures.peakMemoryBytes,
      peakLiveBytes: peaks.live,
    });
  }
  return results;
}

const mops = (value: number): string => `${(value / 1e6).toFixed(2)} M/s`;
const mib = (value: number): string => `${(value / (1 << 20)).toFixed(2)} MiB`;

export async function run(): Promise<void> {
  const results = await measure();
  const rows = [["workload", "ours ops/s", "TLSF ops/s", "ratio", "live peak", "ours peak", "TLSF peak", "ratio"]];
  for (const r of results) {
    rows.push([
      r.workload,
      mops(r.ours.opsPerSecond),
      mops(r.tlsf.opsPerSecond),
      r.throughputRatio.toFixed(2),
      mib(r.peakLiveBytes),
      mib(r.ours.peakMemoryBytes),
      mib(r.tlsf.peakMemoryBytes),
      r.memoryRatio.toFixed(2),
    ]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  console.log("AssemblyScript allocator: two-tier on wasi-mman (4 KiB pages) vs AS TLSF (--runtime minimal)");
  console.log("peak = linear memory at the end (it never shrinks); live peak = most bytes the trace held at once");
  console.log(`same trace in both (seed 0x${SEED.toString(16)}), median of ${REPEATS}; throughput ratio > 1 and memory ratio < 1 favour ours`);
  for (const row of rows) console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  "));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
