// Guard mode on the AssemblyScript fixtures (fixtures/as, built by scripts/build-as.ts): the
// same calls give the same results under the guard as without it, none traps, and the memory
// calls the allocator makes are the same (issue #15: no false positives). Addresses differ
// (the guard's table takes the place where the heap began), so an address result is compared
// by what it is: the usable size of its block.
import { describe, expect, it } from "vitest";
import { createGuardedMman, type GuardedMman } from "../guard/guard.js";
import { instrument } from "../guard/instrument.js";
import { loadAs } from "../scripts/build-as.js";
import { createMman, type Mman } from "../syscalls/create-mman.js";

type Exports = Record<string, (...args: number[]) => number>;

async function start(bytes: Uint8Array<ArrayBuffer>, mman: Mman): Promise<Exports> {
  const env = {
    abort(_message: number, _file: number, line: number, column: number) {
      throw new Error(`guest abort at ${line}:${column}`);
    },
  };
  const { instance } = await WebAssembly.instantiate(bytes, { env, ...mman.imports });
  mman.attach(instance);
  const exports = instance.exports as unknown as Exports;
  if (typeof exports._initialize === "function") exports._initialize();
  return exports;
}

/** Each call: name, arguments, and whether its result is an address (compared by usable size). */
const SCENARIO_CALLS: [string, number[], boolean][] = [
  ["at_threshold", [], true],
  ["above_threshold", [], true],
  ["realloc_up_across", [], true],
  ["realloc_down_across", [], true],
  ["realloc_mapped", [200_000, 400_000], true],
  ["realloc_mapped", [400_000, 150_000], true],
  ["many_small", [2000], false],
  ["fill_heap", [300_000], false],
  ["alloc_large", [1 << 20], true],
  ["reuse_reads_zeros", [200_000, 64], false],
];

/** What a sequence of calls gives: results (addresses as usable sizes) and the calls the engine saw. */
async function outcome(bytes: Uint8Array<ArrayBuffer>, mman: Mman): Promise<{ results: number[]; calls: Record<string, number>; mappedBytes: number }> {
  const exports = await start(bytes, mman);
  const results = SCENARIO_CALLS.map(([name, args, address]) => {
    const result = exports[name](...args);
    return address ? (result === 0 ? -1 : exports.usable(result)) : result;
  });
  const stats = mman.stats();
  return { results, calls: stats.calls, mappedBytes: stats.mappedBytes };
}

describe("guard: the AssemblyScript fixtures run unchanged", () => {
  for (const pageSize of [4096, 65536]) {
    it(`scenarios, ${pageSize / 1024} KiB pages: same results and memory calls, no fault`, { timeout: 120_000 }, async () => {
      const bytes = await loadAs("scenarios");
      const plain = await outcome(bytes, createMman({ pageSize }));
      const mman = createGuardedMman({ pageSize });
      const guarded = await outcome(instrument(bytes).bytes, mman);
      expect(guarded.results).toEqual(plain.results);
      // At 64 KiB pages the heap base moves by a whole libc page past the table, so the
      // brk heap starts at another offset in its page and may need one brk more or less.
      if (pageSize === 4096) expect(guarded).toEqual(plain);
      expect(mman.guard.fault()).toBeNull();
      expect(Buffer.from(mman.guard.currentTable()).equals(Buffer.from(mman.guard.expectedTable()))).toBe(true);
    });
  }

  it("strings: the same heap exercise under the guard, no fault", { timeout: 120_000 }, async () => {
    const bytes = await loadAs("strings");
    const plainMman = createMman({});
    const plain = await start(bytes, plainMman);
    const mman: GuardedMman = createGuardedMman({});
    const guarded = await start(instrument(bytes).bytes, mman);
    for (const size of [64, 100_000, 1 << 20]) expect(guarded.exercise_heap(size) !== 0).toBe(plain.exercise_heap(size) !== 0);
    for (const count of [1, 500]) {
      plain.run(count);
      guarded.run(count);
    }
    expect(mman.stats().calls).toEqual(plainMman.stats().calls);
    expect(mman.guard.fault()).toBeNull();
  });
});
