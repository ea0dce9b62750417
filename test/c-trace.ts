/**
 * Watching C programs: every memory call a fixture makes goes through the page model
 * (test/oracle) from its trace hook, record by record ({call, args, result}), so that any
 * disagreement with the semantics fails the test, and a test can ask the model what the
 * address space looked like when a call was made, without trusting the engine.
 */
import type { TraceRecord } from "../index.js";
import { watchingCreateMman, type Oracle } from "./oracle/check.js";
import type { PageModel } from "./oracle/model.js";

export function roundUp(value: number, pageSize: number): number {
  return Math.ceil(value / pageSize) * pageSize;
}

/** Looks at the model as each call found it (before the model applies the call). */
export type Probe = (call: string, args: readonly number[], result: number, model: PageModel) => void;

/**
 * A createMman for runC (c-helpers.ts) that watches the instance it makes from the moment it
 * is attached; `oracle()` is that instance's oracle once the program has run.
 */
export function watchedC(probe?: Probe) {
  let watching: Oracle | null = null;
  return {
    createMman: watchingCreateMman((oracle) => (watching = oracle), { probe }),
    oracle(): Oracle {
      if (watching === null) throw new Error("the program was never attached");
      return watching;
    },
  };
}

/** True when [start, end) lies in mapped pages of `model` (addresses in bytes). */
export function mappedIn(model: PageModel, start: number, end: number): boolean {
  const ps = model.pageSize;
  return model.allMapped(Math.floor(start / ps), Math.ceil(end / ps));
}

export function calls(trace: TraceRecord[], name: TraceRecord["call"]): TraceRecord[] {
  return trace.filter((record) => record.call === name);
}

/** Numbers printed by a fixture as `key=value` on its own lines (the last one wins). */
export function printed(stdout: string, key: string): number {
  const match = [...stdout.matchAll(new RegExp(`^${key}=(\\d+)`, "gm"))].pop();
  if (!match) throw new Error(`the program printed no ${key}=...:\n${stdout}`);
  return Number(match[1]);
}
