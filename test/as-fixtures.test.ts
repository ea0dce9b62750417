// Fixture programs of the two-tier AssemblyScript allocator (fixtures/as/scenarios.ts),
// checked through what the host saw: its trace and its statistics, and every call by the page
// model (test/oracle) through the trace hook. Every test runs for 4 KiB, 16 KiB and 64 KiB
// libc pages.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMman, PageKind, type TraceRecord } from "../index.js";
import { loadAs } from "../scripts/build-as.js";
import { startAsGuest, type AllocExports, type AsGuest } from "../guest/as/host.js";
import { agreeAfterEach } from "./oracle/check.js";

const watch = agreeAfterEach(afterEach);

interface Scenarios extends AllocExports {
  at_threshold(): number;
  above_threshold(): number;
  realloc_up_across(): number;
  realloc_down_across(): number;
  realloc_mapped(fromSize: number, toSize: number): number;
  many_small(count: number): number;
  fill_heap(bytes: number): number;
  alloc_large(size: number): number;
  reuse_reads_zeros(largeSize: number, smallSize: number): number;
  usable(ptr: number): number;
}

const THRESHOLD = 114688; // the default: musl oldmalloc's 112 KiB
const PROT_RW = 3;
const MAP_PRIVATE_ANONYMOUS = 0x22;
const MAP_FIXED = 0x10;
const MREMAP_MAYMOVE = 1;
const PAGE_SIZES = [4096, 16384, 65536];

let bytes: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  bytes = await loadAs("scenarios");
});

function roundUp(value: number, page: number): number {
  return Math.ceil(value / page) * page;
}

function callsOf(trace: TraceRecord[], call: TraceRecord["call"]): TraceRecord[] {
  return trace.filter((record) => record.call === call);
}

// A brk call that moved the break (brk(0) only asks where it is).
function brkGrowths(trace: TraceRecord[]): TraceRecord[] {
  return callsOf(trace, "brk").filter((record) => record.args[0] !== 0 && record.result === record.args[0]);
}

// The allocator's first brk heap (guest/as/alloc.ts growHeap): from the 16-aligned break, its
// 16 bytes of segment header and tail plus the block, at least MIN_GROW (64 KiB), to a page.
const MIN_GROW = 65536;
function firstHeapEnd(heapBase: number, blockSize: number, page: number): number {
  return roundUp(roundUp(heapBase, 16) + Math.max(blockSize + 16, MIN_GROW), page);
}
// A heap block for a request: 4 bytes of header, rounded to 16 (blockSizeFor).
const blockSizeFor = (request: number): number => Math.max(16, roundUp(request + 4, 16));
// The heap bytes many_small's blocks take (fixtures/as/scenarios.ts: sizes 16 + (i * 37) % 240).
function heapNeed(count: number): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += blockSizeFor(16 + ((i * 37) % 240));
  return bytes;
}

async function start(pageSize: number, options: { maxMemoryBytes?: number } = {}): Promise<AsGuest<Scenarios>> {
  const guest = await startAsGuest<Scenarios>(bytes, { pageSize, keepTrace: true, onWarning: () => {}, ...options });
  watch(guest.mman, options);
  return guest;
}

function settle(guest: AsGuest<Scenarios>): void {
  expect(guest.exports.heap_check()).toBe(0);
  // The allocator never grows memory itself: the host saw no foreign growth.
  expect(guest.mman.stats().foreignBytes).toBe(0);
  guest.mman.checkInvariants();
}

describe.each(PAGE_SIZES)("two-tier allocator fixtures, %i-byte pages", (pageSize) => {
  it("keeps a request of exactly the threshold in the brk heap", async () => {
    const guest = await start(pageSize);
    const ptr = guest.exports.at_threshold();
    expect(ptr).not.toBe(0);
    expect(callsOf(guest.trace, "mmap")).toHaveLength(0);
    const stats = guest.mman.stats();
    // One growth, just big enough for the block (more than MIN_GROW).
    expect(brkGrowths(guest.trace).map((record) => record.args[0])).toEqual([firstHeapEnd(stats.heapBase, blockSizeFor(THRESHOLD), pageSize)]);
    expect(ptr).toBeGreaterThanOrEqual(stats.heapBase);
    expect(ptr + THRESHOLD).toBeLessThanOrEqual(stats.brk);
    settle(guest);
  });

  it("gives one byte more a mapping of its own, rounded to the libc page", async () => {
    const guest = await start(pageSize);
    const ptr = guest.exports.above_threshold();
    const mmaps = callsOf(guest.trace, "mmap");
    expect(mmaps).toHaveLength(1);
    const [address, length, prot, flags] = mmaps[0]!.args;
    expect([address, prot, flags]).toEqual([0, PROT_RW, MAP_PRIVATE_ANONYMOUS]);
    expect(length).toBe(roundUp(THRESHOLD + 1 + 16, pageSize));
    expect(ptr).toBe(mmaps[0]!.result + 16);
    expect(guest.exports.usable(ptr)).toBe(length! - 16);
    expect(brkGrowths(guest.trace)).toHaveLength(0); // the heap was never touched
    expect(guest.mman.stats().liveMappings).toBe(1);
    settle(guest);
  });

  it("honours a threshold set at run time", async () => {
    const guest = await start(pageSize);
    expect(guest.exports.set_mmap_threshold(65536)).toBe(65536);
    const small = guest.exports.malloc(65536);
    expect(callsOf(guest.trace, "mmap")).toHaveLength(0);
    expect(small + 65536).toBeLessThanOrEqual(guest.mman.stats().brk);
    const ptr = guest.exports.malloc(65537);
    const mmaps = callsOf(guest.trace, "mmap");
    expect(mmaps).toHaveLength(1);
    expect(mmaps[0]!.args[1]).toBe(roundUp(65537 + 16, pageSize));
    expect(ptr).toBe(mmaps[0]!.result + 16);
    settle(guest);
  });

  it("raises a dynamic threshold (opt-in, glibc-style) when a mapped block is freed", async () => {
    const guest = await start(pageSize);
    const g = guest.exports;
    expect(g.set_mmap_threshold_max(512 << 10)).toBe(512 << 10);
    g.free(g.malloc(300000));
    expect(callsOf(guest.trace, "munmap")).toHaveLength(1);
    const raised = roundUp(300000 + 16, pageSize) - 16; // the freed block's usable size
    expect(g.set_mmap_threshold(0)).toBe(raised);
    const again = g.malloc(300000); // now a heap block: freeing it unmaps nothing
    g.free(again);
    expect(callsOf(guest.trace, "munmap")).toHaveLength(1);
    g.free(g.malloc(600000)); // above the maximum: mapped, and the threshold stays
    expect(callsOf(guest.trace, "munmap")).toHaveLength(2);
    expect(g.set_mmap_threshold(0)).toBe(raised);
    // Setting the threshold fixes it again (as mallopt(M_MMAP_THRESHOLD) does in glibc).
    expect(g.set_mmap_threshold(200000)).toBe(200000);
    g.free(g.malloc(300000));
    expect(callsOf(guest.trace, "munmap")).toHaveLength(3);
    expect(g.set_mmap_threshold(0)).toBe(200000);
    settle(guest);
  });

  it("moves a heap block into a mapping when realloc crosses the threshold upwards", async () => {
    const guest = await start(pageSize);
    const moved = guest.exports.realloc_up_across();
    expect(moved).not.toBe(0);
    const mmaps = callsOf(guest.trace, "mmap");
    expect(mmaps).toHaveLength(1);
    expect(mmaps[0]!.args[1]).toBe(roundUp(THRESHOLD + 5000 + 16, pageSize));
    expect(moved).toBe(mmaps[0]!.result + 16);
    settle(guest);
  });

  it("moves a mapped block into the heap and unmaps it when realloc crosses downwards", async () => {
    const guest = await start(pageSize);
    const moved = guest.exports.realloc_down_across();
    expect(moved).not.toBe(0);
    const mmaps = callsOf(guest.trace, "mmap");
    expect(mmaps).toHaveLength(1);
    const mmap = mmaps[0];
    const munmaps = callsOf(guest.trace, "munmap");
    expect(munmaps).toHaveLength(1);
    expect(munmaps[0]!.args).toEqual([mmap!.result, mmap!.args[1]]);
    expect(munmaps[0]!.result).toBe(0);
    const stats = guest.mman.stats();
    expect(moved).toBeLessThan(stats.brk);
    expect(stats.liveMappings).toBe(0);
    settle(guest);
  });

  it("resizes a mapped block with mremap(MREMAP_MAYMOVE), both ways", async () => {
    const guest = await start(pageSize);
    const grown = guest.exports.realloc_mapped(200000, 600000);
    expect(grown).not.toBe(0);
    const [mmap] = callsOf(guest.trace, "mmap");
    const [grow] = callsOf(guest.trace, "mremap");
    expect(grow!.args).toEqual([mmap!.result, mmap!.args[1], roundUp(600000 + 16, pageSize), MREMAP_MAYMOVE, 0]);
    expect(grown).toBe(grow!.result + 16);
    const shrunk = guest.exports.realloc_mapped(600000, 200000);
    expect(shrunk).not.toBe(0);
    const shrink = callsOf(guest.trace, "mremap")[1]!;
    expect(shrink.args[2]).toBe(roundUp(200000 + 16, pageSize));
    expect(shrink.args[3]).toBe(MREMAP_MAYMOVE);
    expect(shrunk).toBe(shrink.result + 16);
    settle(guest);
  });

  it("grows the heap with brk for many small blocks", async () => {
    const guest = await start(pageSize);
    const count = 6000;
    expect(guest.exports.many_small(count)).toBe(count);
    expect(callsOf(guest.trace, "mmap")).toHaveLength(0);
    const growths = brkGrowths(guest.trace).map((record) => record.args[0]!);
    const stats = guest.mman.stats();
    // The first growth holds the 24000-byte pointer table; each later one adds MIN_GROW, a
    // whole number of pages at every page size, up to where the break ends.
    const first = firstHeapEnd(stats.heapBase, blockSizeFor(count * 4), pageSize);
    const steps = (stats.brk - first) / MIN_GROW;
    expect(growths).toEqual(Array.from({ length: steps + 1 }, (_, i) => first + i * MIN_GROW));
    // As many steps as the blocks need beyond the first growth (no block is freed, so the heap
    // is used from its start up).
    expect(steps).toBe(Math.ceil((roundUp(stats.heapBase, 16) + 16 + blockSizeFor(count * 4) + heapNeed(count) - first) / MIN_GROW));
    expect(guest.exports.heap_segments()).toBe(1);
    expect(guest.exports.heap_bytes()).toBe(stats.brk - roundUp(stats.heapBase, 16));
    settle(guest);
  });

  it("accounts every heap byte: free bytes are the heap minus its 16-byte segment overhead once all is freed", async () => {
    const guest = await start(pageSize);
    const g = guest.exports;
    const blocks = [10, 500, 1000, 3000, 20000, 100000].map((size) => g.malloc(size));
    expect(g.heap_free_bytes()).toBeLessThan(g.heap_bytes() - 16 - 124000);
    for (const ptr of blocks) g.free(ptr);
    expect(g.heap_free_bytes()).toBe(g.heap_bytes() - 16 * g.heap_segments());
    settle(guest);
  });

  it("expands the heap with mmap when a MAP_FIXED mapping blocks brk", async () => {
    const guest = await start(pageSize);
    guest.exports.free(guest.exports.malloc(16)); // creates the brk heap
    const brk = guest.mman.stats().brk;
    expect(brk % pageSize).toBe(0);
    const blockerLength = roundUp(65536, pageSize);
    const blocker = guest.mman.calls.mmap(brk, blockerLength, PROT_RW, MAP_PRIVATE_ANONYMOUS | MAP_FIXED, -1, 0);
    expect(blocker).toBe(brk);
    const seen = guest.trace.length;
    const freeBefore = guest.exports.heap_free_bytes();
    expect(guest.exports.fill_heap(400000)).toBe(100);
    const after = guest.trace.slice(seen).filter((record) => record.call !== "pagesize");
    // Each time the heap is full, growHeap asks brk first, is refused (brk(2): the break stays
    // where it was), and maps MIN_GROW bytes instead (4016-byte blocks need less).
    const mmaps = callsOf(after, "mmap");
    // The brk heap holds as many blocks as its free bytes allow; the rest go to the mapped
    // segments, which join into one run of MIN_GROW steps with one 16-byte header and tail.
    const inBrkHeap = Math.floor(freeBefore / blockSizeFor(4000));
    const growths = Math.ceil(((100 - inBrkHeap) * blockSizeFor(4000) + 16) / MIN_GROW);
    expect(after.map((record) => [record.call, record.args[1] ?? 0, record.result === record.args[0]])).toEqual(
      Array.from({ length: growths }, () => [["brk", 0, false], ["mmap", MIN_GROW, false]]).flat(),
    );
    // The host places them at the low end of the wilderness, right above the blocker, one after
    // another: the allocator joins them into one segment beside the brk one.
    expect(mmaps.map((record) => record.result)).toEqual(mmaps.map((_, i) => blocker + blockerLength + i * MIN_GROW));
    expect(mmaps.every((record) => record.args[3] === MAP_PRIVATE_ANONYMOUS)).toBe(true);
    expect(guest.mman.stats().brk).toBe(brk);
    expect(guest.exports.heap_segments()).toBe(2);
    settle(guest);
  });

  it("releases exactly a large block's pages when it is freed", async () => {
    const guest = await start(pageSize);
    const size = 300000;
    const ptr = guest.exports.alloc_large(size);
    const [mmap] = callsOf(guest.trace, "mmap");
    const base = mmap!.result;
    const length = mmap!.args[1]!;
    expect(length).toBe(roundUp(size + 16, pageSize));
    const before = guest.mman.stats();
    const kinds = (): Uint8Array => guest.mman.space.pageKinds();
    const first = base / pageSize;
    const last = (base + length) / pageSize; // exclusive
    const kindsBefore = kinds();
    expect([...kindsBefore.subarray(first, last)]).toEqual(new Array(last - first).fill(PageKind.MAPPED));
    guest.exports.free(ptr);
    const munmaps = callsOf(guest.trace, "munmap");
    expect(munmaps).toHaveLength(1);
    expect(munmaps[0]!.args).toEqual([base, length]);
    const after = guest.mman.stats();
    expect(before.mappedBytes - after.mappedBytes).toBe(length);
    expect(after.liveMappings).toBe(before.liveMappings - 1);
    // Every page was written (0xAB), so each is free and dirty now: cleared when handed out again.
    const released = kinds();
    expect([...released.subarray(first, last)]).toEqual(new Array(last - first).fill(PageKind.FREE_DIRTY));
    // Every other page is as it was.
    expect([...released.subarray(0, first), ...released.subarray(last)]).toEqual([...kindsBefore.subarray(0, first), ...kindsBefore.subarray(last)]);
    settle(guest);
  });

  it("reads zeros from reused memory (mapped malloc without memset, heap calloc with one)", async () => {
    const guest = await start(pageSize);
    expect(guest.exports.reuse_reads_zeros(300000, 500)).toBe(0);
    const mmaps = callsOf(guest.trace, "mmap");
    expect(mmaps).toHaveLength(2);
    // The host handed the same pages out again: this really was reuse.
    expect(mmaps[1]!.result).toBe(mmaps[0]!.result);
    settle(guest);
  });

  it("trusts mmap's zeros in calloc (no memset of a mapped block) but clears heap blocks", async () => {
    // A host that breaks the ABI's zero guarantee (docs/abi.md) shows which blocks calloc
    // clears itself: a mapped block keeps the host's bytes, a reused heap block is cleared.
    const dirty = 0xcc;
    const mman = createMman({ pageSize, onWarning: () => {} });
    const real = mman.imports.mman;
    let memory: WebAssembly.Memory | null = null;
    const dirtyMmap = (address: number, length: number, prot: number, flags: number, fd: number, offset: bigint): number => {
      const result = real.mmap(address, length, prot, flags, fd, offset);
      if (result >>> 0 < 0xfffff001) new Uint8Array(memory!.buffer, result >>> 0, length).fill(dirty);
      return result;
    };
    const imports: WebAssembly.Imports = {
      env: { abort: () => { throw new Error("guest abort"); } },
      mman: { ...real, mmap: dirtyMmap },
    };
    const { instance } = await WebAssembly.instantiate(bytes, imports);
    mman.attach(instance);
    memory = instance.exports.memory as WebAssembly.Memory;
    const g = instance.exports as unknown as Scenarios & { _initialize(): void };
    g._initialize();
    g.free(g.malloc(16)); // start the brk heap, so the small blocks below are heap blocks
    const large = g.calloc(1, 200000);
    expect(new Uint8Array(memory.buffer, large, 200000).every((byte) => byte === dirty)).toBe(true);
    const small = g.malloc(500);
    new Uint8Array(memory.buffer, small, 500).fill(0xee);
    g.free(small);
    const cleared = g.calloc(1, 500);
    expect(cleared).toBe(small); // the same block, reused
    expect(new Uint8Array(memory.buffer, cleared, 500).every((byte) => byte === 0)).toBe(true);
  });

  it("returns 0 instead of trapping when memory runs out", async () => {
    const guest = await start(pageSize, { maxMemoryBytes: 2 << 20 });
    expect(guest.exports.malloc(8 << 20)).toBe(0); // mapped tier: mmap says ENOMEM
    expect(guest.exports.calloc(0x10000, 0x10000)).toBe(0); // size overflow
    expect(guest.exports.malloc(0xfffffff0)).toBe(0);
    let count = 0;
    while (guest.exports.malloc(50000) !== 0) count++; // heap tier: brk and mmap refused
    // The brk heap grew in MIN_GROW steps while they fitted under the 2 MiB cap; as many
    // 50016-byte blocks as the heap holds were handed out.
    const { heapBase, brk } = guest.mman.stats();
    const first = firstHeapEnd(heapBase, blockSizeFor(50000), pageSize);
    const end = first + Math.floor(((2 << 20) - first) / MIN_GROW) * MIN_GROW;
    expect(brk).toBe(end);
    expect(count).toBe(Math.floor((end - roundUp(heapBase, 16) - 16) / blockSizeFor(50000)));
    expect(guest.exports.malloc(16)).not.toBe(0); // what is left still serves small requests
    // Two mmaps failed: the 8 MiB block's, and the heap's fallback after the last refused brk.
    expect(guest.mman.stats().errors.mmap).toBe(2);
    settle(guest);
  });

  it("aligns aligned_alloc blocks in both tiers and rejects bad alignments", async () => {
    const guest = await start(pageSize);
    const { aligned_alloc, free, malloc_usable_size } = guest.exports;
    for (const alignment of [32, 64, 256, 4096, 65536]) {
      for (const size of [1, 100, 5000, 150000]) {
        const ptr = aligned_alloc(alignment, size);
        expect(ptr).not.toBe(0);
        expect(ptr % alignment).toBe(0);
        // At least the request (how much more depends on the alignment padding the allocator trims).
        expect(malloc_usable_size(ptr)).toBeGreaterThanOrEqual(size);
        new Uint8Array(guest.memory.buffer, ptr, size).fill(0x77);
        expect(guest.exports.heap_check()).toBe(0);
        free(ptr);
      }
    }
    expect(aligned_alloc(48, 10)).toBe(0);
    expect(aligned_alloc(0, 10)).toBe(0);
    expect(guest.mman.stats().liveMappings).toBe(0);
    settle(guest);
  });
});
