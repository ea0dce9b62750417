/**
 * Engine behaviour the page model disagreed with, each reduced from a counterexample of the
 * property tests (test/property.test.ts) to the fewest calls. A test here fails while the
 * engine still behaves so; once fixed, it stays as a regression test.
 */
import { describe, expect, it } from "vitest";
import { mapAnon, memoryFile, testSpace } from "../helpers/space.js";

const P = 4096;
const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;
const MAP_SHARED = 1, MAP_SHARED_VALIDATE = 3;
const MADV_DONTNEED = 4;
const ENOMEM = -12;

/** stats() without the counters a failing call bumps (calls, errors, grow attempts). */
function unchangedPart(stats: object): object {
  const { calls, errors, growCalls, growFailures, brkRefusals, bookkeepingBytes, ...rest } = stats as Record<string, unknown>;
  return rest;
}

describe("engine findings of the page model", () => {
  it("munmap that splits a mapping in two notes the new peak of live mappings (stats() must not change on a later failing call)", () => {
    const t = testSpace(P, { growth: "exact", maxWasmPages: 4 });
    const calls = t.mman.calls;
    const a = mapAnon(t, 3 * P);
    expect(calls.munmap(a + P, P)).toBe(0); // [a] [hole] [a + 2P]: two records now
    expect(t.mman.stats().liveMappings).toBe(2);
    const before = t.mman.stats();
    expect(before.peak.liveMappings).toBe(2); // the engine still says 1
    // A failing call must leave stats() as it was; this one (a growth that the maximum refuses)
    // notes the peaks, and peak.liveMappings jumps from 1 to 2.
    expect(mapAnon(t, 200 * P)).toBe(ENOMEM);
    expect(unchangedPart(t.mman.stats())).toEqual(unchangedPart(before));
  });

  it("a failing mremap (no room even with growth) leaves the mapping records as they were", () => {
    const t = testSpace(P, { growth: "exact", maxWasmPages: 4 }); // 64 pages at most
    const calls = t.mman.calls;
    const a = mapAnon(t, 2 * P);
    const b = mapAnon(t, 2 * P);
    const c = mapAnon(t, P); // after b: growing in place is impossible
    expect([b, c]).toEqual([a + 2 * P, a + 4 * P]);
    const before = t.mman.mappings();
    expect(before).toHaveLength(3);
    // a and b count as one vma (same prot and flags); 60 pages fit nowhere, even with growth.
    expect(calls.mremap(a, 4 * P, 60 * P, MREMAP_MAYMOVE, 0)).toBe(ENOMEM);
    expect(t.mman.mappings()).toEqual(before); // the engine has merged a and b into one record
  });

  it("MADV_DONTNEED on a MAP_SHARED_VALIDATE file mapping keeps its bytes, as on a MAP_SHARED one", () => {
    const t = testSpace(P, { growth: "exact" });
    // A file of its own for each map type (fd 3 and 4), each holding 1s.
    const files = [memoryFile(new Uint8Array(P).fill(1)), memoryFile(new Uint8Array(P).fill(1))];
    t.mman.setFileResolver({ resolve: (fd) => files[fd - 3] ?? null });
    const calls = t.mman.calls;
    for (const [fd, type] of [[3, MAP_SHARED], [4, MAP_SHARED_VALIDATE]]) {
      const shared = calls.mmap(0, P, 3, type, fd, 0);
      t.bytes().fill(9, shared, shared + P);
      expect(calls.madvise(shared, P, MADV_DONTNEED)).toBe(0);
      // A shared mapping is the page cache's: DONTNEED drops nothing the guest stored there.
      // The engine treats MAP_SHARED_VALIDATE as private (syscalls/madvise.ts compares the
      // map type with MAP_SHARED only) and reads the file again: 1 instead of 9.
      expect([type, t.bytes()[shared]]).toEqual([type, 9]);
      expect(calls.munmap(shared, P)).toBe(0);
    }
  });

  it("mremap that moves a MAP_SHARED file mapping and shrinks it writes back the pages it drops", () => {
    const t = testSpace(P, { growth: "exact" });
    const data = new Uint8Array(4 * P).fill(1);
    const file = memoryFile(data);
    t.mman.setFileResolver({ resolve: () => file });
    const calls = t.mman.calls;
    const shared = calls.mmap(0, 4 * P, 3, MAP_SHARED, 3, 0);
    t.bytes().fill(9, shared, shared + 4 * P);
    const target = mapAnon(t, 8 * P);
    expect(calls.mremap(shared, 4 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, target)).toBe(target);
    // Pages 2 and 3 left the mapping: as with munmap, or mremap shrinking in place, their
    // bytes reach the file.
    expect(data[2 * P]).toBe(9);
    expect(data[4 * P - 1]).toBe(9);
    // In place, the same shrink writes back (for comparison).
    const again = calls.mmap(0, 4 * P, 3, MAP_SHARED, 3, 0);
    t.bytes().fill(7, again, again + 4 * P);
    expect(calls.mremap(again, 4 * P, 2 * P, 0, 0)).toBe(again);
    expect(data[2 * P]).toBe(7);
  });
});
