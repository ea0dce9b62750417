/**
 * The address-space engine through its calls, without wasm: brk, placement, growth policy,
 * foreign growth, zeroing of reused pages, statistics and the invariant checker itself.
 */
import { describe, expect, it } from "vitest";
import { ArrayLinearMemory, createMman, PageKind } from "../index.js";
import { FreeRunIndex } from "../runtime/free-index.js";
import type { FreeRuns } from "../runtime/free-runs.js";
import type { PageTable } from "../runtime/page-table.js";
import { mapAnon, MAP_ANON, MAP_FIXED, PAGE_SIZES, PROT_RW, testSpace } from "./helpers/space.js";

const ENOMEM = -12;

describe.each(PAGE_SIZES)("engine with %i-byte pages", (page) => {
  it("brk starts at the heap base, reports the exact break, and new brk memory reads as zeros", () => {
    const t = testSpace(page);
    const calls = t.mman.calls;
    expect(calls.brk(0)).toBe(t.heapBase);
    expect(calls.brk(t.heapBase - 1)).toBe(t.heapBase); // below the heap base: refused
    const target = t.heapBase + 3 * page + 123;
    expect(calls.brk(target)).toBe(target);
    t.bytes().fill(7, t.heapBase, target);
    expect(calls.brk(t.heapBase)).toBe(t.heapBase); // shrink frees the pages
    t.mman.checkInvariants(true);
    expect(calls.brk(target)).toBe(target);
    const regionStart = Math.ceil(t.heapBase / page) * page;
    expect(t.bytes().subarray(regionStart, target).every((b) => b === 0)).toBe(true);
    expect(t.mman.stats().brkBytes).toBe(target - t.heapBase);
    t.mman.checkInvariants(true);
  });

  it("brk never grows into a mapping: it returns the old break, so musl falls back to mmap", () => {
    const t = testSpace(page);
    const calls = t.mman.calls;
    const regionStart = Math.ceil(t.heapBase / page) * page;
    const blocker = regionStart + 2 * page;
    expect(calls.mmap(blocker, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(blocker);
    expect(calls.brk(blocker)).toBe(blocker); // up to the mapping is fine
    expect(calls.brk(blocker + 1)).toBe(blocker); // one byte into it is not
    expect(t.mman.stats().errors.brk).toBe(1);
    t.mman.checkInvariants();
  });

  it("places mappings in holes first, low end first, the wilderness last, and grows only for the wilderness", () => {
    const t = testSpace(page, { growth: "exact" });
    const calls = t.mman.calls;
    const regionStart = Math.ceil(t.heapBase / page) * page;
    // Nothing mapped: the wilderness starts at the break, and its lowest pages go first.
    const a = mapAnon(t, 64 * page);
    expect(a).toBe(regionStart);
    const b = mapAnon(t, 4 * page);
    expect(b).toBe(a + 64 * page);
    const c = mapAnon(t, 4 * page);
    expect(c).toBe(b + 4 * page);
    expect(t.mman.stats().linearMemoryBytes).toBe(Math.ceil((c + 4 * page) / 65536) * 65536); // exact growth
    const growsBefore = t.mman.stats().growCalls;
    // A hole that is not at the break is carved from its low end.
    expect(calls.munmap(b, 4 * page)).toBe(0);
    expect(mapAnon(t, 2 * page)).toBe(b);
    expect(mapAnon(t, 2 * page)).toBe(b + 2 * page);
    // The hole at the break is carved from its high end, so brk can grow into what is left.
    expect(calls.munmap(a, 64 * page)).toBe(0);
    expect(mapAnon(t, 4 * page)).toBe(a + 60 * page);
    expect(t.mman.stats().growCalls).toBe(growsBefore);
    expect(calls.brk(a + 60 * page)).toBe(a + 60 * page);
    expect(calls.brk(a + 60 * page + 1)).toBe(a + 60 * page); // not into the mapping
    t.mman.checkInvariants(true);
  });

  it("recycles a whole small mapping for the next mmap of its size, zeroed, and gives it back to anything else", () => {
    const t = testSpace(page, { growth: "exact", heapBase: 2 * 65536 });
    const calls = t.mman.calls;
    const above = mapAnon(t, 8 * page);
    const m = mapAnon(t, 2 * page);
    t.bytes().fill(0x5a, m, m + 2 * page);
    expect(calls.munmap(m, 2 * page)).toBe(0);
    expect(t.mman.space.recycledPages).toBe(2);
    expect(t.mman.stats().liveMappings).toBe(1);
    t.mman.space.checkInvariants(true);
    expect(mapAnon(t, 2 * page)).toBe(m); // same size: the same pages
    expect(t.bytes().subarray(m, m + 2 * page).every((x) => x === 0)).toBe(true);
    expect(calls.munmap(m, 2 * page)).toBe(0);
    // MAP_FIXED_NOREPLACE onto recycled pages sees them free.
    expect(calls.mmap(m, page, PROT_RW, MAP_ANON | 0x100000, -1, 0)).toBe(m);
    expect(t.mman.space.recycledPages).toBe(0);
    t.mman.checkInvariants(true);
    // brk can grow through recycled pages.
    calls.munmap(m, page);
    calls.munmap(above, 8 * page);
    const top = t.mman.stats().linearMemoryBytes;
    expect(calls.brk(top)).toBe(top);
    t.mman.checkInvariants(true);
  });

  it("reused pages read as zeros; fresh pages from memory.grow are not cleared", () => {
    // The heap base at the end of the initial memory: every page comes from memory.grow.
    const t = testSpace(page, { growth: "exact", heapBase: 2 * 65536 });
    const calls = t.mman.calls;
    const a = mapAnon(t, 3 * page);
    expect(t.mman.stats().clearedBytes).toBe(0); // fresh from memory.grow
    t.bytes().fill(0xab, a, a + 3 * page);
    calls.munmap(a, 3 * page);
    const b = mapAnon(t, 3 * page);
    expect(b).toBe(a);
    expect(t.bytes().subarray(b, b + 3 * page).every((x) => x === 0)).toBe(true);
    expect(t.mman.stats().clearedBytes).toBe(3 * page);
    t.mman.checkInvariants(true);
  });

  it("grows in chunks by the geometric policy and counts every grow call", () => {
    const exact = testSpace(page, { growth: "exact" });
    const geometric = testSpace(page, { growth: { kind: "geometric", ratio: 1, maxChunkBytes: 1 << 20 } });
    for (const t of [exact, geometric]) {
      // One after the other from the break up (the wilderness's low end each time).
      for (let i = 0; i < 64; i++) expect(mapAnon(t, page)).toBe(Math.ceil(t.heapBase / page) * page + i * page);
      t.mman.checkInvariants();
    }
    const e = exact.mman.stats();
    const g = geometric.mman.stats();
    expect(e.growCalls).toBe(exact.memory.growCalls);
    expect(g.growCalls).toBe(geometric.memory.growCalls);
    expect(g.growCalls).toBeLessThan(e.growCalls);
    expect(g.growCalls).toBeGreaterThan(0);
  });

  it("fails with ENOMEM at the declared maximum and at maxMemoryBytes, changing nothing", () => {
    const t = testSpace(page, { maxWasmPages: 4 });
    expect(mapAnon(t, 8 * 65536)).toBe(ENOMEM);
    t.mman.checkInvariants();
    const capped = testSpace(page, { maxMemoryBytes: 4 * 65536 });
    expect(mapAnon(capped, 3 * 65536)).toBe(ENOMEM);
    expect(capped.mman.calls.brk(5 * 65536)).toBe(capped.heapBase);
    expect(capped.mman.stats().linearMemoryBytes).toBe(2 * 65536); // refused before growing
    capped.mman.checkInvariants();
  });

  it("pages the guest grows itself are foreign: never handed out, counted, and shown in the map", () => {
    const t = testSpace(page, { growth: "exact" });
    const before = t.memory.byteLength();
    t.memory.grow(2); // the guest's own memory.grow
    const a = mapAnon(t, page);
    // Below the guest's pages when a free page is left there, else above them.
    const regionStart = Math.ceil(t.heapBase / page) * page;
    expect(a).toBe(regionStart < before ? regionStart : before + 2 * 65536);
    const stats = t.mman.stats();
    expect(stats.foreignBytes).toBe(2 * 65536);
    const kinds = t.mman.space.pageKinds();
    expect(kinds[before / page]).toBe(PageKind.FOREIGN);
    // MAP_FIXED onto them is refused, munmap of them too.
    expect(t.mman.calls.mmap(before, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(-1);
    expect(t.mman.calls.munmap(before, page)).toBe(-22);
    t.mman.checkInvariants(true);
  });

  it("keeps statistics: requested vs mapped bytes, wastage, peaks and per-call counts", () => {
    const t = testSpace(page);
    const a = mapAnon(t, page + 1);
    const stats = t.mman.stats();
    expect(stats.liveMappings).toBe(1);
    expect(stats.mappedBytes).toBe(2 * page);
    expect(stats.requestedBytes).toBe(page + 1);
    expect(stats.wastage).toBeCloseTo((page - 1) / (2 * page), 10);
    t.mman.calls.munmap(a, 2 * page);
    const after = t.mman.stats();
    expect(after.liveMappings).toBe(0);
    expect(after.peak.mappedBytes).toBe(2 * page);
    expect(after.peak.wastage).toBeCloseTo((page - 1) / (2 * page), 10);
    expect(after.cumulative.requestedBytes).toBe(page + 1);
    expect(after.calls.mmap).toBe(1);
    expect(after.calls.munmap).toBe(1);
    expect(after.errors.mmap).toBe(0);
    // mremap growth in place adds what it grants to the cumulative figures, no more.
    const b = mapAnon(t, page);
    t.mman.calls.munmap(b - page, page);
    const grown = t.mman.calls.mremap(b, page, 3 * page, 1, 0);
    expect(grown).toBe(b); // in place: the pages after b are free
    const cumulative = t.mman.stats().cumulative;
    expect(cumulative.mappedBytes).toBe(2 * page + 3 * page);
    expect(cumulative.requestedBytes).toBe(page + 1 + 3 * page);
    expect(cumulative.wastage).toBeCloseTo((5 * page - (4 * page + 1)) / (5 * page), 10);
  });
});

describe("page kinds and invariants", () => {
  it("classifies image, brk, mapped and free pages", () => {
    const t = testSpace(4096, { heapBase: 8192 });
    t.mman.calls.brk(8192 + 4096);
    const a = mapAnon(t, 4096);
    const kinds = t.mman.space.pageKinds();
    expect(kinds[0]).toBe(PageKind.IMAGE);
    expect(kinds[1]).toBe(PageKind.IMAGE);
    expect(kinds[2]).toBe(PageKind.BRK);
    expect(a).toBe(3 * 4096); // right above the break: the wilderness's low end
    expect(kinds[3]).toBe(PageKind.MAPPED);
    // The rest of the initial two wasm pages existed when the engine attached: free but dirty
    // (a start function may have written there), never cleared until handed out.
    expect(Array.from(kinds.subarray(4))).toEqual(new Array(32 - 4).fill(PageKind.FREE_DIRTY));
  });

  it("checkInvariants catches a corrupted bitmap, a broken free run and a non-zero clean page", () => {
    const corrupt = (mutate: (t: ReturnType<typeof testSpace>) => void, message: RegExp) => {
      const t = testSpace(4096);
      mapAnon(t, 4096);
      t.mman.checkInvariants(true);
      mutate(t);
      expect(() => t.mman.checkInvariants(true)).toThrow(message);
    };
    // The checker reads the engine's private parts; so do these tests, to break them on purpose.
    const parts = (t: ReturnType<typeof testSpace>) =>
      t.mman.space as unknown as { table: PageTable; runs: FreeRuns; statistics: { counters: { liveMappings: number } } };
    corrupt((t) => {
      const a = t.mman.mappings()[0].address / 4096;
      parts(t).table.markFree(a, a + 1);
    }, /mapping at page \d+ has a page not marked used/);
    corrupt((t) => {
      parts(t).statistics.counters.liveMappings++;
    }, /1 mappings found, 2 accounted/);
    corrupt((t) => {
      const a = t.mman.mappings()[0].address / 4096;
      t.mman.calls.mmap(0, 4096, PROT_RW, 0x22, -1, 0); // a fence, so that unmapping a leaves a hole
      t.mman.calls.mmap(0, 4096 * 40, PROT_RW, 0x22, -1, 0);
      t.mman.calls.munmap(a * 4096, 4096 * 41); // not recycled: too large
      const [start] = parts(t).runs.index.allRuns().next().value as [number, number];
      parts(t).runs.index.runStartAt.fill(-1);
      expect(start).toBeGreaterThan(0);
    }, /wrong end tag/);
    corrupt((t) => {
      const [start, length] = parts(t).runs.allRuns().next().value as [number, number];
      const page = start + length - 1;
      parts(t).table.markClean(page, page + 1);
      t.bytes()[page * 4096] = 1;
    }, /free clean page \d+ holds a non-zero byte/);
  });

  it("rejects bad options with readable errors", () => {
    expect(() => createMman({ pageSize: 3000 })).toThrow(/power of two from 4096 to 65536/);
    expect(() => createMman({ pageSize: 131072 })).toThrow(/page size/);
    expect(() => createMman({ maxMemoryBytes: 100 })).toThrow(/maxMemoryBytes/);
    expect(() => createMman({ growth: "fast" as never })).toThrow(/growth/);
    expect(() => createMman({ growth: { kind: "geometric", ratio: 0 } })).toThrow(/ratio/);
    expect(() => createMman({ pagesize: 4096 } as never)).toThrow(/unknown option "pagesize"/);
    const mman = createMman();
    expect(() => mman.attach({} as never)).toThrow(/WebAssembly.Memory/);
    const memory = new ArrayLinearMemory(1);
    mman.attach({ memory, heapBase: 1024 });
    expect(() => mman.attach({ memory, heapBase: 1024 })).toThrow(/already attached/);
  });

  it("answers before attach without trapping: -ENOSYS, brk 0, and the page size", () => {
    const mman = createMman({ pageSize: 16384 });
    expect(mman.imports.mman.mmap(0, 4096, 3, 0x22, -1, 0n)).toBe(-38);
    expect(mman.imports.mman.munmap(0, 4096)).toBe(-38);
    expect(mman.imports.mman.brk(0)).toBe(0);
    expect(mman.imports.mman.pagesize()).toBe(16384);
    expect(mman.stats().calls.pagesize).toBe(1);
  });

  it("warns and starts the heap at the end of memory when there is no __heap_base", () => {
    const warnings: string[] = [];
    const mman = createMman({ onWarning: (m) => warnings.push(m) });
    const memory = new WebAssembly.Memory({ initial: 3 });
    const info = mman.attach({ memory });
    expect(info).toEqual({ heapBase: 3 * 65536, heapBaseSource: "memory-size" });
    expect(warnings.join("\n")).toMatch(/no __heap_base/);
    expect(mman.calls.brk(0)).toBe(3 * 65536);
  });
});

describe("free-run index", () => {
  it("finds a fitting run in any bucket and falls back to the request's own bucket", () => {
    const index = new FreeRunIndex(1 << 16);
    index.insert(10, 17); // bucket for 16..17
    expect(index.findFit(17)).toBe(10); // rounding up would skip it: found by the fallback
    expect(index.findFit(18)).toBe(-1);
    index.insert(100, 5000);
    expect(index.findFit(18)).toBe(100);
    expect(index.findFit(5001)).toBe(-1);
    index.reshape(100, 100, 4000);
    expect(index.runEndingAt(4099)).toBe(100);
    expect(index.runEndingAt(5099)).toBe(-1);
    expect([...index.allRuns()].sort((a, b) => a[0] - b[0])).toEqual([
      [10, 17],
      [100, 4000],
    ]);
    expect(index.freePages).toBe(4017);
  });
});
