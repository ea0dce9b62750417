/**
 * pthread benchmark: allocation throughput of a C program with POSIX threads
 * (fixtures/c-threads/pthread-bench.c, built with `wasi-mman cc -pthread`) on runThreaded, at
 * 1 and 2 threads sharing the same total work, under musl's mallocng and oldmalloc. The time is
 * the program's own, from its start barrier to the last join (workers already running).
 *
 * The same source built natively with `cc -pthread` (glibc, per-thread arenas) is measured in
 * the same run: its 2-thread/1-thread ratio is what this machine allows at that moment (the
 * cores may be shared), the yardstick for the wasm ratios. With Debian's musl-tools installed,
 * the native build against musl 1.2.3 (`musl-gcc -pthread`: mallocng, one global lock) is
 * measured too: what the same allocator does with threads outside wasm.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { runThreaded as RunThreaded } from "../hosts/threads.js";
import { cBuildDir, compileProgram, findToolchain, type MallocChoice } from "../cli/cc.js";
import { hostCompiler } from "../test/c-threads-runner.js";

const { runThreaded } = (await import(new URL("../dist/hosts/threads.js", import.meta.url).href)) as { runThreaded: typeof RunThreaded };

const SOURCE = new URL("../fixtures/c-threads/pthread-bench.c", import.meta.url).pathname;
const OPERATIONS = 1_000_000;
/* Best of 5: on shared cores the fastest run is the one least disturbed by other work. */
const REPEATS = 5;
const MALLOCS: MallocChoice[] = ["mallocng", "oldmalloc"];

interface Measured {
  ns: number;
  checksum: string;
}

function parse(line: string): Measured {
  const match = /ns=(\d+) checksum=(\d+)/.exec(line);
  if (match === null) throw new Error(`pthread-bench printed ${JSON.stringify(line)}`);
  return { ns: Number(match[1]), checksum: match[2] };
}

function best(values: number[]): number {
  return Math.min(...values);
}

/** One run on runThreaded (node:wasi, the result written into a preopened folder). */
async function runWasm(wasm: Uint8Array, threads: number, outDir: string): Promise<Measured> {
  const result = await runThreaded(wasm, {
    host: "node-wasi",
    args: ["pthread-bench", String(threads), String(OPERATIONS), "/out/result"],
    preopens: { "/out": outDir },
    mman: { pageSize: 4096 },
    onWarning: () => undefined,
  });
  if (result.exitCode !== 0) throw new Error(`pthread-bench exited with ${result.exitCode} (${result.trap ?? "no trap"})`);
  return parse(readFileSync(join(outDir, "result"), "utf8"));
}

function row(name: string, one: number, two: number, yardstick: number | null): string {
  const opsOne = OPERATIONS / (one / 1e9);
  const opsTwo = OPERATIONS / (two / 1e9);
  const ratio = opsTwo / opsOne;
  return `| ${name} | ${(opsOne / 1e6).toFixed(2)} M | ${(opsTwo / 1e6).toFixed(2)} M | ${ratio.toFixed(2)} | ${yardstick === null ? "-" : (ratio / yardstick).toFixed(2)} |`;
}

export async function run(): Promise<void> {
  console.log(`## pthread: malloc/free throughput of a C program at 1 and 2 threads (${OPERATIONS.toLocaleString("en")} operations in all, 4 KiB pages)\n`);
  try {
    findToolchain();
  } catch (error) {
    console.log(`*** pthread benchmark SKIPPED: ${(error as Error).message} ***\n`);
    return;
  }
  const buildDir = join(cBuildDir(), "bench");
  mkdirSync(buildDir, { recursive: true });
  const outDir = mkdtempSync(join(tmpdir(), "wasi-mman-pthread-bench-"));
  try {
    const cc = hostCompiler();
    const natives: { name: string; binary: string; times: Record<number, number[]> }[] = [];
    if (cc !== null) {
      const binary = join(buildDir, "pthread-bench.native");
      execFileSync(cc, ["-O2", "-pthread", "-o", binary, SOURCE]);
      natives.push({ name: "native cc -pthread (glibc malloc)", binary, times: { 1: [], 2: [] } });
    } else {
      console.log("*** no native cc: the yardstick column is left out ***\n");
    }
    if (spawnSync("sh", ["-c", "command -v musl-gcc"], { stdio: "ignore" }).status === 0) {
      const binary = join(buildDir, "pthread-bench.native-musl");
      execFileSync("musl-gcc", ["-O2", "-pthread", "-o", binary, SOURCE]);
      natives.push({ name: "native musl-gcc -pthread (musl 1.2.3 mallocng)", binary, times: { 1: [], 2: [] } });
    } else {
      console.log("*** no musl-gcc (Debian's musl-tools): the native musl row is left out ***\n");
    }
    const wasmTimes = new Map<MallocChoice, Record<number, number[]>>();
    const modules = new Map<MallocChoice, Uint8Array>();
    for (const malloc of MALLOCS) {
      const output = join(buildDir, `pthread-bench.${malloc}.wasm`);
      await compileProgram({ malloc, output, args: ["-pthread", "-O2", SOURCE] });
      modules.set(malloc, new Uint8Array(readFileSync(output)));
      wasmTimes.set(malloc, { 1: [], 2: [] });
    }
    const checksums = new Map<number, Set<string>>([[1, new Set()], [2, new Set()]]);
    // Interleaved rounds, so that a change in the machine's load hits every column alike.
    for (let round = 0; round < REPEATS; round++) {
      for (const threads of [1, 2]) {
        for (const native of natives) {
          const measured = parse(execFileSync(native.binary, [String(threads), String(OPERATIONS)], { encoding: "utf8" }));
          native.times[threads].push(measured.ns);
          checksums.get(threads)?.add(measured.checksum);
        }
        for (const malloc of MALLOCS) {
          const measured = await runWasm(modules.get(malloc) as Uint8Array, threads, outDir);
          (wasmTimes.get(malloc) as Record<number, number[]>)[threads].push(measured.ns);
          checksums.get(threads)?.add(measured.checksum);
        }
      }
    }
    for (const [threads, seen] of checksums) {
      if (seen.size !== 1) throw new Error(`pthread-bench: ${threads}-thread checksums differ between builds: ${[...seen].join(", ")}`);
    }
    const glibc = cc === null ? null : natives[0];
    const yardstick = glibc === null ? null : best(glibc.times[1]) / best(glibc.times[2]);
    console.log("| build | ops/s, 1 thread | ops/s, 2 threads | 2T/1T | 2T/1T relative to native glibc's |");
    console.log("|---|---|---|---|---|");
    for (const native of natives) console.log(row(native.name, best(native.times[1]), best(native.times[2]), yardstick));
    for (const malloc of MALLOCS) {
      const times = wasmTimes.get(malloc) as Record<number, number[]>;
      console.log(row(`wasm, --malloc=${malloc}`, best(times[1]), best(times[2]), yardstick));
    }
    console.log(`\nBest of ${REPEATS} interleaved runs; the same checksums in every build.\n`);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
