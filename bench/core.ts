/**
 * Core benchmark: ns per mmap + munmap pair (the guest writes one byte per page, so reused
 * pages must be cleared) at 100 and at 100,000 live mappings with one-page holes between them,
 * against the floor measured in the same run: the same guest loop making two import round
 * trips, one of which clears as many pages with Uint8Array.fill.
 * Targets: pair <= 1.5 x floor at 100,000 live; pair at 100,000 <= 2 x pair at 100.
 */
import type { createMman as CreateMman } from "../index.js";
import { watFixture } from "../test/helpers/wat.js";

const PAGE = 4096;
const SIZES = [1, 4, 16, 32];
const LIVE = [100, 100_000];
const ROUNDS = 7;

interface Guest {
  pairs(n: number, len: number, step: number): number;
  floor(n: number, len: number, step: number, addr: number): number;
}

// The library as shipped (dist/, built by `npm run bench`), not the sources through a loader.
const { createMman } = (await import(new URL("../dist/index.js", import.meta.url).href)) as { createMman: typeof CreateMman };

async function guestWith(live: number): Promise<{ guest: Guest; scratch: number }> {
  const bytes = await watFixture("bench-pairs");
  const mman = createMman({ pageSize: PAGE });
  let view = new Uint8Array(0);
  let memory: WebAssembly.Memory | null = null;
  const floor = {
    clear(addr: number, len: number, _prot: number, _flags: number, _fd: number, _offset: bigint): number {
      // As lean as the host: a new view only when the old one was detached by a grow.
      if (view.length === 0) view = new Uint8Array((memory as WebAssembly.Memory).buffer);
      view.fill(0, addr, addr + len);
      return addr;
    },
    empty(_addr: number, _len: number): number {
      return 0;
    },
  };
  const { instance } = await WebAssembly.instantiate(bytes, { ...mman.imports, floor });
  mman.attach(instance);
  memory = instance.exports.memory as WebAssembly.Memory;
  // `live` one-page mappings with a one-page hole after each: map 2*live pages, unmap every other.
  const calls = mman.calls;
  const addresses: number[] = [];
  for (let i = 0; i < 2 * live; i++) addresses.push(calls.mmap(0, PAGE, 3, 0x22, -1, 0));
  for (let i = 0; i < addresses.length; i += 2) calls.munmap(addresses[i], PAGE);
  // A scratch area for the floor loop, so it writes real pages too.
  const scratch = calls.mmap(0, 32 * PAGE, 3, 0x22, -1, 0);
  if (mman.stats().liveMappings !== live + 1) throw new Error("benchmark setup: wrong number of live mappings");
  return { guest: instance.exports as unknown as Guest, scratch };
}

function nsPer(run: () => number, n: number): number {
  const start = process.hrtime.bigint();
  const result = run();
  const ns = Number(process.hrtime.bigint() - start);
  if (result !== 0) throw new Error(`benchmark guest failed with ${result}`);
  return ns / n;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function run(): Promise<void> {
  console.log("## Core: mmap + munmap pair vs floor (4 KiB pages; ns per pair, median of 7 rounds)\n");
  const guests = new Map<number, { guest: Guest; scratch: number }>();
  for (const live of LIVE) guests.set(live, await guestWith(live));
  const pair = new Map<string, number[]>();
  const floor = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    // Interleave every configuration in each round, so drift on a shared machine hits all alike.
    for (const pages of SIZES) {
      const n = Math.max(20_000, Math.floor(400_000 / pages));
      const len = pages * PAGE;
      for (const live of LIVE) {
        const { guest, scratch } = guests.get(live)!;
        const key = `${pages}/${live}`;
        if (round === 0) {
          guest.pairs(n, len, PAGE); // warm-up
          guest.floor(n, len, PAGE, scratch);
        }
        pair.set(key, [...(pair.get(key) ?? []), nsPer(() => guest.pairs(n, len, PAGE), n)]);
        floor.set(key, [...(floor.get(key) ?? []), nsPer(() => guest.floor(n, len, PAGE, scratch), n)]);
      }
    }
  }
  const rows: string[] = [];
  rows.push("| pages | live | pair ns | floor ns | pair/floor | pair(100k)/pair(100) |");
  rows.push("|---:|---:|---:|---:|---:|---:|");
  let pass = true;
  for (const pages of SIZES) {
    const small = median(pair.get(`${pages}/100`)!);
    for (const live of LIVE) {
      const p = median(pair.get(`${pages}/${live}`)!);
      const f = median(floor.get(`${pages}/${live}`)!);
      const ratio = p / f;
      const scale = live === 100 ? 1 : p / small;
      if (live === 100_000 && (ratio > 1.5 || scale > 2)) pass = false;
      rows.push(`| ${pages} | ${live.toLocaleString("en")} | ${p.toFixed(0)} | ${f.toFixed(0)} | ${ratio.toFixed(2)} | ${live === 100 ? "-" : scale.toFixed(2)} |`);
    }
  }
  console.log(rows.join("\n"));
  console.log(`\ntargets (100,000 live: pair/floor <= 1.5, pair(100k)/pair(100) <= 2): ${pass ? "met" : "NOT met"}\n`);
}
