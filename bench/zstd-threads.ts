/**
 * zstd benchmark: what threads buy a real program on runThreaded. zstd 1.5.4 built with
 * `wasi-mman cc -pthread` (scripts/build-zstd.ts) compresses a 32 MiB corpus at level 9 in
 * 1 MiB jobs with -T1, -T2 and -T4, side by side with the same zstd built natively, in one run;
 * each figure is the median of the rounds, and the table gives -T2 and -T4 as speed-ups over
 * -T1 for both. The wasm times are whole runs of runThreaded (workers started, module
 * instantiated in each), so the start-up is measured too, as `zstd -V` on the same host.
 *
 *   node --import tsx bench/zstd-threads.ts [rounds]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { runThreaded } from "../hosts/threads.js";
import { buildZstd, nativeZstd, zstdCorpus } from "../scripts/build-zstd.js";

const CORPUS_BYTES = 32 << 20;
const ARGS = ["-q", "-f", "-9", "-B1048576"];
const WORKERS = [1, 2, 4];

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

export async function run(rounds = 3): Promise<void> {
  const build = await buildZstd("threads");
  const native = await nativeZstd();
  const bytes = readFileSync(build.wasm);
  const work = mkdtempSync(join(tmpdir(), "wasi-mman-bench-zstd-"));
  try {
    writeFileSync(join(work, "in"), zstdCorpus(CORPUS_BYTES));
    const wasmRun = async (args: string[]): Promise<number> => {
      const started = performance.now();
      const result = await runThreaded(bytes, { host: "node-wasi", args: ["zstd", ...args], preopens: { "/w": work }, onWarning: () => undefined });
      if (result.exitCode !== 0) throw new Error(`zstd ${args.join(" ")} on runThreaded: exit ${result.exitCode} ${result.trap ?? ""}`);
      return performance.now() - started;
    };
    const nativeRun = (args: string[]): number => {
      const started = performance.now();
      const result = spawnSync(native.path, args, { cwd: work });
      if (result.status !== 0) throw new Error(`native zstd ${args.join(" ")}: ${String(result.stderr)}`);
      return performance.now() - started;
    };
    const startUp: number[] = [];
    const wasm = new Map<number, number[]>(WORKERS.map((workers) => [workers, []]));
    const host = new Map<number, number[]>(WORKERS.map((workers) => [workers, []]));
    // Interleaved rounds, so that a change in the machine's load touches every column alike.
    for (let round = 0; round < rounds; round++) {
      startUp.push(await wasmRun(["-V"]));
      for (const workers of WORKERS) {
        wasm.get(workers)?.push(await wasmRun(["--no-asyncio", ...ARGS, `-T${workers}`, "/w/in", "-o", "/w/out.zst"]));
        host.get(workers)?.push(nativeRun([...ARGS, `-T${workers}`, "in", "-o", "native.zst"]));
      }
    }
    if (!readFileSync(join(work, "out.zst")).equals(readFileSync(join(work, "native.zst")))) throw new Error("zstd: the wasm and native frames differ");
    const wasmOne = median(wasm.get(1) ?? []);
    const nativeOne = median(host.get(1) ?? []);
    console.log(`\nzstd ${build.debianVersion}, 32 MiB at -9 in 1 MiB jobs, median of ${rounds} (reference: ${native.how} ${native.path})`);
    console.log(`runThreaded start-up (zstd -V): ${median(startUp).toFixed(0)} ms`);
    console.log("workers | wasm ms | speed-up | native ms | speed-up | wasm/native");
    for (const workers of WORKERS) {
      const wasmMs = median(wasm.get(workers) ?? []);
      const nativeMs = median(host.get(workers) ?? []);
      console.log(
        `-T${workers}     | ${wasmMs.toFixed(0).padStart(7)} | ${(wasmOne / wasmMs).toFixed(2).padStart(8)} | ${nativeMs.toFixed(0).padStart(9)} | ${(nativeOne / nativeMs).toFixed(2).padStart(8)} | ${(wasmMs / nativeMs).toFixed(2).padStart(11)}`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run(Number(process.argv[2] ?? 3));
