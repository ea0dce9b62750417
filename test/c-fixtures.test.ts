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
import type { Oracle } from "./oracle/check.js";
import { calls, mappedIn, printed, roundUp, watchedC, type Probe } from "./c-trace.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** C FIXTURE TESTS SKIPPED: ${toolchain.reason} ***\n`);

const MADV_DONTNEED = 4;
const MADV_FREE = 8;
const MREMAP_MAYMOVE = 1;

// The allocators' own arithmetic (musl 1.2.3, 32-bit), for exact expectations. oldmalloc pads
// a request to its 16-byte chunk size plus 8 bytes of overhead (adjust_size), maps that plus 8
// more rounded to the page (malloc.c: n + OVERHEAD + PAGE_SIZE - 1 & -PAGE_SIZE), and hands
// out the block 16 bytes in; mallocng maps the request plus its 4-byte in-band header and one
// 16-byte unit, counting its own 4096-byte units (PGSZ), whatever the libc page size.
const oldmallocMapped = (request: number, pageSize: number): number => roundUp(roundUp(request + 8, 16) + 8, pageSize);
const mallocngMapped = (request: number): number => request + 4 + 16;
const MAPPED_BLOCK_OFFSET = 16;

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

  /** Runs a fixture with every memory call checked by the page model (c-trace.ts). */
  async function runFixture(name: string, malloc: MallocChoice, host: WasiHost, pageSize: number, args: string[] = [], probe?: Probe): Promise<CRun & { oracle: Oracle }> {
    const path = fixtures.get(`${name}.${malloc}`);
    if (!path) throw new Error(`fixture ${name}.${malloc} was not built`);
    const watched = watchedC(probe);
    // A file resolver that knows no descriptor: file mappings fail with EBADF, as on Linux.
    const result = await runC(path, { host, pageSize, args, mman: { files: { resolve: () => null } }, createMman: watched.createMman });
    watched.oracle().assertAgrees();
    result.mman.checkInvariants();
    expect(result.stdout, result.stderr).toContain(`${name}: ok`);
    expect(result.exitCode).toBe(0);
    return { ...result, oracle: watched.oracle() };
  }

  /** The one mapping of `mapped` bytes that holds the block the program printed, as the trace shows it. */
  function expectOwnMapping(run: CRun, size: number, mapped: number, pageSize: number) {
    const block = printed(run.stdout, "block");
    const mmaps = calls(run.trace, "mmap").filter((record) => record.errno === null && record.args[1] >= size);
    expect(mmaps.map((record) => record.args[1])).toEqual([mapped]);
    const [mapping] = mmaps;
    const start = mapping.result;
    const length = roundUp(mapped, pageSize);
    // The block starts past the allocator's header (the 16 bytes above).
    expect(block).toBe(start + MAPPED_BLOCK_OFFSET);
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
          expectOwnMapping(above, 114681, oldmallocMapped(114681, pageSize), pageSize);
        });

        test("mallocng: from its threshold up the block gets its own mmap, freed by munmap; just below it lives in a size-class group", async () => {
          const above = await runFixture("tiers", "mallocng", host, pageSize, ["131052"]);
          expectOwnMapping(above, 131052, mallocngMapped(131052), pageSize);

          // Below the threshold mallocng never puts data in brk (brk holds only its metadata
          // areas); the block sits in a group mapping of its size class, which has room for
          // the block and is unmapped when its last slot is freed.
          let mappedBeforeFree: [number, number][] | null = null;
          const below = await runFixture("tiers", "mallocng", host, pageSize, ["131051"], (call, _args, _result, model) => {
            if (call === "munmap" && mappedBeforeFree === null) mappedBeforeFree = model.mappedRuns();
          });
          const block = printed(below.stdout, "block");
          const runs = mappedBeforeFree ?? below.oracle.model.mappedRuns();
          expect(runs.some(([from, to]) => from * pageSize <= block && block + 131051 <= to * pageSize)).toBe(true);
          expect(block).toBeGreaterThan(below.mman.stats().brk);
        });

        test("dlmalloc: wasi-libc's allocator grows memory itself and makes no memory calls", async () => {
          const run = await runFixture("tiers", "dlmalloc", host, pageSize, ["300000"]);
          expect(run.trace.filter((record) => record.call !== "pagesize")).toHaveLength(0);
          // Every byte memory grew by is the guest's own; the host never grew it.
          const stats = run.mman.stats();
          expect(stats.growCalls).toBe(0);
          // (By how much is dlmalloc's choice: memory did grow past what it had at the start.)
          expect(stats.foreignBytes).toBe(stats.linearMemoryBytes - run.oracle.attachedBytes);
          expect(stats.linearMemoryBytes).toBeGreaterThan(run.oracle.attachedBytes);
        });

        for (const malloc of ["mallocng", "oldmalloc"] as const) {
          test(`${malloc}: realloc of a large block uses mremap, in place and then moving, contents kept`, async () => {
            const run = await runFixture("realloc", malloc, host, pageSize);
            // realloc to 600000 bytes grows in place, to 1200000 (a wall after the block) moves,
            // to 301000 shrinks in place: three mremap(MREMAP_MAYMOVE) calls, each of the
            // allocator's mapped length (oldmalloc: its own; mallocng: 4096-byte units).
            const mapped = (request: number): number => (malloc === "oldmalloc" ? oldmallocMapped(request, pageSize) : roundUp(mallocngMapped(request), 4096));
            const [base] = calls(run.trace, "mmap").filter((record) => record.args[1] >= 300000).map((record) => record.result);
            const moved = printed(run.stdout, "moved");
            // The block's offset in its mapping: oldmalloc's 16-byte header; mallocng's header
            // and the 32 bytes its enframe() adds here (it cycles a block's offset inside its
            // slot with an allocation counter, to catch double frees).
            const offset = malloc === "oldmalloc" ? MAPPED_BLOCK_OFFSET : MAPPED_BLOCK_OFFSET + 32;
            const to = moved - offset;
            expect(calls(run.trace, "mremap").map((record) => [...record.args, record.result])).toEqual([
              [base, mapped(300000), mapped(600000), MREMAP_MAYMOVE, 0, base],
              [base, mapped(600000), mapped(1200000), MREMAP_MAYMOVE, 0, to],
              [to, mapped(1200000), mapped(301000), MREMAP_MAYMOVE, 0, to],
            ]);
            expect(printed(run.stdout, "in-place")).toBe(base + offset);
            expect(to).not.toBe(base);
          });

          test(`${malloc}: with brk blocked by a MAP_FIXED mapping the heap goes on in mmapped memory`, async () => {
            const run = await runFixture("brk-blocked", malloc, host, pageSize);
            const wall = printed(run.stdout, "wall");
            const wallIndex = run.trace.findIndex((record) => record.call === "mmap" && record.args[0] === wall);
            expect(run.trace[wallIndex]?.result).toBe(wall);
            const after = run.trace.slice(wallIndex + 1);
            // Every brk past the wall was refused (the oracle checked that each returned the
            // break as it was); none moved the break. How often the allocator asks depends on
            // how it expands its heap, not on the host: at least once.
            const brks = after.filter((record) => record.call === "brk" && record.args[0] !== 0);
            expect(brks.filter((record) => record.args[0] > wall).length).toBeGreaterThan(0);
            expect(brks.filter((record) => record.result === record.args[0])).toEqual([]);
            // ... so the allocator took anonymous mappings instead (oldmalloc: heap expansion,
            // mallocng: its metadata area).
            expect(after.some((record) => record.call === "mmap" && record.args[0] === 0 && record.errno === null)).toBe(true);
            const breakAtWall = run.trace.slice(0, wallIndex).filter((record) => record.call === "brk").pop()?.result;
            expect(run.mman.stats().brk).toBe(breakAtWall ?? run.mman.stats().heapBase);
            if (malloc === "mallocng") {
              // mallocng reserves metadata areas PROT_NONE and opens them page by page with
              // mprotect(PROT_READ|PROT_WRITE), always inside such a reservation.
              // (How many depends on how much metadata the program needs.)
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
            expect([...hostErrors].sort()).toEqual(Object.keys(WASI_ERRNO).sort());
            expect(run.mman.stats().liveMappings).toBe(0);
          });
        }

        test("oldmalloc: freeing large heap blocks gives their pages back with MADV_DONTNEED", async () => {
          // Whether each advised range was brk pages when it was advised, as the model saw it.
          const inBrk: boolean[] = [];
          const run = await runFixture("madvise-freed", "oldmalloc", host, pageSize, ["100000", "4"], (call, args, _result, model) => {
            if (call !== "madvise") return;
            const from = args[0] / pageSize;
            let brk = true;
            for (let p = from; p < from + Math.ceil(args[1] / pageSize); p++) brk &&= model.kind(p) === "brk";
            inBrk.push(brk);
          });
          const advice = calls(run.trace, "madvise");
          // How many times depends on how oldmalloc merges the freed chunks (__bin_chunk
          // advises when a merged chunk passes RECLAIM), not on the host: at least once.
          expect(advice.length).toBeGreaterThan(0);
          expect(advice.map((record) => [record.args[0] % pageSize, record.args[2], record.result])).toEqual(advice.map(() => [0, MADV_DONTNEED, 0]));
          expect(inBrk).toEqual(advice.map(() => true));
        });

        test("mallocng: freeing slots that span whole pages gives them back with MADV_FREE", async () => {
          // Whether each advised range was mapped when it was advised, as the model saw it.
          const inMapping: boolean[] = [];
          const run = await runFixture("madvise-freed", "mallocng", host, pageSize, ["100000", "20"], (call, args, _result, model) => {
            if (call === "madvise") inMapping.push(mappedIn(model, args[0], args[0] + args[1]));
          });
          const advice = calls(run.trace, "madvise");
          if (pageSize === 4096) {
            // With 4 KiB pages mallocng gives each such block a one-slot group mapped for it
            // alone and unmaps it on free: nothing is left to madvise, and each of the 20
            // blocks, allocated twice (malloc, then calloc), is unmapped twice.
            expect(advice).toHaveLength(0);
            expect(calls(run.trace, "munmap").filter((record) => record.args[1] === roundUp(mallocngMapped(100000), 4096))).toHaveLength(40);
            return;
          }
          // How many depends on how mallocng groups the slots at this page size: at least once.
          expect(advice.length).toBeGreaterThan(0);
          expect(advice.map((record) => [record.args[0] % pageSize, record.args[1] % pageSize, record.args[2], record.result])).toEqual(advice.map(() => [0, 0, MADV_FREE, 0]));
          // Always whole pages of a group mapping that is live at that moment.
          expect(inMapping).toEqual(advice.map(() => true));
        });
      });
    }
  }
});
