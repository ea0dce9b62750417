/**
 * `wasi-mman compare --sizes 129k,300k,...`: the page-size trade for a list of allocation
 * sizes, without a module.
 *
 * For each page size a fresh createMman() is attached to a WebAssembly.Memory of one wasm
 * page (standing in for a module image; the heap starts at 64 KiB), and each size is mapped
 * once, anonymous and private, through mman.calls.mmap: the same path a guest's mmap takes.
 * Everything stays mapped, so the peak is the sum. Each size's cost is read from the
 * engine's counters around its call, not computed here, so the table shows what the engine
 * did. A mapping of n bytes takes ceil(n / page) pages (mmap(2): the length is rounded up
 * to a multiple of the page size): 129 KiB costs 192 KiB with 64 KiB pages (63 KiB wasted,
 * 32.8%), 160 KiB with 32 KiB pages (19.4%), 144 KiB with 16 KiB pages (10.4%).
 */
import { performance } from "node:perf_hooks";
import type { GrowthOption } from "../runtime/growth.js";
import { errnoName, MapFlags, Prot, WASM_PAGE_SIZE } from "../runtime/linux.js";
import { createMman } from "../syscalls/create-mman.js";
import { parseSize, UsageError } from "./args.js";
import { alignColumns, exactBytes, pageLabel, type CompareRun } from "./compare-report.js";
import { Timeline } from "./compare-timeline.js";
import { formatBytes, formatPercent } from "./format.js";

/** Where the heap starts in the synthetic memory: after one wasm page of "image". */
const SYNTHETIC_HEAP_BASE = WASM_PAGE_SIZE;

export interface SizeCost {
  pageSize: number;
  mappedBytes: number;
  wastedBytes: number;
  /** wasted / mapped. */
  wastage: number;
}

export interface SyntheticResult {
  sizes: number[];
  runs: CompareRun[];
  /** One entry per size (in the order given): its cost under each page size. */
  perSize: { size: number; costs: SizeCost[] }[];
}

/** --sizes: comma-separated sizes (129k, 300k, 1m, 4097), each from 1 byte to under 4 GiB. */
export function parseSizesOption(text: string): number[] {
  const sizes = text.split(",").map((part) => parseSize(part, "--sizes"));
  for (const size of sizes) {
    if (size < 1 || size >= 2 ** 32) throw new UsageError(`--sizes: each size must be from 1 byte to under 4g, got ${size}`);
  }
  return sizes;
}

/** Maps every size once per page size; a failed mmap (ENOMEM under --max-memory) is a usage error. */
export function runSynthetic(
  sizes: readonly number[],
  pageSizes: readonly number[],
  options: { maxMemoryBytes?: number; growth?: GrowthOption } = {},
): SyntheticResult {
  const perSize = sizes.map((size) => ({ size, costs: [] as SizeCost[] }));
  const runs = pageSizes.map((pageSize): CompareRun => {
    const mman = createMman({ pageSize, maxMemoryBytes: options.maxMemoryBytes, growth: options.growth });
    mman.attach({ memory: new WebAssembly.Memory({ initial: 1, maximum: 65536 }), heapBase: SYNTHETIC_HEAP_BASE });
    const counters = mman.space.counters;
    const timeline = new Timeline();
    const start = performance.now();
    sizes.forEach((size, index) => {
      const pagesBefore = counters.mappedPages;
      const result = mman.calls.mmap(0, size, Prot.READ | Prot.WRITE, MapFlags.PRIVATE | MapFlags.ANONYMOUS, -1, 0);
      if (result < 0) {
        throw new UsageError(`mapping ${formatBytes(size)} with ${pageLabel(pageSize)} pages failed with ${errnoName(-result)} (see --max-memory)`);
      }
      const mappedBytes = (counters.mappedPages - pagesBefore) * pageSize;
      perSize[index].costs.push({ pageSize, mappedBytes, wastedBytes: mappedBytes - size, wastage: (mappedBytes - size) / mappedBytes });
      timeline.add(performance.now() - start, counters.mappedPages * pageSize, counters.requestedBytes);
    });
    const timeMs = performance.now() - start;
    const stats = mman.stats();
    return {
      pageSize,
      threshold: null,
      exitCode: null,
      trap: null,
      stdout: "",
      stderr: "",
      timeMs,
      timesMs: [timeMs],
      stats,
      samples: timeline.finish(timeMs, stats.mappedBytes, stats.requestedBytes),
    };
  });
  return { sizes: [...sizes], runs, perSize };
}

/** `63 KiB of 192 KiB (32.8%)`. */
export function formatSizeCost(cost: SizeCost): string {
  return `${exactBytes(cost.wastedBytes)} of ${formatBytes(cost.mappedBytes)} (${formatPercent(cost.wastage)})`;
}

/** The cells of the per-size table, header row first. */
export function sizeTableRows(result: SyntheticResult): string[][] {
  const header = ["size", ...result.runs.map((run) => pageLabel(run.pageSize))];
  return [header, ...result.perSize.map(({ size, costs }) => [exactBytes(size), ...costs.map(formatSizeCost)])];
}

/** One row per size: wasted of mapped bytes under each page size. */
export function formatSizeTable(result: SyntheticResult): string {
  return alignColumns(sizeTableRows(result));
}
