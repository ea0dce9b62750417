/**
 * Threads benchmark: what a shared address space (runtime/shared-state.ts) costs.
 *   1. One thread, mmap + munmap pairs of one page from JavaScript: a shared engine (the lock
 *      and shared state) against an unshared one, side by side in one run.
 *   2. Pairs per second with 1 and 2 worker threads on one shared engine: every call takes the
 *      one lock, so the memory calls themselves do not scale; programs scale by what they do
 *      between calls (docs/threads.md).
 */
import { Worker } from "node:worker_threads";
import type { createMman as CreateMman } from "../index.js";

const { createMman } = (await import(new URL("../dist/index.js", import.meta.url).href)) as { createMman: typeof CreateMman };
const PAGE = 4096;
const PAIRS = 200_000;

function pairNs(calls: { mmap: (...a: number[]) => number; munmap: (a: number, b: number) => number }, pairs: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < pairs; i++) {
    const address = calls.mmap(0, PAGE, 3, 0x22, -1, 0);
    if (address < 0 || calls.munmap(address, PAGE) !== 0) throw new Error("benchmark: a pair failed");
  }
  return Number(process.hrtime.bigint() - start) / pairs;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
import(workerData.dist).then(({ createMman }) => {
  const calls = createMman({ shared: workerData.handle }).calls;
  const flag = new Int32Array(workerData.flag);
  Atomics.wait(flag, 0, 0);
  const start = process.hrtime.bigint();
  for (let i = 0; i < workerData.pairs; i++) {
    const a = calls.mmap(0, ${PAGE}, 3, 0x22, -1, 0);
    calls.munmap(a, ${PAGE});
  }
  parentPort.postMessage(Number(process.hrtime.bigint() - start));
});`;

async function threadedPairsPerSecond(threads: number): Promise<number> {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 1024, shared: true });
  const mman = createMman({ pageSize: PAGE });
  mman.attach({ memory, heapBase: 65536 });
  const handle = mman.share();
  const flag = new SharedArrayBuffer(4);
  const dist = new URL("../dist/index.js", import.meta.url).href;
  const workers = Array.from({ length: threads }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { handle, flag, pairs: PAIRS, dist } }));
  const done = workers.map((w) => new Promise<number>((resolve, reject) => { w.once("message", resolve); w.once("error", reject); }));
  await new Promise((resolve) => setTimeout(resolve, 300)); // every worker is waiting on the flag
  const started = process.hrtime.bigint();
  Atomics.store(new Int32Array(flag), 0, 1);
  Atomics.notify(new Int32Array(flag), 0);
  await Promise.all(done);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(workers.map((w) => w.terminate()));
  return (threads * PAIRS) / seconds;
}

export async function run(): Promise<void> {
  console.log("## Threads: the shared engine (4 KiB pages, one-page mmap + munmap pairs from JavaScript)\n");
  const plain = createMman({ pageSize: PAGE });
  plain.attach({ memory: new WebAssembly.Memory({ initial: 2, maximum: 1024 }), heapBase: 65536 });
  const shared = createMman({ pageSize: PAGE });
  shared.attach({ memory: new WebAssembly.Memory({ initial: 2, maximum: 1024, shared: true }), heapBase: 65536 });
  const plainNs: number[] = [];
  const sharedNs: number[] = [];
  for (let round = 0; round < 7; round++) {
    plainNs.push(pairNs(plain.calls, PAIRS));
    sharedNs.push(pairNs(shared.calls, PAIRS));
  }
  const p = median(plainNs);
  const s = median(sharedNs);
  console.log("| engine | ns per pair | ratio |");
  console.log("|---|---|---|");
  console.log(`| unshared | ${p.toFixed(0)} | 1.00 |`);
  console.log(`| shared, one thread (lock uncontended) | ${s.toFixed(0)} | ${(s / p).toFixed(2)} |`);
  console.log(`\nUncontended lock and shared state: ${((s - p) / 2).toFixed(0)} ns per call.\n`);
  const one = await threadedPairsPerSecond(1);
  const two = await threadedPairsPerSecond(2);
  console.log("| worker threads | pairs per second | ratio to 1 thread |");
  console.log("|---|---|---|");
  console.log(`| 1 | ${one.toFixed(0)} | 1.00 |`);
  console.log(`| 2 | ${two.toFixed(0)} | ${(two / one).toFixed(2)} |\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
