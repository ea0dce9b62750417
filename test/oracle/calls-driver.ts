/**
 * The fast-check driver of the oracle: random scenarios of every call and flag, run against
 * createMman over an ArrayBuffer memory through mman.calls, each result checked by the oracle,
 * the engine's invariants checked after every step. test/property.test.ts runs it for each page
 * size; test/oracle/mutation.test.ts runs it against deliberately broken engines.
 *
 * Files: each MAP_SHARED mapping of a file page is its own copy here, and the host keeps several
 * copies of one file page coherent (syscalls/file-mappings.ts, its page cache), which the model
 * does not follow: scenarios skip a call that would show one file page through two shared
 * mappings at once.
 *
 * Operations hold no addresses: each names a target (an index into the pages worth aiming at
 * in the model at that moment: the region start, the break, mapping edges, the wilderness, the
 * end of memory, the limit) plus a small page delta and sometimes a stray byte offset, so that
 * edges, overlaps and bad alignment come up often at every page size.
 */
import fc from "fast-check";
import { ArrayLinearMemory, createMman, type FileResolver, type Mman } from "../../index.js";
import { memoryFile } from "../helpers/space.js";
import { Oracle } from "./check.js";
import type { MappedPage, PageModel } from "./model.js";

/** The memory's declared maximum: 3 MiB, small enough that ENOMEM happens too. */
export const MAX_WASM_PAGES = 48;

const MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_SHARED_VALIDATE = 3, MAP_ANONYMOUS = 0x20, MAP_FIXED = 0x10, MAP_FIXED_NOREPLACE = 0x100000;
const MAP_NORESERVE = 0x4000, MAP_POPULATE = 0x8000, MAP_LOCKED = 0x2000, MAP_STACK = 0x20000, MAP_DROPPABLE = 0x08, MAP_HUGETLB = 0x40000, MAP_GROWSDOWN = 0x100;

interface Target {
  /** "edge": a page worth aiming at (see targets()); "inside": a page of a mapped run. */
  mode: "edge" | "inside";
  at: number;
  delta: number;
  /** A byte offset added to the page address (0 most of the time). */
  odd: number;
}

interface Length {
  pages: number;
  /** Bytes short of whole pages (still rounds up to `pages`). */
  slack: number;
  special: "none" | "zero" | "huge";
}

export type Op =
  | { kind: "mmap"; length: Length; prot: number; flags: number; place: "anywhere" | "hint" | "fixed" | "noreplace"; at: Target; fd: number; offset: number | "unaligned" | "overflow" }
  | { kind: "munmap"; at: Target; length: Length }
  | { kind: "mremap"; at: Target; whole: boolean; oldLength: Length; newLength: Length; flags: number; to: Target }
  | { kind: "madvise"; at: Target; whole: boolean; length: Length; advice: number }
  | { kind: "mprotect"; at: Target; whole: boolean; length: Length; prot: number }
  | { kind: "msync"; at: Target; whole: boolean; length: Length; flags: number }
  | { kind: "brk"; from: "heap" | "break"; pages: number; bytes: number; special: "none" | "zero" | "below" | "beyond" }
  | { kind: "guard"; at: number; pages: number }
  | { kind: "write"; at: Target; value: number }
  | { kind: "freeWritten"; at: Target; advice: number; value: number }
  | { kind: "guestGrow"; wasmPages: number }
  | { kind: "churn"; pages: number; value: number }
  | { kind: "resolver"; on: boolean };

export interface Scenario {
  heapBase: number;
  initialWasmPages: number;
  growth: "exact" | "geometric";
  /** createMman's maxMemoryBytes: none, or a limit that is not a whole number of wasm pages. */
  capped: boolean;
  ops: Op[];
}

const target: fc.Arbitrary<Target> = fc.record({
  mode: fc.constantFrom("edge" as const, "inside" as const),
  at: fc.nat(),
  delta: fc.integer({ min: -2, max: 2 }),
  odd: fc.oneof({ weight: 19, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) }),
});
// Advice: hints, vma flags, the clearing kinds, and what Linux refuses (5 is no advice).
const adviceArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 4, 4, 8, 8) },
  { weight: 2, arbitrary: fc.constantFrom(9, 10, 11, 12, 14, 16, 18, 19, 20, 22, 23, 24, 25, 102, 103) },
  { weight: 1, arbitrary: fc.constantFrom(5, 100) },
);
const mostly = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
/** Mostly a page of a mapped run: what realloc gives mremap, free gives madvise, a program writes. */
const mappedTarget: fc.Arbitrary<Target> = fc.record({
  mode: fc.constantFrom("inside" as const, "inside" as const, "inside" as const, "edge" as const),
  at: fc.nat(),
  delta: fc.integer({ min: -2, max: 2 }),
  odd: fc.oneof({ weight: 29, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) }),
});
const pagesArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 3, arbitrary: fc.integer({ min: 9, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 41, max: 300 }) },
);
const length: fc.Arbitrary<Length> = fc.record({
  pages: pagesArb,
  slack: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) }),
  special: fc.oneof({ weight: 40, arbitrary: fc.constant("none" as const) }, { weight: 1, arbitrary: fc.constant("zero" as const) }, { weight: 1, arbitrary: fc.constant("huge" as const) }),
});
// PROT_SEM (8) is accepted and ignored; 16 is no protection bit.
const prot = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 7 }) }, { weight: 1, arbitrary: fc.constantFrom(8 | 3, 16) });
const mmapFlags = fc.oneof(
  { weight: 12, arbitrary: fc.constant(MAP_PRIVATE | MAP_ANONYMOUS) },
  { weight: 2, arbitrary: fc.constant(MAP_SHARED | MAP_ANONYMOUS) },
  { weight: 1, arbitrary: fc.constant(MAP_SHARED_VALIDATE | MAP_ANONYMOUS) },
  { weight: 1, arbitrary: fc.constant(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE) },
  // vma flags (what merges), a map type of its own, and what Linux refuses or ignores.
  { weight: 1, arbitrary: fc.constantFrom(MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, MAP_DROPPABLE | MAP_ANONYMOUS) },
  { weight: 1, arbitrary: fc.constantFrom(MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN) },
  { weight: 3, arbitrary: fc.constant(MAP_PRIVATE) },
  { weight: 3, arbitrary: fc.constant(MAP_SHARED) },
  { weight: 1, arbitrary: fc.constant(MAP_SHARED_VALIDATE) },
  { weight: 1, arbitrary: fc.constant(MAP_ANONYMOUS) }, // no map type
  { weight: 1, arbitrary: fc.constant(MAP_PRIVATE | MAP_ANONYMOUS | 0x40) }, // an unknown flag: ignored
  { weight: 1, arbitrary: fc.constant(MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x40) },
);

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("mmap" as const),
      length,
      prot,
      flags: mmapFlags,
      place: fc.oneof(
        { weight: 6, arbitrary: fc.constant("anywhere" as const) },
        { weight: 2, arbitrary: fc.constant("hint" as const) },
        { weight: 3, arbitrary: fc.constant("fixed" as const) },
        { weight: 2, arbitrary: fc.constant("noreplace" as const) },
      ),
      at: target,
      // 3: a writable file, 4: read-only, 5: not regular, 6: unreadable, 7: fd 3's file again, 9: no file.
      fd: fc.constantFrom(3, 3, 3, 4, 4, 5, 6, 7, 9),
      offset: fc.oneof(
        { weight: 10, arbitrary: fc.integer({ min: 0, max: 6 }) },
        { weight: 1, arbitrary: fc.constant("unaligned" as const) },
        { weight: 1, arbitrary: fc.constant("overflow" as const) },
      ),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("munmap" as const), at: target, length }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("mremap" as const),
      at: mappedTarget,
      whole: mostly,
      oldLength: length,
      newLength: length,
      flags: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(0, 1, 1, 1, 3, 5, 7) }, { weight: 1, arbitrary: fc.constantFrom(2, 4, 8) }),
      to: target,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("madvise" as const), at: mappedTarget, whole: mostly, length, advice: adviceArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("mprotect" as const), at: mappedTarget, whole: mostly, length, prot }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("msync" as const), at: mappedTarget, whole: mostly, length, flags: fc.constantFrom(0, 1, 2, 3, 4, 4, 6, 5, 8) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("brk" as const),
      from: fc.constantFrom("heap" as const, "break" as const),
      pages: fc.integer({ min: -8, max: 60 }),
      bytes: fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) }),
      special: fc.oneof({ weight: 20, arbitrary: fc.constant("none" as const) }, { weight: 1, arbitrary: fc.constantFrom("zero" as const, "below" as const, "beyond" as const) }),
    }),
  },
  // musl mallocng's guard page: PROT_NONE, MAP_FIXED over pages of the brk area.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("guard" as const), at: fc.nat(), pages: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("write" as const), at: mappedTarget, value: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("guestGrow" as const), wasmPages: fc.integer({ min: 1, max: 2 }) }) },
  // Write pages, then give them back with madvise, as musl's free does.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("freeWritten" as const), at: mappedTarget, advice: fc.constantFrom(4, 8), value: fc.integer({ min: 1, max: 255 }) }) },
  // Map, dirty and unmap a small block: the next small mmap is likely to reuse its pages.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("churn" as const), pages: fc.integer({ min: 1, max: 3 }), value: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("resolver" as const), on: fc.boolean() }) },
);

export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  heapBase: fc.constantFrom(70_000, 65_536, 131_072, 1000),
  initialWasmPages: fc.constantFrom(2, 3),
  growth: fc.constantFrom("exact" as const, "geometric" as const),
  capped: fc.boolean(),
  ops: fc.array(opArb, { minLength: 1, maxLength: 40 }),
});

/** Bytes of a file: never zero, so zeros where file bytes belong show. */
function fileBytes(length: number, salt: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => ((i * 131 + salt) % 251) + 1);
}

/** How often each call met each outcome (EINVAL, moved, grown-in-place...), over every scenario run. */
export const outcomes = new Map<string, number>();

export type Calls = Mman["calls"];
type CallName = "brk" | "mmap" | "munmap" | "mremap" | "madvise" | "mprotect" | "msync";

export interface RunOptions {
  /** Replaces the calls the driver makes (a mutant engine, test/oracle/mutation.test.ts). */
  wrap?: (mman: Mman) => Partial<Calls>;
}

/** Pages worth aiming at right now, lowest first. */
function targets(model: PageModel): number[] {
  const brkEnd = model.brkEnd;
  const pages = new Set([0, model.regionStart - 1, model.regionStart, (model.regionStart + brkEnd) >>> 1, brkEnd - 1, brkEnd, model.wildStart(), model.memPages, model.limitPage - 1]);
  for (const [from, to] of model.mappedRuns()) {
    pages.add(from);
    pages.add(to);
    pages.add((from + to) >>> 1);
  }
  return [...pages].filter((page) => page >= 0).sort((a, b) => a - b);
}

/** Runs one scenario; throws on the first disagreement or broken invariant. */
export function runScenario(pageSize: number, scenario: Scenario, options: RunOptions = {}): void {
  const maxMemoryBytes = scenario.capped ? 40 * 65536 + 3 * 4096 : undefined;
  const mman = createMman({ pageSize, growth: scenario.growth, maxMemoryBytes, onWarning: () => {} });
  const memory = new ArrayLinearMemory(scenario.initialWasmPages, MAX_WASM_PAGES);
  mman.attach({ memory, heapBase: scenario.heapBase });
  // Pages that exist at attach may hold anything: they must read as zeros once handed out.
  memory.bytes().fill(0xaa, scenario.heapBase);
  const writable = memoryFile(fileBytes(Math.round(5.5 * pageSize), 7));
  const readOnly = memoryFile(fileBytes(3 * pageSize + 100, 91), { writable: false });
  const files: FileResolver = {
    resolve(fd) {
      switch (fd) {
        case 3: return writable;
        case 4: return readOnly;
        case 5: return { ...memoryFile(new Uint8Array(10)), regular: false };
        case 6: return { ...memoryFile(new Uint8Array(10)), readable: false };
        case 7: return { ...writable }; // another object for the same open file
        default: return null;
      }
    },
  };
  mman.setFileResolver(files);
  const oracle = new Oracle(mman, { maxMemoryBytes, growth: scenario.growth, declaredMaxWasmPages: MAX_WASM_PAGES, trackContents: true });
  const model = oracle.model;
  const replaced = options.wrap?.(mman) ?? {};
  const call = (name: CallName): ((...args: number[]) => number) =>
    (replaced[name] as ((...args: number[]) => number) | undefined) ?? ((...args) => (mman.calls[name] as (...a: number[]) => number).apply(mman.calls, args));
  const ps = pageSize;
  const LIMIT = 2 ** 32;

  const page = (t: Target): number => {
    const runs = model.mappedRuns();
    if (t.mode === "inside" && runs.length > 0) {
      // A mapped run, at its start half of the time, else a page inside it.
      const [from, to] = runs[t.at % runs.length];
      return t.delta <= 0 ? from : from + ((t.at >>> 8) % (to - from));
    }
    const list = targets(model);
    return Math.max(0, list[t.at % list.length] + t.delta);
  };
  /** Bytes from `start` to the end of the pages in use there (brk or mapped), or `fallback`. */
  const toEndOfUse = (start: number, fallback: number): number => {
    if (start % ps !== 0) return fallback;
    let end = start / ps;
    while (model.kind(end) === "mapped" || model.kind(end) === "brk") end++;
    return end > start / ps ? end * ps - start : fallback;
  };
  const address = (t: Target): number => Math.min(LIMIT - 1, page(t) * ps + (t.odd % ps));
  const bytes = (l: Length): number => (l.special === "zero" ? 0 : l.special === "huge" ? LIMIT - 1 : l.pages * ps - (l.slack % ps));
  /** File pages [first, end) of `file` shown by a shared mapping outside pages [from, to). */
  const sharedElsewhere = (file: object, first: number, end: number, from: number, to: number): boolean => {
    for (const p of model.mappedPages()) {
      const page = model.mapped(p) as MappedPage;
      if (p >= from && p < to) continue;
      if (page.file?.identity !== file || (page.flags & 0xf) === MAP_PRIVATE) continue;
      if (page.offset / ps >= first && page.offset / ps < end) return true;
    }
    return false;
  };
  const run = (name: CallName, args: number[]): number => {
    const result = call(name)(...args);
    oracle.check(name, args, result);
    const key = `${name} ${model.lastOutcome}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    oracle.assertAgrees();
    return result;
  };

  for (const op of scenario.ops) {
    switch (op.kind) {
      case "mmap": {
        let flags = op.flags;
        if (op.place === "fixed") flags |= MAP_FIXED;
        if (op.place === "noreplace") flags |= MAP_FIXED_NOREPLACE;
        const at = op.place === "anywhere" ? 0 : address(op.at);
        const offset = op.offset === "unaligned" ? ps + 100 : op.offset === "overflow" ? LIMIT * ps : op.offset * ps;
        const anonymous = (flags & MAP_ANONYMOUS) !== 0;
        const open = anonymous ? null : mman.calls.ctx.files?.resolve(op.fd);
        if (open && (flags & 0xf) !== MAP_PRIVATE && typeof op.offset === "number") {
          const first = op.offset;
          if (sharedElsewhere(open.identity, first, first + op.length.pages, -1, -1)) break;
        }
        run("mmap", [at, bytes(op.length), op.prot, flags, anonymous ? -1 : op.fd, anonymous && op.offset !== "unaligned" ? 0 : offset]);
        break;
      }
      case "munmap":
        run("munmap", [address(op.at), bytes(op.length)]);
        break;
      case "mremap": {
        const from = address(op.at);
        // `whole`: the rest of the mapped run from there, as a realloc would pass it.
        let oldLength = bytes(op.oldLength);
        const first = model.mapped(from / ps);
        if (op.whole && from % ps === 0 && first !== undefined) {
          // The rest of the mapping from there (pages Linux would hold as one vma).
          let end = from / ps + 1;
          for (let next = model.mapped(end); next !== undefined && next.prot === first.prot && next.flags === first.flags && next.file === first.file; next = model.mapped(++end));
          oldLength = end * ps - from - (op.oldLength.slack % ps);
        }
        const mapping = model.mapped(from / ps);
        if (mapping?.file != null && (mapping.flags & 0xf) !== MAP_PRIVATE && from % ps === 0) {
          const first = mapping.offset / ps;
          if (sharedElsewhere(mapping.file.identity, first, first + Math.ceil(bytes(op.newLength) / ps), from / ps, from / ps + Math.ceil(oldLength / ps))) break;
        }
        run("mremap", [from, oldLength, (op.flags & 4) !== 0 ? oldLength : bytes(op.newLength), op.flags, (op.flags & 2) !== 0 ? address(op.to) : 0]);
        break;
      }
      case "madvise":
      case "mprotect":
      case "msync": {
        const start = address(op.at);
        const length = op.whole ? toEndOfUse(start, bytes(op.length)) : bytes(op.length);
        run(op.kind, [start, length, op.kind === "madvise" ? op.advice : op.kind === "mprotect" ? op.prot : op.flags]);
        break;
      }
      case "brk": {
        const base = op.from === "heap" ? scenario.heapBase : model.breakAddress;
        const wanted =
          op.special === "zero" ? 0 : op.special === "below" ? scenario.heapBase - 1 : op.special === "beyond" ? model.limitPage * ps + 1 : base + op.pages * ps + (op.bytes % ps);
        run("brk", [Math.max(0, Math.min(LIMIT - 1, wanted))]);
        break;
      }
      case "guard": {
        const brkPages = model.brkEnd - model.regionStart;
        if (brkPages > 0) run("mmap", [(model.regionStart + (op.at % brkPages)) * ps, op.pages * ps, 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0]);
        break;
      }
      case "write": {
        const p = page(op.at);
        const kind = model.kind(p);
        if (kind === "brk" || kind === "mapped") oracle.write(p, op.value);
        break;
      }
      case "freeWritten": {
        const p = page(op.at);
        const kind = model.kind(p);
        if (kind !== "brk" && kind !== "mapped") break;
        oracle.write(p, op.value);
        run("madvise", [p * ps, toEndOfUse(p * ps, ps), op.advice]);
        break;
      }
      case "guestGrow":
        oracle.guestGrow(op.wasmPages);
        break;
      case "churn": {
        const result = run("mmap", [0, op.pages * ps, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0]);
        if (result < 0) break;
        for (let p = result / ps; p < result / ps + op.pages; p++) oracle.write(p, op.value);
        run("munmap", [result, op.pages * ps]);
        break;
      }
      case "resolver":
        mman.setFileResolver(op.on ? files : null);
        break;
    }
    mman.checkInvariants(true);
    oracle.checkContents(false);
    oracle.checkFiles();
    oracle.assertAgrees();
  }
  oracle.checkContents(true);
  oracle.assertAgrees();
}
