/**
 * Zeroing benchmark (issue #10, item 2): what clearing a 256 MiB region of "dirty" pages costs
 * in time and in the process's resident memory, for a plain fill(0) and for the two zeroers of
 * runtime/zeroing.ts, side by side in one run, at 4 KiB and 64 KiB pages. Cases:
 *   untouched  fresh from memory.grow, never read or written (what the engine's dirty bit
 *              marks "dirty" today when it cannot know better)
 *   full       every byte written
 *   one byte   one byte written in the middle of each page
 *   zeroed     written, then cleared: resident and all zero (what a dirty bit lets the engine
 *              skip without reading)
 *   hot        one byte per page in a 256 KiB region cleared over and over, so it stays in
 *              the caches (the recycle stacks hand the same few pages out again and again)
 * Every run gets a fresh WebAssembly.Memory, so untouched pages really are untouched, and the
 * memory of the previous run is collected before it starts.
 *
 *   node --import tsx bench/zeroing.ts
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { jsZeroer, wasmZeroer, type Zeroer } from "../runtime/zeroing.js";

const WASM_PAGE = 65536;
const REGION = 256 * 1024 * 1024;
const PAGE_SIZES = [4096, 65536];
const RUNS = 3;
const MiB = 1024 * 1024;

// Without --expose-gc on the command line: the flag can still be set before the first use of
// gc(), and a new context then has the function. Each run frees its 256 MiB this way.
setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

/** The process's resident memory in bytes (VmRSS; what the kernel has committed to us). */
function residentBytes(): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux: fall through.
  }
  return process.memoryUsage.rss();
}

interface Case {
  readonly name: string;
  /** Bytes cleared per clear() call; REGION / region calls, each after prepare(). */
  readonly region: number;
  /** Brings the region into the case's state. */
  prepare(bytes: Uint8Array, pageSize: number): void;
}

function oneBytePerPage(bytes: Uint8Array, pageSize: number): void {
  for (let page = 0; page < bytes.length; page += pageSize) bytes[page + pageSize / 2] = 1;
}

const CASES: readonly Case[] = [
  { name: "untouched", region: REGION, prepare() {} },
  { name: "full", region: REGION, prepare: (bytes) => void bytes.fill(0xa5) },
  { name: "one byte", region: REGION, prepare: oneBytePerPage },
  { name: "zeroed", region: REGION, prepare: (bytes) => void bytes.fill(0xa5).fill(0) },
  { name: "hot", region: 256 * 1024, prepare: oneBytePerPage },
];

/** The clearing the engine does today: write zeros over every dirty page. */
const fillZeroer: Zeroer = {
  clear(bytes, from, to) {
    bytes.fill(0, from, to);
    return to - from;
  },
};

interface Contender {
  readonly name: string;
  /** The zeroer for this memory, or null where it cannot serve it. */
  make(memory: WebAssembly.Memory): Zeroer | null;
}

const CONTENDERS: readonly Contender[] = [
  { name: "fill(0)", make: () => fillZeroer },
  { name: "jsZeroer", make: () => jsZeroer },
  { name: "wasmZeroer", make: (memory) => wasmZeroer(memory) },
];

interface Sample {
  readonly ns: number;
  readonly residentGrowth: number;
  readonly written: number;
}

function freshMemory(bytes: number): WebAssembly.Memory {
  const memory = new WebAssembly.Memory({ initial: 0, maximum: bytes / WASM_PAGE });
  if (memory.grow(bytes / WASM_PAGE) !== 0) throw new Error("benchmark setup: memory.grow failed");
  return memory;
}

function measure(contender: Contender, testCase: Case, pageSize: number): Sample | null {
  collect();
  const memory = freshMemory(REGION);
  const zeroer = contender.make(memory);
  if (zeroer === null) return null;
  const bytes = new Uint8Array(memory.buffer, 0, testCase.region);
  testCase.prepare(bytes, pageSize);
  const before = residentBytes();
  let ns = 0;
  let written = 0;
  for (let round = 0; round < REGION / testCase.region; round++) {
    if (round > 0) testCase.prepare(bytes, pageSize);
    const start = process.hrtime.bigint();
    written += zeroer.clear(bytes, 0, testCase.region, pageSize);
    ns += Number(process.hrtime.bigint() - start);
  }
  const residentGrowth = residentBytes() - before;
  // A spot check (the tests check every byte): the first, middle and last byte of every page.
  for (let page = 0; page < testCase.region; page += pageSize) {
    if (bytes[page] !== 0 || bytes[page + pageSize / 2] !== 0 || bytes[page + pageSize - 1] !== 0) {
      throw new Error(`${contender.name} left a non-zero byte in page ${page / pageSize} (${testCase.name})`);
    }
  }
  return { ns, residentGrowth, written };
}

/** Runs every zeroer over small regions first, so that the timed runs see optimized code. */
function warmUp(): void {
  const memory = freshMemory(16 * MiB);
  const bytes = new Uint8Array(memory.buffer);
  for (const contender of CONTENDERS) {
    const zeroer = contender.make(memory);
    for (let round = 0; round < 20; round++) {
      for (let i = round; i < bytes.length; i += 4096 + 4 * round) bytes[i] = 1;
      zeroer?.clear(bytes, 0, bytes.length, PAGE_SIZES[round % PAGE_SIZES.length]);
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const pad = (text: string, width: number): string => text.padStart(width);
// RSS moves by a few kB either way with the rest of the process: no "-0.0".
const oneDecimal = (value: number): string => value.toFixed(1).replace(/^-0\.0$/, "0.0");

export async function run(): Promise<void> {
  warmUp();
  console.log(`\nzeroing: clearing ${REGION / MiB} MiB of dirty pages, fresh memory per run, median of ${RUNS} runs`);
  console.log("ns/page: clear() time only; x fill: time / fill(0)'s in the same case; RSS: resident memory growth over the clearing");
  for (const pageSize of PAGE_SIZES) {
    const pages = REGION / pageSize;
    console.log(`\n${pageSize / 1024} KiB pages (${pages} pages)`);
    console.log(
      `${"case".padEnd(10)} ${"zeroer".padEnd(10)} ${pad("ns/page", 9)} ${pad("x fill", 7)} ${pad("RSS +MiB", 9)} ${pad("RSS/page", 9)} ${pad("written MiB", 12)}`,
    );
    for (const testCase of CASES) {
      let fillNs = Number.NaN;
      for (const contender of CONTENDERS) {
        const samples: Sample[] = [];
        for (let runIndex = 0; runIndex < RUNS; runIndex++) {
          const sample = measure(contender, testCase, pageSize);
          if (sample) samples.push(sample);
        }
        if (samples.length === 0) {
          console.log(`${testCase.name.padEnd(10)} ${contender.name.padEnd(10)} (not available here)`);
          continue;
        }
        const ns = median(samples.map((s) => s.ns));
        const resident = median(samples.map((s) => s.residentGrowth));
        if (contender === CONTENDERS[0]) fillNs = ns;
        console.log(
          `${testCase.name.padEnd(10)} ${contender.name.padEnd(10)} ${pad((ns / pages).toFixed(0), 9)} ${pad((ns / fillNs).toFixed(2), 7)} ` +
            `${pad(oneDecimal(resident / MiB), 9)} ${pad(`${oneDecimal(resident / pages / 1024)}K`, 9)} ${pad(oneDecimal(samples[0].written / MiB), 12)}`,
        );
      }
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run();
