/**
 * Property tests: random scenarios of every call and flag (test/oracle/calls-driver.ts) against
 * the page model (test/oracle/model.ts), which predicts the exact errno of every failing call
 * and checks every succeeding one, with the engine's invariants checked after every step.
 * At least 1,000 scenarios run in total, for 4, 16 and 64 KiB pages.
 *
 * Every run prints its seed; FC_SEED=<seed> replays it exactly (with FC_RUNS for the same
 * count); fast-check also prints the seed and the shrunk path of a counterexample.
 */
import fc from "fast-check";
import { afterAll, describe, it } from "vitest";
import { outcomes, runScenario, scenarioArb } from "./oracle/calls-driver.js";

const PAGE_SIZES = [4096, 16384, 65536] as const;
const RUNS_PER_PAGE_SIZE = Number(process.env.FC_RUNS ?? 340);
const SEED = process.env.FC_SEED === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(process.env.FC_SEED);

// FC_OUTCOMES=1 prints how often each call met each outcome: what the scenarios covered.
if (process.env.FC_OUTCOMES) afterAll(() => console.log([...outcomes].sort().map(([key, n]) => `${key}: ${n}`).join("\n")));

describe.each(PAGE_SIZES)("random call sequences with %i-byte pages", (page) => {
  it(`agree with the page model (${RUNS_PER_PAGE_SIZE} scenarios)`, () => {
    console.log(`property test, ${page}-byte pages: FC_SEED=${SEED} FC_RUNS=${RUNS_PER_PAGE_SIZE}`);
    fc.assert(
      fc.property(scenarioArb, (scenario) => runScenario(page, scenario)),
      { numRuns: RUNS_PER_PAGE_SIZE, seed: SEED },
    );
  });
});
