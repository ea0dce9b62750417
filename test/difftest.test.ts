/**
 * The differential tester (test/difftest/): the library against the running Linux kernel, on
 * fixed seeds and the directed cases. The engine still diverges in known ways; each known class
 * is listed in test/difftest/known-divergences.json with its reason and a smallest script.
 *
 * - Any divergence of a class not in that list fails (a regression, or a new finding to
 *   classify and list).
 * - Every listed script must still diverge with its class: a class that no longer does was
 *   fixed, and its entry goes.
 * - A deliberately broken engine (the real one with one call sabotaged through its imports)
 *   must be caught, so a tester that compares nothing cannot pass.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { createMman } from "../index.js";
import {
  buildDifftest,
  difftestToolchainStatus,
  featureOf,
  formatDivergence,
  kernelAtLeast,
  loadKnownDivergences,
  runDirected,
  runNative,
  runScript,
  runSeeds,
  splitUnits,
  type CreateMman,
  type DifftestBuild,
  type Divergence,
  type UnitResult,
} from "./difftest/runner.js";

const status = difftestToolchainStatus();
if (!status.ok) console.warn(`\n*** DIFFTEST SKIPPED: ${status.reason} ***\n`);

const SEEDS = 50;
const known = loadKnownDivergences();
const engine: CreateMman = (options) => createMman({ ...options, onWarning: () => {} });

/** The divergences whose class is not listed, as text for the failure message. */
function unknownDivergences(results: UnitResult[]): string[] {
  return results
    .map((r) => r.divergence)
    .filter((d): d is Divergence => d !== null && !known[d.className])
    .map((d) => formatDivergence(d, known));
}

/** Every feature behind a listed class, switched off: the runs then look past them. */
function knownFeaturesOff(): string[] {
  return [...new Set(Object.keys(known).map(featureOf).filter((f): f is string => f !== null))].sort();
}

describe.skipIf(!status.ok)("difftest: the library against the running Linux kernel", () => {
  let build: DifftestBuild;
  beforeAll(async () => {
    build = await buildDifftest();
  });

  test("directed cases at 4 KiB: every divergence is a listed class", async () => {
    const results = await runDirected({ build, createMman: engine, pageSize: 4096 });
    expect(results.length).toBeGreaterThan(100);
    expect(unknownDivergences(results)).toEqual([]);
  });

  test(`${SEEDS} seeds at 4 KiB: every first divergence is a listed class`, async () => {
    const results = await runSeeds({ build, createMman: engine, pageSize: 4096, start: 0, count: SEEDS });
    expect(results).toHaveLength(SEEDS);
    expect(unknownDivergences(results)).toEqual([]);
  });

  test(`${SEEDS} seeds with the listed classes' features off: still only listed classes`, async () => {
    const results = await runSeeds({ build, createMman: engine, pageSize: 4096, start: 1000, count: SEEDS, off: knownFeaturesOff() });
    expect(unknownDivergences(results)).toEqual([]);
    // With what is known to differ left out, most sequences must agree to the end: a tester
    // whose sequences all stop early would test little.
    expect(results.filter((r) => !r.divergence).length).toBeGreaterThan(SEEDS * 0.8);
  });

  test.each([16384, 65536])("page size %i: directed cases and 20 seeds, listed classes only", async (pageSize) => {
    const directed = await runDirected({ build, createMman: engine, pageSize });
    const seeds = await runSeeds({ build, createMman: engine, pageSize, start: 0, count: 20 });
    const deeper = await runSeeds({ build, createMman: engine, pageSize, start: 500, count: 20, off: knownFeaturesOff() });
    expect(unknownDivergences([...directed, ...seeds, ...deeper])).toEqual([]);
  });

  test("every listed class still diverges as its script shows (remove the entries of fixed classes)", async () => {
    const stale: string[] = [];
    for (const [className, entry] of Object.entries(known)) {
      expect(entry.script, `${className} has no script`).toBeDefined();
      if (entry.kernel && !kernelAtLeast(entry.kernel)) continue; // Linux did otherwise before
      const divergence = await runScript({ build, createMman: engine, pageSize: 4096 }, entry.script ?? []);
      if (divergence?.className !== className) {
        stale.push(`${className}: the script now gives ${divergence ? divergence.className : "no divergence"}`);
      }
    }
    expect(stale).toEqual([]);
  });

  describe("a deliberately broken engine is caught", () => {
    /** The real engine with one import replaced; `memory` is the guest's, once attached. */
    function sabotaged(wrap: (imports: Record<string, Function>, memory: () => WebAssembly.Memory) => void): CreateMman {
      return (options) => {
        const mman = createMman({ ...options, onWarning: () => {} });
        let memory: WebAssembly.Memory | null = null;
        const imports = { ...(mman.imports.mman as Record<string, Function>) };
        wrap(imports, () => memory as WebAssembly.Memory);
        return {
          imports: { mman: imports as WebAssembly.ModuleImports },
          attach(instance: WebAssembly.Instance) {
            memory = instance.exports.memory as WebAssembly.Memory;
            return mman.attach(instance);
          },
        };
      };
    }
    const MADV_DONTNEED = 4;

    test.each([
      {
        what: "MADV_DONTNEED that keeps the bytes",
        engine: sabotaged((imports) => {
          const madvise = imports.madvise;
          imports.madvise = (a: number, l: number, advice: number) => (advice === MADV_DONTNEED ? 0 : madvise(a, l, advice));
        }),
        script: ["mmap A+0 2p prot=rw flags=PRIVATE|FIXED|ANON +w", "madvise A+0 2p DONTNEED"],
        className: "madvise-state:DONTNEED:z/tag",
      },
      {
        what: "mmap that hands out a dirty page",
        engine: sabotaged((imports, memory) => {
          const mmap = imports.mmap;
          imports.mmap = (...args: unknown[]) => {
            const result = mmap(...args) as number;
            if (result >>> 0 < 0xfffff000) new Uint8Array(memory().buffer)[result >>> 0] = 0xff;
            return result;
          };
        }),
        script: ["mmap A+0 1p prot=rw flags=PRIVATE|FIXED|ANON"],
        className: "mmap-state:z/?",
      },
      {
        what: "munmap that unmaps nothing (past the program's set-up)",
        engine: sabotaged((imports) => {
          const munmap = imports.munmap;
          imports.munmap = (a: number, l: number) => (l <= 16 * 4096 ? 0 : munmap(a, l));
        }),
        script: ["mmap A+0 2p prot=rw flags=PRIVATE|FIXED|ANON +w", "munmap A+1 1p"],
        className: "munmap-state:./u", // mapped where the call said it unmapped
      },
      {
        what: "mremap that refuses to shrink",
        engine: sabotaged((imports) => {
          const mremap = imports.mremap;
          imports.mremap = (a: number, ol: number, nl: number, flags: number, na: number) => (nl < ol ? -12 : mremap(a, ol, nl, flags, na));
        }),
        script: ["mmap A+0 2p prot=rw flags=PRIVATE|FIXED|ANON +w", "mremap A+0 2p 1p flags=0"],
        className: "mremap-result:0:=old/-ENOMEM",
      },
    ])("$what", async ({ engine: broken, script, className }) => {
      const options = { build, createMman: broken, pageSize: 4096 };
      expect((await runScript(options, script))?.className).toBe(className);
      // The real engine agrees with Linux on the same script.
      expect(await runScript({ ...options, createMman: engine }, script)).toBeNull();
    });

    test("random seeds find the broken MADV_DONTNEED too", async () => {
      const broken = sabotaged((imports) => {
        const madvise = imports.madvise;
        imports.madvise = (a: number, l: number, advice: number) => (advice === MADV_DONTNEED ? 0 : madvise(a, l, advice));
      });
      const results = await runSeeds({ build, createMman: broken, pageSize: 4096, start: 1000, count: SEEDS, off: knownFeaturesOff() });
      const found = results.filter((r) => r.divergence?.className.startsWith("madvise-state:DONTNEED")).length;
      expect(found).toBeGreaterThan(SEEDS / 10);
    });
  });

  test("a seed runs the same alone as in a batch, and the kernel's side is deterministic", async () => {
    const batch = await runNative(build, ["random", "20", "10", "40"]);
    expect(await runNative(build, ["random", "20", "10", "40"])).toBe(batch);
    const alone = splitUnits(await runNative(build, ["random", "27", "1", "40"])).get("seed 27");
    expect(alone).toEqual(splitUnits(batch).get("seed 27"));
  });
});
