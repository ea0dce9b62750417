/**
 * fixtures/wat/core-guest.wat through the real `mman` import module, for three page sizes:
 * brk growth for small blocks, the threshold between brk and mmap, partial munmap, mremap in
 * place and moving, reuse of freed pages reading zeros, ENOMEM at the declared maximum.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createMman, type Mman, type TraceRecord } from "../index.js";
import { watFixture } from "./helpers/wat.js";

interface CoreGuest {
  memory: WebAssembly.Memory;
  alloc(size: number): number;
  map(len: number): number;
  unmap(addr: number, len: number): number;
  remap(addr: number, oldLen: number, newLen: number, flags: number): number;
  dontneed(addr: number, len: number): number;
  page(): number;
  break(): number;
  fill(addr: number, len: number, value: number): void;
  nonzero(addr: number, len: number): number;
  map_until_error(len: number): number;
}

let bytes: Uint8Array<ArrayBuffer>;
beforeAll(async () => {
  bytes = await watFixture("core-guest");
});

async function start(pageSize: number): Promise<{ guest: CoreGuest; mman: Mman; trace: TraceRecord[] }> {
  const trace: TraceRecord[] = [];
  const mman = createMman({ pageSize, trace: (r) => trace.push(r) });
  const { instance } = await WebAssembly.instantiate(bytes, mman.imports);
  const info = mman.attach(instance);
  expect(info).toEqual({ heapBase: 66560, heapBaseSource: "export" });
  return { guest: instance.exports as unknown as CoreGuest, mman, trace };
}

const u32 = (value: number) => value >>> 0;

describe.each([4096, 16384, 65536])("core-guest.wat with %i-byte pages", (page) => {
  it("asks the page size and grows the brk heap for small blocks", async () => {
    const { guest, mman, trace } = await start(page);
    expect(guest.page()).toBe(page);
    const a = u32(guest.alloc(100));
    const b = u32(guest.alloc(5000));
    expect(a).toBe(66560);
    expect(b).toBe(66660);
    expect(u32(guest.break())).toBe(66560 + 5100);
    expect(trace.filter((r) => r.call === "mmap")).toHaveLength(0);
    expect(mman.stats().brkBytes).toBe(5100);
    mman.checkInvariants(true);
  });

  it("maps blocks at or above the threshold, each rounded to whole pages", async () => {
    const { guest, mman, trace } = await start(page);
    guest.alloc(65535); // below: brk
    const big = u32(guest.alloc(65536 + 1)); // above: mmap
    expect(big % page).toBe(0);
    const maps = trace.filter((r) => r.call === "mmap");
    expect(maps).toHaveLength(1);
    expect(maps[0].args[1]).toBe(65537);
    expect(mman.stats().mappedBytes).toBe(Math.ceil(65537 / page) * page);
    mman.checkInvariants(true);
  });

  it("unmaps part of a mapping and keeps the rest", async () => {
    const { guest, mman } = await start(page);
    const m = u32(guest.map(4 * page));
    guest.fill(m, 4 * page, 7);
    expect(guest.unmap(m + page, 2 * page)).toBe(0);
    expect(mman.mappings().map((x) => [x.address - m, x.length])).toEqual([
      [0, page],
      [3 * page, page],
    ]);
    expect(guest.nonzero(m, page)).toBe(page);
    expect(guest.nonzero(m + 3 * page, page)).toBe(page);
    mman.checkInvariants(true);
  });

  it("mremap grows in place when it can and moves with MREMAP_MAYMOVE, keeping the bytes", async () => {
    const { guest, mman } = await start(page);
    const m = u32(guest.map(page));
    guest.fill(m, page, 3);
    // Placement takes the lowest pages of the wilderness: the pair lands right above m.
    const pair = u32(guest.map(2 * page));
    expect(pair).toBe(m + page);
    guest.fill(pair, page, 4);
    expect(guest.unmap(pair + page, page)).toBe(0);
    expect(u32(guest.remap(pair, page, 2 * page, 0))).toBe(pair); // in place
    expect(guest.nonzero(pair + page, page)).toBe(0);
    expect(u32(guest.map(page))).toBe(pair + 2 * page); // a blocker right above the pair
    expect(guest.remap(pair, 2 * page, 3 * page, 0)).toBe(-12); // blocked, may not move
    const moved = u32(guest.remap(pair, 2 * page, 3 * page, 1));
    expect(moved).not.toBe(pair);
    expect(guest.nonzero(moved, page)).toBe(page);
    expect(guest.nonzero(moved + page, 2 * page)).toBe(0);
    mman.checkInvariants(true);
  });

  it("reused pages read as zeros, and MADV_DONTNEED zeroes in place", async () => {
    const { guest, mman } = await start(page);
    const m = u32(guest.map(3 * page));
    guest.fill(m, 3 * page, 0xee);
    expect(guest.unmap(m, 3 * page)).toBe(0);
    const again = u32(guest.map(3 * page));
    expect(again).toBe(m);
    expect(guest.nonzero(again, 3 * page)).toBe(0);
    guest.fill(again, 3 * page, 1);
    expect(guest.dontneed(again + page, page)).toBe(0);
    expect(guest.nonzero(again, 3 * page)).toBe(2 * page);
    mman.checkInvariants(true);
  });

  it("runs out of memory at the declared maximum with ENOMEM, without a trap", async () => {
    const { guest, mman } = await start(page);
    expect(guest.map_until_error(256 * 1024)).toBe(-12);
    expect(guest.alloc(1 << 20)).toBe(0);
    expect(mman.stats().linearMemoryBytes).toBeLessThanOrEqual(64 * 65536);
    expect(mman.stats().errors.mmap).toBeGreaterThanOrEqual(2);
    mman.checkInvariants(true);
    // Still usable afterwards: a small block from a hole.
    expect(guest.unmap(u32(mman.mappings()[0].address), 256 * 1024)).toBe(0);
    expect(u32(guest.map(page))).toBeGreaterThan(0);
  });
});
