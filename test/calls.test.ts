/**
 * The Linux-semantics calls: one describe per call with its behaviour, and a table of bad
 * inputs with the errno each gets, run for 4 KiB, 16 KiB and 64 KiB pages. Every bad input
 * must also leave the address space exactly as it was.
 */
import { describe, expect, it, vi } from "vitest";
import type { TraceRecord } from "../index.js";
import { mapAnon, MAP_ANON, MAP_FIXED, MAP_FIXED_NOREPLACE, memoryFile, PAGE_SIZES, PROT_RW, testSpace, type TestSpace } from "./helpers/space.js";

const EPERM = -1, EBADF = -9, ENOMEM = -12, EFAULT = -14, EEXIST = -17, ENODEV = -19, EINVAL = -22, EOPNOTSUPP = -95;
const MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_SHARED_VALIDATE = 0x03;
const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2, MREMAP_DONTUNMAP = 4;

/**
 * A space with one 4-page mapping `m` at the top of a 64-page hole that starts at the break
 * (placement carves that hole from its high end, so the brk area can still grow), with a
 * one-page read-only fence mapping right above `m`: pages below `m` are free, the page above is not.
 */
function withMapping(page: number): { t: TestSpace; m: number } {
  const t = testSpace(page);
  const room = mapAnon(t, 64 * page);
  // Read-only, so that Linux would not merge it with `m` below it (mremap past `m` is EFAULT).
  const fence = t.mman.calls.mmap(0, page, 1, MAP_ANON, -1, 0);
  expect(fence).toBe(room + 64 * page);
  t.mman.calls.munmap(room, 64 * page);
  const m = mapAnon(t, 4 * page);
  expect(m).toBe(room + 60 * page);
  return { t, m };
}

/** Everything a failing call must leave as it was: mappings, statistics (but the call tallies) and page kinds. */
function snapshot(t: TestSpace): string {
  // A refused memory.grow is counted (it was a real attempt): all else must stay as it was.
  const { calls: _calls, errors: _errors, growCalls: _growCalls, growFailures: _growFailures, ...stats } = t.mman.stats();
  return JSON.stringify({ maps: t.mman.mappings().map((m) => ({ ...m, file: m.file !== null })), stats, kinds: Array.from(t.mman.space.pageKinds()) });
}

describe.each(PAGE_SIZES)("bad inputs with %i-byte pages", (page) => {
  type Case = [name: string, call: (t: TestSpace, m: number) => number, errno: number, setup?: (t: TestSpace, m: number) => void];
  const cases: Case[] = [
    ["mmap len 0", (t) => t.mman.calls.mmap(0, 0, PROT_RW, MAP_ANON, -1, 0), EINVAL],
    ["mmap map type 0", (t) => t.mman.calls.mmap(0, page, PROT_RW, 0x20, -1, 0), EINVAL],
    ["mmap map type 0x0f", (t) => t.mman.calls.mmap(0, page, PROT_RW, 0x2f, -1, 0), EINVAL],
    ["mmap SHARED_VALIDATE anonymous", (t) => t.mman.calls.mmap(0, page, PROT_RW, MAP_SHARED_VALIDATE | 0x20, -1, 0), EINVAL],
    ["mmap SHARED_VALIDATE file, unknown flag", (t) => (t.mman.setFileResolver({ resolve: () => memoryFile(new Uint8Array(page)) }), t.mman.calls.mmap(0, page, 1, MAP_SHARED_VALIDATE | 0x40, 3, 0)), EOPNOTSUPP],
    ["mmap MAP_HUGETLB", (t) => t.mman.calls.mmap(0, page, PROT_RW, MAP_ANON | 0x40000, -1, 0), ENOMEM],
    ["mmap MAP_SHARED anonymous with MAP_GROWSDOWN", (t) => t.mman.calls.mmap(0, page, PROT_RW, MAP_SHARED | 0x20 | 0x100, -1, 0), EINVAL],
    ["mprotect GROWSDOWN and GROWSUP", (t, m) => t.mman.calls.mprotect(m, page, 1 | 0x01000000 | 0x02000000), EINVAL],
    ["mprotect GROWSUP", (t, m) => t.mman.calls.mprotect(m, page, 1 | 0x02000000), EINVAL],
    ["madvise HWPOISON", (t, m) => t.mman.calls.madvise(m, page, 100), EPERM],
    ["madvise length wraps", (t, m) => t.mman.calls.madvise(m, 2 ** 32 - 1, 4), EINVAL],
    ["madvise COLLAPSE", (t, m) => t.mman.calls.madvise(m, page, 25), EINVAL],
    ["madvise FREE over shared memory", (t, m) => t.mman.calls.madvise(m - 2 * page, 3 * page, 8), EINVAL, (t, m) => void expect(t.mman.calls.mmap(m - 2 * page, page, PROT_RW, MAP_SHARED | 0x20 | MAP_FIXED, -1, 0)).toBe(m - 2 * page)],
    ["mmap unaligned offset", (t) => t.mman.calls.mmap(0, page, PROT_RW, MAP_ANON, -1, 100), EINVAL],
    ["mmap unaligned MAP_FIXED", (t, m) => t.mman.calls.mmap(m + 1, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0), EINVAL],
    ["mmap MAP_FIXED below heap base", (t) => t.mman.calls.mmap(0, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0), EPERM],
    ["mmap MAP_FIXED over pages the guest grew", (t) => t.mman.calls.mmap(t.memory.byteLength() - 65536, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0), EPERM, (t) => void t.memory.grow(1)],
    ["mmap MAP_FIXED_NOREPLACE over brk pages", (t) => t.mman.calls.mmap(Math.ceil(t.heapBase / page) * page, page, PROT_RW, MAP_ANON | MAP_FIXED_NOREPLACE, -1, 0), EEXIST, (t) => void t.mman.calls.brk(t.heapBase + 2 * page)],
    ["munmap of brk pages", (t) => t.mman.calls.munmap(Math.ceil(t.heapBase / page) * page, page), EINVAL, (t) => void t.mman.calls.brk(t.heapBase + 2 * page)],
    ["mmap MAP_FIXED past 4 GiB", (t) => t.mman.calls.mmap(2 ** 32 - page, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0), ENOMEM],
    ["mmap MAP_FIXED_NOREPLACE over a mapping", (t, m) => t.mman.calls.mmap(m, page, PROT_RW, MAP_ANON | MAP_FIXED_NOREPLACE, -1, 0), EEXIST],
    ["mmap too long", (t) => t.mman.calls.mmap(0, 2 ** 32 - 1, PROT_RW, MAP_ANON, -1, 0), ENOMEM],
    ["mmap beyond the declared maximum", (t) => t.mman.calls.mmap(0, 2 ** 31, PROT_RW, MAP_ANON, -1, 0), ENOMEM],
    ["mmap of a file without a resolver", (t) => (t.mman.setFileResolver(null), t.mman.calls.mmap(0, page, 1, MAP_PRIVATE, 3, 0)), ENODEV],
    ["mmap of a bad fd", (t) => t.mman.calls.mmap(0, page, 1, MAP_PRIVATE, 99, 0), EBADF],
    ["munmap unaligned", (t, m) => t.mman.calls.munmap(m + 1, page), EINVAL],
    ["munmap len 0", (t, m) => t.mman.calls.munmap(m, 0), EINVAL],
    ["munmap past 4 GiB", (t) => t.mman.calls.munmap(2 ** 32 - page, 2 * page), EINVAL],
    ["munmap of the module image", (t) => t.mman.calls.munmap(0, page), EINVAL],
    ["mremap unknown flag", (t, m) => t.mman.calls.mremap(m, page, page, 8, 0), EINVAL],
    ["mremap FIXED without MAYMOVE", (t, m) => t.mman.calls.mremap(m, page, page, MREMAP_FIXED, 0), EINVAL],
    ["mremap DONTUNMAP with a new length", (t, m) => t.mman.calls.mremap(m, page, 2 * page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0), EINVAL],
    ["mremap unaligned", (t, m) => t.mman.calls.mremap(m + 1, page, page, 0, 0), EINVAL],
    ["mremap new len 0", (t, m) => t.mman.calls.mremap(m, page, 0, 0, 0), EINVAL],
    ["mremap old len 0", (t, m) => t.mman.calls.mremap(m, 0, page, MREMAP_MAYMOVE, 0), EINVAL],
    ["mremap of unmapped memory", (t, m) => t.mman.calls.mremap(m - 8 * page, page, 2 * page, MREMAP_MAYMOVE, 0), EFAULT],
    ["mremap past the mapping's end", (t, m) => t.mman.calls.mremap(m, 5 * page, 6 * page, MREMAP_MAYMOVE, 0), EFAULT],
    ["mremap FIXED unaligned target", (t, m) => t.mman.calls.mremap(m, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, m - 8 * page + 1), EINVAL],
    ["mremap FIXED overlapping", (t, m) => t.mman.calls.mremap(m, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, m + page), EINVAL],
    ["mremap FIXED below heap base", (t, m) => t.mman.calls.mremap(m, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, 0), EPERM],
    ["mremap grow without MAYMOVE, blocked", (t, m) => t.mman.calls.mremap(m - page, page, 2 * page, 0, 0), ENOMEM, (t, m) => void expect(mapAnon(t, page)).toBe(m - page)],
    ["mremap FIXED unaligned, adjacent records", (t, m) => t.mman.calls.mremap(m, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_FIXED, m - 16 * page + 1), EINVAL, (t, m) => void t.mman.calls.mprotect(m + 2 * page, 2 * page, PROT_RW)],
    ["madvise unaligned", (t, m) => t.mman.calls.madvise(m + 1, page, 4), EINVAL],
    ["madvise unknown advice", (t, m) => t.mman.calls.madvise(m, page, 99), EINVAL],
    ["madvise unmapped", (t, m) => t.mman.calls.madvise(m - 8 * page, page, 4), ENOMEM],
    ["madvise partly unmapped", (t, m) => t.mman.calls.madvise(m - page, 5 * page, 0), ENOMEM],
    ["mprotect unaligned", (t, m) => t.mman.calls.mprotect(m + 1, page, 1), EINVAL],
    ["mprotect unknown prot", (t, m) => t.mman.calls.mprotect(m, page, 16), EINVAL],
    ["mprotect unmapped", (t, m) => t.mman.calls.mprotect(m - 8 * page, page, 1), ENOMEM],
    ["msync unaligned", (t, m) => t.mman.calls.msync(m + 1, page, 4), EINVAL],
    ["msync ASYNC and SYNC", (t, m) => t.mman.calls.msync(m, page, 5), EINVAL],
    ["msync unknown flag", (t, m) => t.mman.calls.msync(m, page, 8), EINVAL],
    ["msync unmapped", (t, m) => t.mman.calls.msync(m - 8 * page, page, 4), ENOMEM],
  ];

  it.each(cases)("%s", (_name, call, errno, setup) => {
    const { t, m } = withMapping(page);
    setup?.(t, m);
    t.mman.setFileResolver(t.mman.space.hasFileMappings ? null : { resolve: () => null });
    const before = snapshot(t);
    expect(call(t, m)).toBe(errno);
    t.mman.checkInvariants(true);
    // Nothing changed: mappings, statistics and every page's kind are exactly as they were.
    expect(snapshot(t)).toBe(before);
  });

  it("counts each failure per call", () => {
    const { t, m } = withMapping(page);
    t.mman.calls.munmap(m + 1, page);
    t.mman.calls.mmap(0, 0, PROT_RW, MAP_ANON, -1, 0);
    const { errors, calls } = t.mman.stats();
    expect(errors.munmap).toBe(1);
    expect(errors.mmap).toBe(1);
    expect(calls.mmap).toBe(4);
  });
});

describe.each(PAGE_SIZES)("semantics with %i-byte pages", (page) => {
  it("mmap honours a free hint and MAP_FIXED replaces what is in its range", () => {
    const { t, m } = withMapping(page);
    const calls = t.mman.calls;
    const hint = m - 8 * page;
    expect(calls.mmap(hint, page, PROT_RW, MAP_ANON, -1, 0)).toBe(hint);
    // A taken hint is only a hint: the mapping goes elsewhere.
    const other = calls.mmap(hint, page, PROT_RW, MAP_ANON, -1, 0);
    // Placement's good fit: the 7-page hole above the hint, from its low end (not the hole at the break).
    expect(other).toBe(hint + page);
    t.bytes().fill(9, m, m + 4 * page);
    expect(calls.mmap(m + page, 2 * page, 1, MAP_ANON | MAP_FIXED, -1, 0)).toBe(m + page);
    const maps = t.mman.mappings().filter((x) => x.address >= m && x.address < m + 4 * page);
    expect(maps.map((x) => [x.address - m, x.length, x.prot])).toEqual([
      [0, page, PROT_RW],
      [page, 2 * page, 1],
      [3 * page, page, PROT_RW],
    ]);
    expect(t.bytes()[m]).toBe(9);
    expect(t.bytes().subarray(m + page, m + 3 * page).every((x) => x === 0)).toBe(true);
    expect(t.bytes()[m + 3 * page]).toBe(9);
    // MAP_FIXED_NOREPLACE on free pages works.
    const free = m - 16 * page;
    expect(calls.mmap(free, page, PROT_RW, MAP_ANON | MAP_FIXED_NOREPLACE, -1, 0)).toBe(free);
    t.mman.checkInvariants(true);
  });

  it("PROT_NONE reserves address space, and mprotect opens part of it (mallocng's pattern)", () => {
    const t = testSpace(page);
    const calls = t.mman.calls;
    const r = calls.mmap(0, 8 * page, 0, MAP_ANON, -1, 0);
    expect(r).toBe(Math.ceil(t.heapBase / page) * page); // the wilderness's low end, at the break
    expect(calls.mprotect(r, 2 * page, PROT_RW)).toBe(0);
    expect(t.mman.mappings().map((x) => [x.address - r, x.length, x.prot])).toEqual([
      [0, 2 * page, PROT_RW],
      [2 * page, 6 * page, 0],
    ]);
    expect(calls.mprotect(r, 0, PROT_RW)).toBe(0);
    t.mman.checkInvariants();
  });

  it("munmap splits on partial unmap and succeeds over unmapped pages", () => {
    const { t, m } = withMapping(page);
    const calls = t.mman.calls;
    expect(calls.munmap(m + page, page)).toBe(0);
    expect(t.mman.mappings().map((x) => [x.address - m, x.length])).toEqual([
      [0, page],
      [2 * page, 2 * page],
      [4 * page, page], // the fence
    ]);
    expect(calls.munmap(m + page, page)).toBe(0); // already unmapped: fine
    expect(calls.munmap(m - 8 * page, 16 * page)).toBe(0); // covers the rest, the fence and free pages
    expect(t.mman.stats().liveMappings).toBe(0);
    t.mman.checkInvariants(true);
  });

  it("mremap shrinks in place, grows in place, moves keeping contents, and honours MREMAP_FIXED", () => {
    const { t, m } = withMapping(page);
    const calls = t.mman.calls;
    const bytes = () => t.bytes();
    bytes().fill(5, m, m + 4 * page);
    expect(calls.mremap(m, 4 * page, 2 * page, 0, 0)).toBe(m); // shrink
    expect(t.mman.mappings()[0].length).toBe(2 * page);
    expect(calls.mremap(m, 2 * page, 3 * page, 0, 0)).toBe(m); // grow in place: the page after is free
    expect(bytes()[m + 2 * page]).toBe(0); // the regrown page reads zero
    const after = m + 3 * page;
    expect(mapAnon(t, page)).toBe(after); // the one-page hole left between m and the fence fits exactly
    expect(calls.mmap(after, page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(after);
    expect(calls.mremap(m, 3 * page, 6 * page, 0, 0)).toBe(ENOMEM); // may not move
    const moved = calls.mremap(m, 3 * page, 6 * page, MREMAP_MAYMOVE, 0);
    // Into the hole at the break, from its high end: right below m.
    expect(moved).toBe(m - 6 * page);
    expect(bytes()[moved]).toBe(5);
    expect(bytes()[moved + 2 * page - 1]).toBe(5);
    expect(bytes().subarray(moved + 2 * page, moved + 6 * page).every((x) => x === 0)).toBe(true);
    expect(t.mman.mappings().some((x) => x.address === m)).toBe(false);
    const target = moved - 32 * page;
    expect(calls.mremap(moved, 6 * page, 6 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target)).toBe(target);
    expect(bytes()[target]).toBe(5);
    const last = t.mman.mappings().find((x) => x.address === target);
    expect(last?.requestedBytes).toBe(6 * page);
    t.mman.checkInvariants(true);
  });

  it("MREMAP_DONTUNMAP moves the contents and leaves the old range mapped and empty", () => {
    const { t, m } = withMapping(page);
    t.bytes().fill(3, m, m + 4 * page);
    const moved = t.mman.calls.mremap(m, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0);
    expect(moved).toBe(m - 4 * page); // the hole at the break, from its high end
    expect(t.bytes()[moved + page]).toBe(3);
    expect(t.mman.mappings().some((x) => x.address === m && x.length === 4 * page)).toBe(true);
    expect(t.bytes().subarray(m, m + 4 * page).every((x) => x === 0)).toBe(true);
    t.mman.checkInvariants(true);
  });

  it("madvise DONTNEED zeroes private pages and brk pages; hints succeed; FREE keeps bytes", () => {
    const { t, m } = withMapping(page);
    const calls = t.mman.calls;
    t.bytes().fill(1, m, m + 4 * page);
    expect(calls.madvise(m + page, page, 4)).toBe(0);
    expect(t.bytes()[m]).toBe(1);
    expect(t.bytes().subarray(m + page, m + 2 * page).every((x) => x === 0)).toBe(true);
    expect(t.bytes()[m + 2 * page]).toBe(1);
    for (const advice of [0, 1, 2, 3]) expect(calls.madvise(m, 4 * page, advice)).toBe(0);
    expect(calls.madvise(m, 4 * page, 8)).toBe(0);
    expect(t.bytes()[m]).toBe(1);
    const regionStart = Math.ceil(t.heapBase / page) * page;
    calls.brk(regionStart + 2 * page);
    t.bytes().fill(2, regionStart, regionStart + 2 * page);
    expect(calls.madvise(regionStart, page, 4)).toBe(0);
    expect(t.bytes()[regionStart]).toBe(0);
    expect(t.bytes()[regionStart + page]).toBe(2);
    expect(calls.madvise(m, 0, 4)).toBe(0);
  });

  it("msync succeeds on anonymous mappings", () => {
    const { t, m } = withMapping(page);
    expect(t.mman.calls.msync(m, 4 * page, 4)).toBe(0);
    expect(t.mman.calls.msync(m, page, 1)).toBe(0);
  });

  it("file mappings: private copies, shared writes back on msync and munmap, EACCES/ENODEV rules", () => {
    const t = testSpace(page);
    const data = new Uint8Array(page + 100).map((_, i) => i & 0xff);
    const file = {
      identity: {},
      readable: true,
      writable: true,
      regular: true,
      size: () => data.length,
      read: (offset: number, target: Uint8Array) => {
        const part = data.subarray(offset, offset + target.length);
        target.set(part);
        return part.length;
      },
      write: (offset: number, bytes: Uint8Array) => data.set(bytes, offset),
    };
    const readOnly = { ...file, identity: {}, writable: false };
    const pipe = { ...file, identity: {}, regular: false };
    t.mman.setFileResolver({ resolve: (fd) => (fd === 3 ? file : fd === 4 ? readOnly : fd === 5 ? pipe : null) });
    const calls = t.mman.calls;
    const p = calls.mmap(0, 2 * page, PROT_RW, MAP_PRIVATE, 3, 0);
    expect(t.bytes()[p + 5]).toBe(5);
    expect(t.bytes()[p + page + 99]).toBe((page + 99) & 0xff);
    expect(t.bytes()[p + page + 100]).toBe(0); // past the end of the file
    t.bytes()[p] = 200;
    expect(calls.munmap(p, 2 * page)).toBe(0);
    expect(data[0]).toBe(0); // private: never written back
    const s = calls.mmap(0, 2 * page, PROT_RW, MAP_SHARED, 3, 0);
    t.bytes()[s + 1] = 77;
    expect(calls.msync(s, page, 4)).toBe(0);
    expect(data[1]).toBe(77);
    t.bytes()[s + page + 2] = 88;
    t.bytes()[s + page + 200] = 99; // past the end of the file: not written
    expect(calls.munmap(s, 2 * page)).toBe(0);
    expect(data[page + 2]).toBe(88);
    expect(data.length).toBe(page + 100);
    expect(calls.mmap(0, page, PROT_RW, MAP_SHARED, 4, 0)).toBe(-13); // EACCES
    expect(calls.mmap(0, page, 1, MAP_SHARED, 4, 0)).toBeGreaterThan(0); // read-only shared is fine
    expect(calls.mmap(0, page, 1, MAP_PRIVATE, 5, 0)).toBe(ENODEV);
    expect(calls.mmap(0, page, 1, MAP_PRIVATE, 6, 0)).toBe(EBADF);
    expect(calls.mmap(0, page, 1, MAP_PRIVATE, 3, 2 ** 52)).toBe(-75); // EOVERFLOW
    t.mman.checkInvariants(true);
  });
});

describe("trace records", () => {
  it("report each call with its arguments, result, errno name, start time and duration in microseconds", () => {
    const records: TraceRecord[] = [];
    const t = testSpace(4096, { trace: (r) => records.push(r) });
    const clock = vi.spyOn(performance, "now");
    clock.mockReturnValueOnce(10).mockReturnValueOnce(10.25); // 0.25 ms
    const m = mapAnon(t, 4096);
    clock.mockReturnValueOnce(20).mockReturnValueOnce(20.001);
    t.mman.calls.munmap(m + 1, 4096);
    clock.mockRestore();
    t.mman.calls.brk(1); // refused: no errno, counted as an error
    expect(records[0]).toEqual({ seq: 1, call: "mmap", args: [0, 4096, PROT_RW, MAP_ANON, -1, 0], result: m, errno: null, time: 10, durationUs: 250 });
    expect(records[1]).toMatchObject({ seq: 2, call: "munmap", result: EINVAL, errno: "EINVAL", time: 20, durationUs: 1 });
    expect(records[2]).toMatchObject({ seq: 3, call: "brk", result: t.heapBase, errno: null });
    expect(t.mman.stats().errors.brk).toBe(1);
  });
});

describe("review findings: files, merging, edge addresses, errno order", () => {
  const P = 4096;
  const fileOf = (data: Uint8Array, writable = true) => memoryFile(data, { writable });

  it("a file mapping of an odd length shows the file to the end of its last page, and writes none of it back as zeros", () => {
    const t = testSpace(P);
    const data = new Uint8Array(2 * P).fill(7);
    t.mman.setFileResolver({ resolve: () => fileOf(data) });
    const a = t.mman.calls.mmap(0, 100, PROT_RW, MAP_SHARED, 3, 0);
    expect(t.bytes()[a + 200]).toBe(7);
    expect(t.mman.calls.munmap(a, 100)).toBe(0);
    expect(data.every((x) => x === 7)).toBe(true);
  });

  it("a file mapping that grows with mremap shows the file's next bytes, in place and moved", () => {
    const t = testSpace(P);
    const data = new Uint8Array(4 * P).map((_, i) => 1 + (i % 200));
    const original = data.slice();
    t.mman.setFileResolver({ resolve: () => fileOf(data) });
    const room = mapAnon(t, 16 * P);
    t.mman.calls.munmap(room, 16 * P);
    const a = t.mman.calls.mmap(0, P, PROT_RW, MAP_SHARED, 3, 0);
    t.mman.calls.munmap(a - P, P);
    const b = t.mman.calls.mremap(a, P, 2 * P, 1, 0);
    expect(t.bytes()[b + P + 5]).toBe(original[P + 5]);
    mapAnon(t, P); // likely right after: force the next growth to move
    const c = t.mman.calls.mremap(b, 2 * P, 4 * P, 1, 0);
    expect(t.bytes()[c + 3 * P + 9]).toBe(original[3 * P + 9]);
    expect(t.mman.calls.msync(c, 4 * P, 4)).toBe(0);
    expect(t.mman.calls.munmap(c, 4 * P)).toBe(0);
    expect(data).toEqual(original);
    t.mman.checkInvariants(true);
  });

  it("mprotect(PROT_WRITE) of a shared mapping of a read-only file is EACCES", () => {
    const t = testSpace(P);
    t.mman.setFileResolver({ resolve: () => fileOf(new Uint8Array(P), false) });
    const a = t.mman.calls.mmap(0, P, 1, MAP_SHARED, 3, 0);
    expect(t.mman.calls.mprotect(a, P, PROT_RW)).toBe(-13);
    expect(t.mman.calls.mprotect(a, P, 1)).toBe(0);
  });

  it("a resolver that throws while mmap reads the file leaves no page taken", () => {
    const t = testSpace(P);
    t.mman.setFileResolver({
      resolve: () => ({ ...fileOf(new Uint8Array(P)), read: () => { throw new Error("I/O error"); } }),
    });
    const before = Array.from(t.mman.space.pageKinds());
    expect(t.mman.imports.mman.mmap(0, P, 1, MAP_PRIVATE, 3, 0n)).toBe(-12);
    expect(Array.from(t.mman.space.pageKinds())).toEqual(before);
    t.mman.checkInvariants(true);
  });

  it("mremap takes a range that Linux holds as one vma: a split undone by mprotect, two adjacent mmaps", () => {
    const t = testSpace(P);
    const calls = t.mman.calls;
    const a = mapAnon(t, 2 * P);
    calls.mprotect(a + P, P, 1);
    calls.mprotect(a + P, P, PROT_RW);
    expect(calls.mremap(a, 2 * P, 4 * P, 1, 0)).toBe(a); // in place: the wilderness follows
    const x = mapAnon(t, P);
    const y = mapAnon(t, P);
    expect([x, y]).toEqual([a + 4 * P, a + 5 * P]); // lowest first: side by side
    expect(calls.mremap(x, 2 * P, 3 * P, 1, 0)).toBe(x);
    // Different protections are not one vma.
    const p = mapAnon(t, P);
    const q = calls.mmap(p - P, P, 1, MAP_ANON | MAP_FIXED, -1, 0);
    expect(calls.mremap(q, 2 * P, 3 * P, 1, 0)).toBe(EFAULT);
    t.mman.checkInvariants(true);
  });

  it("MREMAP_DONTUNMAP on a shared file mapping is EINVAL", () => {
    const t = testSpace(P);
    t.mman.setFileResolver({ resolve: () => fileOf(new Uint8Array(P)) });
    const a = t.mman.calls.mmap(0, P, PROT_RW, MAP_SHARED, 3, 0);
    expect(t.mman.calls.mremap(a, P, P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0)).toBe(EINVAL);
  });

  it("never hands out address 0, even with a heap base of 0; grows past a heap base above memory", () => {
    const zero = testSpace(P, { heapBase: 0, growth: "exact" });
    // Page 0 is NULL: the first mapping is page 1, then upwards.
    for (let i = 0; i < 40; i++) expect(mapAnon(zero, P)).toBe((i + 1) * P);
    expect(zero.mman.calls.mmap(0, P, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0)).toBe(EPERM);
    zero.mman.checkInvariants(true);
    const high = testSpace(P, { initialWasmPages: 1, heapBase: 1 << 20 });
    const a = mapAnon(high, P);
    expect(a).toBe(1 << 20); // memory grew past the heap base; the first page above it
    high.mman.checkInvariants(true);
  });

  it("munmap over pages the guest grew since the last call is EINVAL", () => {
    const t = testSpace(P);
    const old = t.memory.byteLength();
    t.memory.grow(1);
    expect(t.mman.calls.munmap(old, P)).toBe(EINVAL);
  });

  it("checks arguments in Linux's order: madvise advice first; mprotect len 0 before prot", () => {
    const t = testSpace(P);
    expect(t.mman.calls.madvise(0xfffff000, 0x2000, 99)).toBe(EINVAL);
    expect(t.mman.calls.mprotect(0x10000, 0, 16)).toBe(0);
  });
});

describe("the mman import module", () => {
  it("passes mmap's 64-bit offset through as the call sees it (and the trace shows it)", () => {
    const records: TraceRecord[] = [];
    const t = testSpace(4096, { trace: (r) => records.push(r) });
    const mmap = t.mman.imports.mman.mmap;
    expect(mmap(0, 4096, 3, 0x22, -1, 100n)).toBe(EINVAL);
    expect(mmap(0, 4096, 3, 0x22, -1, -4096n)).toBe(EINVAL);
    expect(mmap(0, 4096, 3, 0x22, -1, 2n ** 63n - 1n)).toBe(EINVAL);
    expect(records.map((r) => r.args[5])).toEqual([100, -4096, -1]);
    expect(mmap(0, 4096, 3, 0x22, -1, 8192n)).toBeGreaterThan(0); // anonymous: offset ignored once aligned
  });
});

describe("file mappings and failing or private files", () => {
  const P = 4096;
  const fileOf = (data: Uint8Array, write: (o: number, b: Uint8Array) => void) => memoryFile(data, { write });

  it("a file whose write-back throws does not stop munmap halfway; the failure is counted", () => {
    const t = testSpace(P);
    const data = new Uint8Array(2 * P);
    t.mman.setFileResolver({ resolve: () => fileOf(data, () => { throw new Error("disk full"); }) });
    const a = t.mman.calls.mmap(0, 2 * P, PROT_RW, MAP_SHARED, 3, 0);
    t.bytes()[a] = 1;
    expect(t.mman.imports.mman.munmap(a, 2 * P)).toBe(0);
    expect(t.mman.stats().liveMappings).toBe(0);
    expect(t.mman.stats().writeBackFailures).toBe(1);
    t.mman.checkInvariants(true);
  });

  it("MADV_DONTNEED on a private file mapping reads the file again", () => {
    const t = testSpace(P);
    const data = new Uint8Array(P).fill(9);
    t.mman.setFileResolver({ resolve: () => fileOf(data, () => {}) });
    const a = t.mman.calls.mmap(0, P, PROT_RW, MAP_PRIVATE, 3, 0);
    t.bytes().fill(1, a, a + P);
    expect(t.mman.calls.madvise(a, P, 4)).toBe(0);
    expect(t.bytes()[a + 10]).toBe(9);
  });
});
