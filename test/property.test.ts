/**
 * Property tests: random sequences of memory calls against a deliberately simple model, a Map
 * from page to the id of the mapping that owns it (plus the brk end and a tag byte per page).
 * One oracle (checkStep) serves every page size. At least 1,000 sequences run in total.
 * Seeds: set FC_SEED to replay a failure (fast-check prints the seed and path on failure).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAP_ANON, MAP_FIXED, PAGE_SIZES, PROT_RW, testSpace, type TestSpace } from "./helpers/space.js";

const MAX_WASM_PAGES = 48; // 3 MiB: small enough that ENOMEM happens too
const RUNS_PER_PAGE_SIZE = Number(process.env.FC_RUNS ?? 340);
// Every run prints its seed; FC_SEED=<seed> replays it exactly (with FC_RUNS for the same count).
const SEED = process.env.FC_SEED === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(process.env.FC_SEED);

type Op =
  | { kind: "mmap"; pages: number; hint: number }
  | { kind: "fixed"; at: number; pages: number }
  | { kind: "munmap"; at: number; pages: number }
  | { kind: "mremap"; which: number; pages: number; mayMove: boolean }
  | { kind: "dontneed"; which: number }
  | { kind: "brk"; pages: number }
  | { kind: "write"; which: number; value: number }
  | { kind: "churn"; pages: number; value: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("mmap" as const), pages: fc.integer({ min: 1, max: 40 }), hint: fc.integer({ min: -1, max: 600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fixed" as const), at: fc.integer({ min: 0, max: 600 }), pages: fc.integer({ min: 1, max: 20 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("munmap" as const), at: fc.integer({ min: 0, max: 600 }), pages: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("mremap" as const), which: fc.nat(), pages: fc.integer({ min: 1, max: 40 }), mayMove: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dontneed" as const), which: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("brk" as const), pages: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("write" as const), which: fc.nat(), value: fc.integer({ min: 1, max: 255 }) }) },
  // Map, dirty and unmap a small block: the next small mmap is likely to reuse its pages.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("churn" as const), pages: fc.integer({ min: 1, max: 3 }), value: fc.integer({ min: 1, max: 255 }) }) },
);

/** The model: which mapping owns each page, and the byte every page is filled with. */
class Model {
  owner = new Map<number, number>();
  tag = new Map<number, number>();
  nextId = 1;
  constructor(readonly page: number) {}

  mappedPages(): number[] {
    return [...this.owner.keys()].sort((a, b) => a - b);
  }
  map(from: number, pages: number): void {
    const id = this.nextId++;
    for (let p = from; p < from + pages; p++) {
      this.owner.set(p, id);
      this.tag.set(p, 0);
    }
  }
  unmap(from: number, pages: number): void {
    for (let p = from; p < from + pages; p++) {
      this.owner.delete(p);
      this.tag.delete(p);
    }
  }
  /** The mapped runs as [firstPage, pages], ids being equal or not (the engine may split). */
  runs(): [number, number][] {
    const runs: [number, number][] = [];
    for (const p of this.mappedPages()) {
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === p) last[1]++;
      else runs.push([p, 1]);
    }
    return runs;
  }
}

/** The oracle: the engine agrees with the model after a step, and its own invariants hold. */
function checkStep(t: TestSpace, model: Model): void {
  t.mman.checkInvariants(true);
  const page = t.page;
  const enginePages: number[] = [];
  for (const m of t.mman.mappings()) for (let p = m.address / page; p < (m.address + m.length) / page; p++) enginePages.push(p);
  expect(enginePages).toEqual(model.mappedPages());
  const bytes = t.bytes();
  for (const [p, value] of model.tag) {
    expect(bytes[p * page]).toBe(value);
    expect(bytes[p * page + page - 1]).toBe(value);
  }
}

function apply(t: TestSpace, model: Model, op: Op): void {
  const page = t.page;
  const calls = t.mman.calls;
  const regionStart = Math.ceil(t.heapBase / page);
  const runs = model.runs();
  const pick = (which: number) => (runs.length === 0 ? null : runs[which % runs.length]);
  switch (op.kind) {
    case "mmap": {
      const hint = op.hint < 0 ? 0 : (regionStart + op.hint) * page;
      const result = calls.mmap(hint, op.pages * page, PROT_RW, MAP_ANON, -1, 0);
      if (result === -12) return; // ENOMEM is allowed only when memory is full; checked below
      expect(result).toBeGreaterThan(0);
      expect(result % page).toBe(0);
      const first = result / page;
      for (let p = first; p < first + op.pages; p++) expect(model.owner.has(p)).toBe(false);
      expect(first).toBeGreaterThanOrEqual(t.mman.space.brkEndPage);
      model.map(first, op.pages);
      return;
    }
    case "fixed": {
      const first = regionStart + op.at;
      const result = calls.mmap(first * page, op.pages * page, PROT_RW, MAP_ANON | MAP_FIXED, -1, 0);
      const brkEnd = t.mman.space.brkEndPage;
      if (first < brkEnd) {
        expect(result).toBe(-1); // EPERM over the brk area
        return;
      }
      if (result === -12) {
        expect((first + op.pages) * page).toBeGreaterThan(MAX_WASM_PAGES * 65536 - 1);
        return;
      }
      expect(result).toBe(first * page);
      model.unmap(first, op.pages);
      model.map(first, op.pages);
      return;
    }
    case "munmap": {
      const first = regionStart + op.at;
      const result = calls.munmap(first * page, op.pages * page);
      if (first < t.mman.space.brkEndPage) {
        expect(result).toBe(-22);
        return;
      }
      expect(result).toBe(0);
      model.unmap(first, op.pages);
      return;
    }
    case "mremap": {
      const run = pick(op.which);
      if (run === null) return;
      const [first] = run;
      // The engine's mapping containing `first` (mremap needs one mapping).
      const mapping = t.mman.mappings().find((m) => m.address / page <= first && (m.address + m.length) / page > first)!;
      const start = mapping.address / page;
      const pages = mapping.length / page;
      const result = calls.mremap(start * page, pages * page, op.pages * page, op.mayMove ? 1 : 0, 0);
      if (result === -12) {
        expect(op.pages).toBeGreaterThan(pages);
        return;
      }
      expect(result).toBeGreaterThan(0);
      const to = result / page;
      const kept = Math.min(pages, op.pages);
      const tags = Array.from({ length: kept }, (_, i) => model.tag.get(start + i) ?? 0);
      model.unmap(start, pages);
      for (let p = to; p < to + op.pages; p++) expect(model.owner.has(p)).toBe(false);
      model.map(to, op.pages);
      tags.forEach((value, i) => model.tag.set(to + i, value));
      return;
    }
    case "dontneed": {
      const run = pick(op.which);
      if (run === null) return;
      expect(calls.madvise(run[0] * page, run[1] * page, 4)).toBe(0);
      for (let p = run[0]; p < run[0] + run[1]; p++) model.tag.set(p, 0);
      return;
    }
    case "brk": {
      const target = t.heapBase + op.pages * page;
      const result = calls.brk(target);
      if (result === target) {
        for (let p = regionStart; p < Math.ceil(target / page); p++) expect(model.owner.has(p)).toBe(false);
      }
      return;
    }
    case "churn": {
      const result = calls.mmap(0, op.pages * page, PROT_RW, MAP_ANON, -1, 0);
      if (result < 0) return;
      expect(t.bytes().subarray(result, result + op.pages * page).every((x) => x === 0)).toBe(true);
      t.bytes().fill(op.value, result, result + op.pages * page);
      expect(calls.munmap(result, op.pages * page)).toBe(0);
      return;
    }
    case "write": {
      const run = pick(op.which);
      if (run === null) return;
      const p = run[0] + (op.value % run[1]);
      t.bytes().fill(op.value, p * page, (p + 1) * page);
      model.tag.set(p, op.value);
      return;
    }
  }
}

describe.each(PAGE_SIZES)("random call sequences with %i-byte pages", (page) => {
  it(`agree with the page-owner model (${RUNS_PER_PAGE_SIZE} sequences)`, () => {
    console.log(`property test, ${page}-byte pages: FC_SEED=${SEED} FC_RUNS=${RUNS_PER_PAGE_SIZE}`);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.constantFrom<"exact" | "geometric">("exact", "geometric"), (ops, growth) => {
        const t = testSpace(page, { maxWasmPages: MAX_WASM_PAGES, growth });
        const model = new Model(page);
        for (const op of ops) {
          apply(t, model, op);
          checkStep(t, model);
        }
        // ENOMEM only when no free run of the size exists below the maximum: one more page must
        // always be mappable unless memory is (nearly) full.
        const stats = t.mman.stats();
        if (mapOne(t) === -12) expect(stats.linearMemoryBytes + 65536).toBeGreaterThan(MAX_WASM_PAGES * 65536 - 1);
      }),
      { numRuns: RUNS_PER_PAGE_SIZE, seed: SEED, verbose: 1 },
    );
  });
});

function mapOne(t: TestSpace): number {
  return t.mman.calls.mmap(0, t.page, PROT_RW, MAP_ANON, -1, 0);
}
