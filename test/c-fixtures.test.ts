/**
 * musl's own allocators (mallocng, oldmalloc), unmodified, and wasi-libc's dlmalloc, running C
 * fixtures (fixtures/c/) on the host's memory calls, for 4, 16, 32 and 64 KiB pages, under
 * both WASI hosts. Each test checks the program's own verdict and the host's trace.
 *
 * Thresholds (musl 1.2.3, 32-bit): oldmalloc maps a chunk of its own once the request,
 * padded to its 16-byte chunk size, exceeds MMAP_THRESHOLD = 114688, i.e. from 114681
 * bytes; mallocng maps requests of MMAP_THRESHOLD = 131052 bytes and more.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { buildFixtures, cToolchainStatus } from "../scripts/build-c.js";
import type { MallocChoice } from "../cli/cc.js";
import { PAGE_SIZES, runC, WASI_HOSTS, type CRun, type WasiHost } from "./c-helpers.js";
import { calls, contains, liveMappings, printed, roundUp } from "./c-trace.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** C FIXTURE TESTS SKIPPED: ${toolchain.reason} ***\n`);

const MADV_DONTNEED = 4;
const MADV_FREE = 8;
const MREMAP_MAYMOVE = 1;

// wasi-libc's errno numbers (wasi/api.h), which the glue must produce from Linux's.
const WASI_ERRNO = { EBADF: 8, EEXIST: 20, EFAULT: 21, EINVAL: 28, ENOMEM: 48, EPERM: 63 } as const;
const DIRECT_ERRORS: Record<string, keyof typeof WASI_ERRNO> = {
  "mmap-zero-length": "EINVAL",
  "mmap-no-type": "EINVAL",
  "mmap-fixed-unaligned": "EINVAL",
  "mmap-offset-unaligned": "EINVAL",
  "mmap-too-long": "ENOMEM",
  "mmap-bad-fd": "EBADF",
  "mmap-fixed-below-heap": "EPERM",
  "mmap-fixed-noreplace": "EEXIST",
  "munmap-unaligned": "EINVAL",
  "munmap-zero-length": "EINVAL",
  "mremap-unaligned": "EINVAL",
  "mremap-zero-length": "EINVAL",
  "mremap-bad-flags": "EINVAL",
  "mremap-fixed-without-maymove": "EINVAL",
  "mremap-unmapped": "EFAULT",
  "mremap-no-room": "ENOMEM",
  "madvise-unaligned": "EINVAL",
  "madvise-bad-advice": "EINVAL",
  "madvise-unmapped": "ENOMEM",
  "mprotect-unaligned": "EINVAL",
  "mprotect-bad-prot": "EINVAL",
  "mprotect-unmapped": "ENOMEM",
  "msync-unaligned": "EINVAL",
  "msync-bad-flags": "EINVAL",
  "msync-unmapped": "ENOMEM",
};

describe.skipIf(!toolchain.ok)("C fixtures on the mman host", () => {
  let fixtures: Map<string, string>;
  beforeAll(async () => {
    fixtures = await buildFixtures();
  });

  async function runFixture(name: string, malloc: MallocChoice, host: WasiHost, pageSize: number, args: string[] = []): Promise<CRun> {
    const path = fixtures.get(`${name}.${malloc}`);
    if (!path) throw new Error(`fixture ${name}.${malloc} was not built`);
    // A file resolver that knows no descriptor: file mappings fail with EBADF, as on Linux.
    const result = await runC(path, { host, pageSize, args, mman: { files: { resolve: () => null } } });
    result.mman.checkInvariants();
    expect(result.stdout, result.stderr).toContain(`${name}: ok`);
    expect(result.exitCode).toBe(0);
    return result;
  }

  /** The one mapping that holds the block the program printed, checked against the trace. */
  function expectOwnMapping(run: CRun, size: number, pageSize: number) {
    const block = printed(run.stdout, "block");
    const mmaps = calls(run.trace, "mmap").filter((record) => record.errno === null && record.args[1] >= size);
    expect(mmaps).toHaveLength(1);
    const [mapping] = mmaps;
    const start = mapping.result >>> 0;
    const length = roundUp(mapping.args[1], pageSize);
    // The request plus the allocator's small header, rounded to the libc page size.
    expect(length).toBeGreaterThanOrEqual(size);
    expect(length - size).toBeLessThan(pageSize + 64);
    expect(block).toBeGreaterThanOrEqual(start);
    expect(block + size).toBeLessThanOrEqual(start + length);
    // free gives back exactly that mapping.
    const unmaps = calls(run.trace, "munmap").filter((record) => record.args[0] === start);
    expect(unmaps).toHaveLength(1);
    expect(roundUp(unmaps[0].args[1], pageSize)).toBe(length);
    expect(unmaps[0].result).toBe(0);
  }

  for (const host of WASI_HOSTS) {
    for (const pageSize of PAGE_SIZES) {
      describe(`${host}, ${pageSize / 1024} KiB pages`, () => {
        test("oldmalloc: just below its threshold the block comes from brk; just above, from one mmap that free unmaps", async () => {
          const below = await runFixture("tiers", "oldmalloc", host, pageSize, ["114680"]);
          expect(calls(below.trace, "mmap")).toHaveLength(0);
          expect(calls(below.trace, "munmap")).toHaveLength(0);
          const stats = below.mman.stats();
          const block = printed(below.stdout, "block");
          expect(block).toBeGreaterThanOrEqual(stats.heapBase);
          expect(block + 114680).toBeLessThanOrEqual(stats.brk);

          const above = await runFixture("tiers", "oldmalloc", host, pageSize, ["114681"]);
          expectOwnMapping(above, 114681, pageSize);
        });

        test("mallocng: from its threshold up the block gets its own mmap, freed by munmap; just below it lives in a size-class group", async () => {
          const above = await runFixture("tiers", "mallocng", host, pageSize, ["131052"]);
          expectOwnMapping(above, 131052, pageSize);
          const mmapAbove = calls(above.trace, "mmap").find((record) => record.args[1] >= 131052);
          // mallocng asks for exactly the request plus its 4-byte in-band header and one 16-byte unit.
          expect(mmapAbove?.args[1]).toBe(131052 + 4 + 16);

          // Below the threshold mallocng never puts data in brk (brk holds only its metadata
          // areas); the block sits in a group mapping of its size class, which has room for
          // the block and is unmapped when its last slot is freed.
          const below = await runFixture("tiers", "mallocng", host, pageSize, ["131051"]);
          const block = printed(below.stdout, "block");
          const beforeFree = calls(below.trace, "munmap").length ? below.trace.indexOf(calls(below.trace, "munmap")[0]) : below.trace.length;
          expect(contains(liveMappings(below.trace, pageSize, beforeFree), block, block + 131051)).toBe(true);
          expect(block).toBeGreaterThan(below.mman.stats().brk);
        });

        test("dlmalloc: wasi-libc's allocator grows memory itself and makes no memory calls", async () => {
          const run = await runFixture("tiers", "dlmalloc", host, pageSize, ["300000"]);
          expect(run.trace.filter((record) => record.call !== "pagesize")).toHaveLength(0);
          expect(run.mman.stats().foreignBytes).toBeGreaterThan(0);
        });

        for (const malloc of ["mallocng", "oldmalloc"] as const) {
          test(`${malloc}: realloc of a large block uses mremap, in place and then moving, contents kept`, async () => {
            const run = await runFixture("realloc", malloc, host, pageSize);
            const remaps = calls(run.trace, "mremap").filter((record) => record.errno === null);
            const inPlace = printed(run.stdout, "in-place");
            const moved = printed(run.stdout, "moved");
            const grewInPlace = remaps.find((record) => record.result >>> 0 === record.args[0] && record.args[2] > record.args[1]);
            const grewMoving = remaps.find((record) => record.result >>> 0 !== record.args[0]);
            expect(grewInPlace).toBeDefined();
            expect(grewMoving).toBeDefined();
            expect(grewMoving!.args[3] & MREMAP_MAYMOVE).toBe(MREMAP_MAYMOVE);
            // The addresses the program saw are inside the mappings mremap returned.
            expect(inPlace - grewInPlace!.args[0]).toBeLessThan(64);
            expect(moved - (grewMoving!.result >>> 0)).toBeLessThan(64);
            expect(moved).not.toBe(inPlace);
          });

          test(`${malloc}: with brk blocked by a MAP_FIXED mapping the heap goes on in mmapped memory`, async () => {
            const run = await runFixture("brk-blocked", malloc, host, pageSize);
            const wall = printed(run.stdout, "wall");
            const wallIndex = run.trace.findIndex((record) => record.call === "mmap" && record.args[0] === wall && record.errno === null);
            expect(wallIndex).toBeGreaterThanOrEqual(0);
            const after = run.trace.slice(wallIndex + 1);
            // brk was asked to move past the wall and refused (it returns the old break).
            const refused = after.filter((record) => record.call === "brk" && record.args[0] !== 0 && record.result >>> 0 !== record.args[0]);
            expect(refused.length).toBeGreaterThan(0);
            // ... so the allocator took anonymous mappings instead (oldmalloc: heap expansion,
            // mallocng: its metadata area).
            expect(after.some((record) => record.call === "mmap" && record.args[0] === 0 && record.errno === null)).toBe(true);
            expect(run.mman.stats().brk).toBeLessThanOrEqual(wall);
            if (malloc === "mallocng") {
              // mallocng reserves metadata areas PROT_NONE and opens them page by page with
              // mprotect(PROT_READ|PROT_WRITE), always inside such a reservation.
              const reservations = after.filter((record) => record.call === "mmap" && record.args[2] === 0 && record.errno === null);
              const opened = after.filter((record) => record.call === "mprotect" && record.args[2] === 3);
              expect(reservations.length).toBeGreaterThan(0);
              expect(opened.length).toBeGreaterThan(0);
              for (const record of opened) {
                expect(record.result).toBe(0);
                const inside = reservations.some((mapping) => {
                  const start = mapping.result >>> 0;
                  return start <= record.args[0] && record.args[0] + record.args[1] <= start + roundUp(mapping.args[1], pageSize);
                });
                expect(inside).toBe(true);
              }
            }
          });
        }

        for (const malloc of ["mallocng", "oldmalloc", "dlmalloc"] as const) {
          test(`${malloc}: calloc after free reads zeros, also in mappings reused by the host`, async () => {
            const run = await runFixture("calloc-zero", malloc, host, pageSize);
            if (malloc === "dlmalloc") return;
            // Some mapping was handed out again over pages an earlier one used: the zeros the
            // program saw there came from the host clearing them, not from the allocator.
            const unmapped: { start: number; end: number }[] = [];
            let reused = false;
            for (const record of run.trace) {
              if (record.errno !== null) continue;
              if (record.call === "munmap") unmapped.push({ start: record.args[0], end: record.args[0] + roundUp(record.args[1], pageSize) });
              if (record.call === "mmap") {
                const start = record.result >>> 0;
                const end = start + roundUp(record.args[1], pageSize);
                if (unmapped.some((range) => range.start < end && start < range.end)) reused = true;
              }
            }
            expect(reused).toBe(true);
          });

          test(`${malloc}: many small blocks alive at once`, async () => {
            const run = await runFixture("many-small", malloc, host, pageSize);
            expect(run.stdout).toContain("blocks=20000 bytes=6020587");
          });

          test(`${malloc}: direct mmap/munmap/mremap/madvise/mprotect/msync, every error path with wasi-libc errno`, async () => {
            const run = await runFixture("direct-mman", malloc, host, pageSize);
            expect(printed(run.stdout, "page")).toBe(pageSize);
            for (const [name, errno] of Object.entries(DIRECT_ERRORS)) {
              expect(run.stdout, name).toContain(`${name} errno=${WASI_ERRNO[errno]}\n`);
            }
            // The host answered with Linux's errno; the glue translated each one.
            const hostErrors = new Set(run.trace.filter((record) => record.errno !== null).map((record) => record.errno));
            for (const errno of Object.keys(WASI_ERRNO)) expect(hostErrors).toContain(errno);
            expect(run.mman.stats().liveMappings).toBe(0);
          });
        }

        test("oldmalloc: freeing large heap blocks gives their pages back with MADV_DONTNEED", async () => {
          const run = await runFixture("madvise-freed", "oldmalloc", host, pageSize, ["100000", "4"]);
          const advice = calls(run.trace, "madvise");
          expect(advice.length).toBeGreaterThan(0);
          const { heapBase } = run.mman.stats();
          for (const record of advice) {
            expect(record.args[2]).toBe(MADV_DONTNEED);
            expect(record.result).toBe(0);
            expect(record.args[0] % pageSize).toBe(0);
            expect(record.args[0]).toBeGreaterThanOrEqual(heapBase);
          }
        });

        test("mallocng: freeing slots that span whole pages gives them back with MADV_FREE", async () => {
          const run = await runFixture("madvise-freed", "mallocng", host, pageSize, ["100000", "20"]);
          const advice = calls(run.trace, "madvise");
          if (pageSize === 4096) {
            // With 4 KiB pages mallocng gives each such block a one-slot group mapped for it
            // alone and unmaps it on free: there is nothing left to madvise.
            expect(advice).toHaveLength(0);
            expect(calls(run.trace, "munmap").length).toBeGreaterThanOrEqual(20);
            return;
          }
          expect(advice.length).toBeGreaterThan(0);
          for (const record of advice) {
            expect(record.args[2]).toBe(MADV_FREE);
            expect(record.result).toBe(0);
            // Always whole pages of a group mapping that is live at that moment.
            const index = run.trace.indexOf(record);
            expect(contains(liveMappings(run.trace, pageSize, index), record.args[0], record.args[0] + record.args[1])).toBe(true);
          }
        });
      });
    }
  }
});
