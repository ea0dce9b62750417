/**
 * The oracle catches a broken engine: each mutant below breaks one promise of the calls (by
 * wrapping mman.calls, or by disabling one step of the engine), and the same driver that
 * test/property.test.ts runs must then report a disagreement, both on a small fixed scenario
 * and within a bounded random search. Scenarios where the real engine itself disagrees with
 * the model (test/oracle/findings.test.ts) are skipped in the search, so that what is found
 * is the mutant.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Mman } from "../../index.js";
import { runScenario, scenarioArb, type Calls, type Op, type Scenario } from "./calls-driver.js";

const SEED = process.env.FC_SEED === undefined ? 20261202 : Number(process.env.FC_SEED);
const PAGE = 4096;
const MAP_PRIVATE_ANONYMOUS = 0x22;

interface Mutant {
  name: string;
  /** Replaces calls (or breaks the engine underneath them) for one instance. */
  wrap: (mman: Mman) => Partial<Calls>;
  /** A scenario that shows it, and what the oracle says. */
  scenario: Op[];
  says: RegExp;
}

const inside = { mode: "inside" as const, at: 0, delta: 0, odd: 0 };
const length = (pages: number) => ({ pages, slack: 0, special: "none" as const });
const mapAnywhere = (pages: number): Op => ({ kind: "mmap", length: length(pages), prot: 3, flags: MAP_PRIVATE_ANONYMOUS, place: "anywhere", at: inside, fd: -1, offset: 0 });

const MUTANTS: Mutant[] = [
  {
    name: "munmap returns 0 without unmapping",
    wrap: () => ({ munmap: () => 0 }),
    scenario: [mapAnywhere(2), { kind: "munmap", at: inside, length: length(2) }],
    says: /is MAPPED in the engine, free in the model/,
  },
  {
    name: "mmap returns an address that overlaps a live mapping",
    wrap: (mman) => ({
      mmap: (...args: number[]) => {
        const result = (mman.calls.mmap as (...a: number[]) => number)(...args);
        const other = mman.mappings().find((m) => m.address !== result);
        return result >= 0 && other !== undefined ? other.address : result;
      },
    }),
    scenario: [mapAnywhere(2), mapAnywhere(1)],
    says: /were not all free/,
  },
  {
    name: "MADV_DONTNEED (and every clearing of pages in use) leaves the bytes",
    wrap: (mman) => {
      mman.space.zeroInUse = () => {};
      return {};
    },
    scenario: [
      mapAnywhere(2),
      { kind: "write", at: inside, value: 7 },
      { kind: "madvise", at: inside, whole: true, length: length(2), advice: 4 },
    ],
    says: /reads 7, expected 0/,
  },
  {
    name: "mremap answers EINVAL where the range is not one mapping (EFAULT)",
    wrap: (mman) => ({
      mremap: (...args: number[]) => {
        const result = (mman.calls.mremap as (...a: number[]) => number)(...args);
        return result === -14 ? -22 : result;
      },
    }),
    scenario: [{ kind: "mremap", at: inside, whole: true, oldLength: length(1), newLength: length(2), flags: 1, to: inside }],
    says: /expected -EFAULT/,
  },
  {
    name: "a refused brk moves the break anyway",
    wrap: (mman) => ({
      brk: (address: number) => {
        const result = mman.calls.brk(address);
        return address > mman.stats().heapBase ? address : result;
      },
    }),
    scenario: [mapAnywhere(2), { kind: "brk", from: "heap", pages: 40, bytes: 0, special: "none" }],
    says: /brk is refused: the old break/,
  },
];

const scenarioOf = (ops: Op[]): Scenario => ({ heapBase: 70_000, initialWasmPages: 2, growth: "exact", capped: false, ops });

/** True when the real engine agrees with the model on this scenario. */
function realAgrees(scenario: Scenario): boolean {
  try {
    runScenario(PAGE, scenario);
    return true;
  } catch {
    return false;
  }
}

describe.each(MUTANTS)("the oracle catches a mutant: $name", (mutant) => {
  it("on a small scenario (the real engine passes it)", () => {
    const scenario = scenarioOf(mutant.scenario);
    expect(() => runScenario(PAGE, scenario)).not.toThrow();
    expect(() => runScenario(PAGE, scenario, { wrap: mutant.wrap })).toThrow(mutant.says);
  });

  it("within 300 random scenarios", () => {
    const details = fc.check(
      fc.property(scenarioArb, (scenario) => {
        fc.pre(realAgrees(scenario));
        runScenario(PAGE, scenario, { wrap: mutant.wrap });
      }),
      { seed: SEED, numRuns: 300, endOnFailure: true },
    );
    expect(details.failed, `seed ${SEED}: no scenario showed "${mutant.name}"`).toBe(true);
    expect(String(details.errorInstance)).toMatch(/disagrees with the page model/);
  });
});
