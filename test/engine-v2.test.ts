/**
 * Engine v2 (issue "Engine v2"): the two state bugs of the first engine, musl mallocng's guard
 * page over the brk area, placement that keeps linear memory flat under a realloc-style mremap
 * loop, clearing that writes only what the guest wrote, plans as values, and the debug option.
 */
import { describe, expect, it } from "vitest";
import { createMman } from "../index.js";
import type { PageTable } from "../runtime/page-table.js";
import { planMmap } from "../syscalls/mmap.js";
import { planMremap } from "../syscalls/mremap.js";
import { planMunmap } from "../syscalls/munmap.js";
import { mapAnon, MAP_ANON, MAP_FIXED, PAGE_SIZES, PROT_RW, testSpace } from "./helpers/space.js";

const EINVAL = -22;
const PROT_NONE = 0, PROT_READ = 1;
const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;
const MiB = 1 << 20;

describe.each(PAGE_SIZES)("engine v2 with %i-byte pages", (page) => {
  it("a failing mremap leaves adjacent mapping records apart (they were merged before the checks)", () => {
    const t = testSpace(page);
    const calls = t.mman.calls;
    const a = mapAnon(t, 4 * page);
    // mprotect splits a into two records that Linux would hold as one vma again.
    expect(calls.mprotect(a + 2 * page, 2 * page, PROT_READ)).toBe(0);
    expect(calls.mprotect(a + 2 * page, 2 * page, PROT_RW)).toBe(0);
    expect(t.mman.mappings()).toHaveLength(2);
    expect(calls.mremap(a, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * page + 1)).toBe(EINVAL);
    expect(t.mman.mappings()).toHaveLength(2);
    // The failing call built no plan.
    expect(planMremap(t.mman.calls.ctx, a, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * page + 1)).toBe(EINVAL);
    // A valid mremap over both records still works (and merges them).
    const moved = calls.mremap(a, 4 * page, 8 * page, MREMAP_MAYMOVE, 0);
    expect(moved).toBeGreaterThan(0);
    expect(t.mman.mappings()).toHaveLength(1);
    t.mman.checkInvariants(true);
  });

  it("stats() changes nothing: recycled pages stay recycled, the next mmap lands where it would have", () => {
    const t = testSpace(page);
    const calls = t.mman.calls;
    const a = mapAnon(t, 2 * page);
    mapAnon(t, page); // a neighbour, so a is not at the end of anything
    expect(calls.munmap(a, 2 * page)).toBe(0);
    expect(t.mman.space.recycledPages).toBe(2);
    const kinds = Array.from(t.mman.space.pageKinds());
    t.mman.stats();
    t.mman.stats();
    expect(t.mman.space.recycledPages).toBe(2);
    expect(Array.from(t.mman.space.pageKinds())).toEqual(kinds);
    expect(mapAnon(t, 2 * page)).toBe(a);
    t.mman.checkInvariants(true);
  });

  it("musl mallocng's guard page: MAP_FIXED PROT_NONE over the first brk page replaces it; the break stays", () => {
    const t = testSpace(page);
    const calls = t.mman.calls;
    // mallocng's alloc_meta: brk(0), round up to a page, brk(+2 pages), then the guard.
    const base = Math.ceil(calls.brk(0) / page) * page;
    expect(calls.brk(base + 2 * page)).toBe(base + 2 * page);
    expect(calls.mmap(base, page, PROT_NONE, MAP_ANON | MAP_FIXED, -1, 0)).toBe(base);
    expect(calls.brk(0)).toBe(base + 2 * page);
    expect(t.mman.mappings()).toEqual([expect.objectContaining({ address: base, length: page, prot: PROT_NONE })]);
    const kinds = t.mman.space.pageKinds();
    expect([kinds[base / page], kinds[base / page + 1]]).toEqual([2, 1]); // MAPPED, BRK
    expect(t.mman.stats().errors.mmap).toBe(0);
    t.mman.checkInvariants(true);
    // The brk area keeps growing above it.
    expect(calls.brk(base + 5 * page)).toBe(base + 5 * page);
    t.bytes().fill(7, base + page, base + 5 * page);
    t.mman.checkInvariants(true);
    // munmap of the guard gives its page back to the brk area, reading zeros.
    expect(calls.munmap(base, page)).toBe(0);
    expect(t.mman.mappings()).toEqual([]);
    expect(t.mman.space.pageKinds()[base / page]).toBe(1);
    t.mman.checkInvariants(true);
    // Shrinking the break over a mapping inside the brk area unmaps it (Linux unmaps [newbrk, oldbrk)).
    expect(calls.mmap(base + 3 * page, page, PROT_NONE, MAP_ANON | MAP_FIXED, -1, 0)).toBe(base + 3 * page);
    expect(calls.brk(base + page)).toBe(base + page);
    expect(t.mman.mappings()).toEqual([]);
    t.mman.checkInvariants(true);
    // What the break gave back reads as zeros when it grows again.
    expect(calls.brk(base + 5 * page)).toBe(base + 5 * page);
    expect(t.bytes().subarray(base + page, base + 5 * page).every((x) => x === 0)).toBe(true);
    t.mman.checkInvariants(true);
  });

  it("a realloc-style mremap loop keeps linear memory flat: 1 -> 2 -> 4 -> 8 MiB, munmap, 20 rounds", () => {
    const t = testSpace(page, { maxWasmPages: 65536 });
    const calls = t.mman.calls;
    let after1 = 0;
    for (let round = 0; round < 20; round++) {
      let a = mapAnon(t, MiB);
      t.bytes().fill(1, a, a + MiB);
      for (const size of [2, 4, 8]) {
        a = calls.mremap(a, (size / 2) * MiB, size * MiB, MREMAP_MAYMOVE, 0);
        expect(a).toBeGreaterThan(0);
        expect(t.bytes()[a + MiB - 1]).toBe(1); // the bytes moved with it
      }
      expect(calls.munmap(a, 8 * MiB)).toBe(0);
      if (round === 0) after1 = t.mman.stats().linearMemoryBytes;
    }
    const stats = t.mman.stats();
    expect(stats.linearMemoryBytes).toBe(after1);
    // One round needs 8 MiB at its peak (grown in place at the end of memory each time).
    expect(stats.linearMemoryBytes).toBeLessThanOrEqual(1.5 * 8 * MiB);
    t.mman.checkInvariants(true);
  });

  it("clearing writes only what the guest wrote: reused pages read zero, untouched ones are left alone", () => {
    const t = testSpace(page, { growth: "exact" });
    const calls = t.mman.calls;
    const a = mapAnon(t, 64 * page);
    mapAnon(t, page); // keeps a out of the wilderness
    // The guest touches one byte in every fourth page.
    for (let p = 0; p < 64; p += 4) t.bytes()[a + p * page + 17] = 0x5a;
    expect(calls.munmap(a, 64 * page)).toBe(0);
    const before = t.mman.stats();
    const again = mapAnon(t, 64 * page);
    expect(again).toBe(a);
    expect(t.bytes().subarray(a, a + 64 * page).every((x) => x === 0)).toBe(true);
    const after = t.mman.stats();
    expect(after.checkedBytes - before.checkedBytes).toBe(64 * page);
    // 16 touched pages; in each, at most the bytes from the first written word to its 4 KiB end.
    const written = after.clearedBytes - before.clearedBytes;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(16 * 4096);
    t.mman.checkInvariants(true);
  });

  it("a failing call builds no plan: plan functions return the errno and change nothing", () => {
    const t = testSpace(page);
    const a = mapAnon(t, 4 * page);
    const kinds = Array.from(t.mman.space.pageKinds());
    const ctx = t.mman.calls.ctx;
    expect(planMunmap(ctx, a + 1, page)).toBe(EINVAL);
    expect(planMmap(ctx, a + 1, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(EINVAL);
    expect(planMremap(ctx, a, 4 * page, 0, MREMAP_MAYMOVE, 0)).toBe(EINVAL);
    expect(Array.from(t.mman.space.pageKinds())).toEqual(kinds);
    // A plan is a value: built, it has changed nothing yet either.
    const plan = planMunmap(ctx, a, 4 * page);
    expect(plan).toEqual({ from: a / page, to: a / page + 4 });
    expect(t.mman.mappings()).toHaveLength(1);
  });
});

describe("small cases of the files-and-sandbox issue", () => {
  it("brk(0) only asks, also with a heap base of 0: nothing is freed, nothing handed out twice", () => {
    const t = testSpace(4096, { heapBase: 0 });
    const calls = t.mman.calls;
    expect(calls.brk(0)).toBe(0);
    // With a heap base of 0 the break starts at 0 (page 0 itself is never handed out).
    expect(calls.brk(3 * 4096)).toBe(3 * 4096);
    expect(calls.brk(0)).toBe(3 * 4096);
    expect(t.mman.stats().brkBytes).toBe(3 * 4096);
    const a = mapAnon(t, 4096);
    expect(a).toBe(3 * 4096); // above the break: the brk pages were not given back by brk(0)
    t.mman.checkInvariants(true);
  });

  it("a trace hook that calls back into the calls is served untraced and does not recurse", () => {
    const seen: string[] = [];
    const t = testSpace(4096);
    t.mman.setTrace((record) => {
      seen.push(record.call);
      // Read-only and mutating calls from inside the hook: both return, neither is traced.
      expect(t.mman.calls.pagesize()).toBe(4096);
      const inner = t.mman.calls.mmap(0, 4096, PROT_RW, MAP_ANON, -1, 0);
      expect(t.mman.calls.munmap(inner, 4096)).toBe(0);
    });
    const a = mapAnon(t, 4096);
    expect(t.mman.calls.munmap(a, 4096)).toBe(0);
    expect(seen).toEqual(["mmap", "munmap"]);
    expect(t.mman.stats().calls.mmap).toBe(3); // the nested calls are counted
    t.mman.checkInvariants(true);
  });
});

describe("the top of a 32-bit memory", () => {
  it.each([4096, 65536])("with %i-byte pages only the last page below 4 GiB is kept back", (page) => {
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    } catch {
      return; // a host that cannot reserve 4 GiB of address space
    }
    const mman = createMman({ pageSize: page, onWarning: () => {} });
    mman.attach({ memory, heapBase: 1024 });
    const lastUsable = 2 ** 32 - 2 * page;
    expect(mman.calls.mmap(lastUsable, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(lastUsable);
    expect(mman.calls.mmap(2 ** 32 - page, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(-12);
    // 4 KiB pages need the last wasm page for their last usable page; 64 KiB pages do not.
    expect(memory.buffer.byteLength).toBe(page === 4096 ? 2 ** 32 : 2 ** 32 - 65536);
    mman.checkInvariants();
  });
});

describe("createMman({ debug: true })", () => {
  it("checks every invariant after every call and names the broken one", () => {
    const warnings: string[] = [];
    const mman = createMman({ pageSize: 4096, debug: true, onWarning: (m) => warnings.push(m) });
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 64 });
    mman.attach({ memory, heapBase: 8192 });
    const a = mman.calls.mmap(0, 4096, PROT_RW, MAP_ANON, -1, 0);
    expect(a).toBeGreaterThan(0);
    // Break the engine on purpose: the mapping's page shows as free.
    (mman.space as unknown as { table: PageTable }).table.markFree(a / 4096, a / 4096 + 1);
    expect(() => mman.calls.mprotect(a, 4096, PROT_READ)).toThrow(/invariant broken: mapping at page \d+ has a page not marked used/);
    // Through the wasm boundary the guest gets -ENOMEM and the host is told, never a throw.
    expect(mman.imports.mman.mprotect(a, 4096, PROT_READ)).toBe(-12);
    expect(warnings.join("\n")).toMatch(/internal error in mprotect.*invariant broken/s);
  });

  it("rejects a second engine on a memory that one already manages", () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    createMman({ onWarning: () => {} }).attach({ memory, heapBase: 1024 });
    expect(() => createMman({ onWarning: () => {} }).attach({ memory, heapBase: 1024 })).toThrow(
      /another wasi-mman instance already manages this memory/,
    );
  });
});

describe("attach", () => {
  it("takes a bare WebAssembly.Memory, as the README says (the heap then starts at its end)", () => {
    const warnings: string[] = [];
    const mman = createMman({ onWarning: (m) => warnings.push(m) });
    const memory = new WebAssembly.Memory({ initial: 2 });
    expect(mman.attach(memory)).toEqual({ heapBase: 2 * 65536, heapBaseSource: "memory-size" });
    expect(mman.calls.mmap(0, 4096, PROT_RW, MAP_ANON, -1, 0)).toBe(2 * 65536);
    mman.checkInvariants(true);
  });
});
