/**
 * The oracle: the page model (model.ts) fed with every call an instance serves, and the
 * engine's own state compared with the model's after each one. One check for every driver:
 *
 *   fast-check properties    oracle.check(call, args, result) after each mman.calls call
 *   AssemblyScript, C guests watch(mman): the trace hook feeds it (TraceRecord {call, args, result})
 *
 * The hook runs synchronously after each call, before the guest goes on, so the bytes a call
 * promises (new anonymous pages read zero, a grown mremap's new pages, MADV_DONTNEED) are read
 * from the guest's memory right there. Growth the guest did itself (wasi-libc's dlmalloc) is
 * told apart from the host's by watching the host's memory.grow calls: what the memory had
 * grown to before the host's first grow in a call (or by the end of a call that grew nothing)
 * was the guest's.
 *
 * After every call the engine's page kinds, mappings() and statistics are compared with the
 * model's, and a call the model says fails must leave mappings() and stats() exactly as they
 * were. Disagreements are collected, never thrown from the hook (a throwing hook must not
 * fail the guest's call): drivers call assertAgrees().
 */
import { createMman, PageKind, type Mman, type MmanOptions, type TraceHook } from "../../index.js";
import { firstDifference, PageModel, vmFlagsOf, type ModelKind } from "./model.js";

export interface OracleOptions {
  /** createMman's maxMemoryBytes, growth, and the memory's declared maximum (wasm pages). */
  maxMemoryBytes?: number;
  growth?: "exact" | "geometric";
  declaredMaxWasmPages?: number;
  /** The driver reports its own writes (oracle.write) and the model keeps every page's bytes. */
  trackContents?: boolean;
  /** Called before the model applies a call: `model` shows the state the call found. */
  probe?: (call: string, args: readonly number[], result: number, model: PageModel) => void;
}

interface Step {
  call: string;
  args: readonly number[];
  result: number;
}

const KIND_NAMES = Object.fromEntries(Object.entries(PageKind).map(([name, value]) => [value, name])) as Record<number, string>;
/** The engine's page kinds that a model kind may show as (free pages may or may not be clean). */
const KINDS: Record<ModelKind, number[]> = {
  image: [PageKind.IMAGE],
  brk: [PageKind.BRK],
  mapped: [PageKind.MAPPED],
  foreign: [PageKind.FOREIGN],
  free: [PageKind.FREE_CLEAN, PageKind.FREE_DIRTY],
  absent: [],
};
/** Statistics a failing call may change: it is counted, and a refused growth is a grow call. */
const COUNTED = new Set(["calls", "errors", "growCalls", "growFailures", "brkRefusals", "bookkeepingBytes"]);

export class Oracle {
  readonly model: PageModel;
  readonly steps: Step[] = [];
  /** Linear memory when the oracle began watching. */
  readonly attachedBytes: number;
  private growMark: number | null = null;
  private readonly realGrow: (wasmPages: number) => number;
  private lastRecords: string;
  private lastStats: string;
  /** Memory pages when the last call ended: more at the next call is the guest's own growth. */
  private lastPages: number;
  private readonly fileIds = new Map<object, number>();
  private readonly options: OracleOptions;

  constructor(readonly mman: Mman, options: OracleOptions = {}) {
    this.options = options;
    const space = mman.space;
    const memory = space.memory;
    if (memory === null) throw new Error("the oracle watches an attached instance");
    const stats = mman.stats();
    const trackContents = options.trackContents ?? false;
    this.attachedBytes = memory.byteLength();
    const model = new PageModel({
      pageSize: mman.pageSize,
      heapBase: stats.heapBase,
      memoryBytes: memory.byteLength(),
      maxMemoryBytes: options.maxMemoryBytes,
      declaredMaxWasmPages: options.declaredMaxWasmPages,
      growth: options.growth,
      trackContents,
    });
    this.model = model;
    if (model.limitPage !== space.limitPage) throw new Error(`the oracle's limit page ${model.limitPage} is not the engine's ${space.limitPage}: pass the same maxMemoryBytes`);
    // The state so far, taken as it is: later calls are checked from here.
    model.breakAddress = stats.brk;
    const kinds = space.pageKinds();
    for (let p = model.regionStart; p < kinds.length; p++) if (kinds[p] === PageKind.FOREIGN) model.owners.set(p, "foreign");
    const ps = mman.pageSize;
    // Each record its own vma, writable ones written: what mappings() cannot show (vma flags,
    // anon_vmas) is guessed here, so drivers watch an instance from its first call.
    let origin = 1 << 20;
    for (const m of mman.mappings()) {
      const file = m.file === null ? null : model.fileModel(m.file);
      const vm = vmFlagsOf(m.flags, m.prot);
      origin++;
      for (let i = 0; i < m.length / ps; i++) {
        model.owners.set(m.address / ps + i, { prot: m.prot, flags: m.flags, file, offset: m.fileOffset + i * ps, vm, origin });
      }
    }
    const bytes = memory.bytes();
    for (let p = model.regionStart; p < model.memPages; p++) {
      const kind = model.kind(p);
      if (kind === "brk" || kind === "mapped") model.content.set(p, trackContents ? bytes.slice(p * ps, (p + 1) * ps) : null);
    }
    // Host growth is the engine calling memory.grow: noted so that the guest's own is told apart.
    this.realGrow = memory.grow.bind(memory);
    memory.grow = (wasmPages: number): number => {
      if (this.growMark === null) this.growMark = memory.byteLength();
      return this.realGrow(wasmPages);
    };
    this.lastRecords = this.recordsKey();
    this.lastStats = this.statsKey();
    this.lastPages = model.memPages;
  }

  get problems(): readonly string[] {
    return this.model.problems;
  }

  /** The trace hook that feeds this oracle. */
  readonly hook: TraceHook = (record) => {
    this.check(record.call, record.args, record.result);
  };

  /** Checks one call the instance has just served. Returns false on a disagreement. */
  check(call: string, args: readonly number[], result: number): boolean {
    const model = this.model;
    const memory = this.mman.space.memory!;
    const ps = model.pageSize;
    const after = memory.byteLength();
    const before = this.growMark ?? after;
    this.growMark = null;
    this.steps.push({ call, args: [...args], result });
    if (model.problems.length > 0) return false;
    try {
      this.options.probe?.(call, args, result, model);
      const ok = model.step(call, args, result, {
        pagesBefore: before / ps,
        pagesAfter: after / ps,
        bytes: () => memory.bytes(),
        files: this.mman.calls.ctx.files,
      });
      if (!ok) return false;
      if (model.lastFailed) this.compareUnchanged(before / ps === this.lastPages);
      this.compareState();
      this.lastRecords = this.recordsKey();
      this.lastStats = this.statsKey();
      this.lastPages = after / ps;
    } catch (error) {
      model.problems.push(`${call}(${args.join(", ")}) = ${result}: the oracle itself failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
    return model.problems.length === 0;
  }

  private problem(message: string): void {
    const last = this.steps[this.steps.length - 1];
    const label = last === undefined ? "before any call" : `after ${last.call}(${last.args.join(", ")}) = ${last.result}`;
    this.model.problems.push(`${label}: ${message}`);
  }

  /**
   * A failing call changed nothing: mapping records as they were before it, and statistics too
   * (unless the guest grew memory since the last call, which changes the memory figures).
   */
  private compareUnchanged(sameMemory: boolean): void {
    const records = this.recordsKey();
    if (records !== this.lastRecords) this.problem(`a failing call changed mappings():\n  before ${this.lastRecords}\n  after  ${records}`);
    const stats = this.statsKey();
    if (sameMemory && stats !== this.lastStats) this.problem(`a failing call changed stats(): ${changedFields(JSON.parse(this.lastStats), JSON.parse(stats))}`);
  }

  private recordsKey(): string {
    const id = (file: object | null): number => {
      if (file === null) return 0;
      const key = (file as { identity?: object }).identity ?? file;
      if (!this.fileIds.has(key)) this.fileIds.set(key, this.fileIds.size + 1);
      return this.fileIds.get(key)!;
    };
    return this.mman
      .mappings()
      .map((m) => `${m.address}+${m.length}:${m.prot}/${m.flags}/${m.requestedBytes}/${id(m.file)}@${m.file === null ? 0 : m.fileOffset}`)
      .join(" ");
  }

  private statsKey(): string {
    const stats = this.mman.stats() as unknown as Record<string, unknown>;
    return JSON.stringify(Object.fromEntries(Object.entries(stats).filter(([key]) => !COUNTED.has(key))));
  }

  /** The engine's page kinds, mappings and statistics against the model's. */
  compareState(): void {
    const model = this.model;
    const mman = this.mman;
    const ps = model.pageSize;
    const kinds = mman.space.pageKinds();
    if (kinds.length !== model.memPages) this.problem(`the engine shows ${kinds.length} pages, the model ${model.memPages}`);
    for (let p = 0; p < kinds.length; p++) {
      const kind = model.kind(p);
      if (!KINDS[kind].includes(kinds[p])) {
        this.problem(`page ${p} (address ${p * ps}) is ${KIND_NAMES[kinds[p]]} in the engine, ${kind} in the model`);
        return;
      }
    }
    let mapped = 0;
    for (const m of mman.mappings()) {
      for (let i = 0; i < m.length / ps; i++) {
        const p = m.address / ps + i;
        const page = model.mapped(p);
        mapped++;
        const file = m.file === null ? null : ((m.file as { identity?: object }).identity ?? m.file);
        if (page === undefined) return this.problem(`page ${p} is mapped in the engine, not in the model`);
        if (page.prot !== m.prot) return this.problem(`page ${p} has prot ${m.prot} in the engine, ${page.prot} in the model`);
        if (page.flags !== m.flags) return this.problem(`page ${p} has flags ${m.flags} in the engine, ${page.flags} in the model`);
        if ((page.file?.identity ?? null) !== file) return this.problem(`page ${p} is backed by another file in the engine`);
        if (page.offset !== m.fileOffset + i * ps) {
          return this.problem(`page ${p} has offset (pgoff) ${m.fileOffset + i * ps} in the engine, ${page.offset} in the model`);
        }
      }
    }
    const modelMapped = model.mappedPages().length;
    if (mapped !== modelMapped) this.problem(`${mapped} pages mapped in the engine, ${modelMapped} in the model`);
    const stats = mman.stats();
    let foreign = 0;
    for (const owner of model.owners.values()) if (owner === "foreign") foreign++;
    const expected: [string, number, number][] = [
      ["brk", stats.brk, model.breakAddress],
      ["brkBytes", stats.brkBytes, model.breakAddress - model.heapBase],
      ["mappedBytes", stats.mappedBytes, modelMapped * ps],
      ["linearMemoryBytes", stats.linearMemoryBytes, model.memPages * ps],
      ["foreignBytes", stats.foreignBytes, foreign * ps],
    ];
    for (const [name, actual, want] of expected) if (actual !== want) this.problem(`stats().${name} is ${actual}, the model says ${want}`);
  }

  /** The driver wrote `value` over page `page` (trackContents). */
  write(page: number, value: number): void {
    this.mman.space.bytes().fill(value, page * this.model.pageSize, (page + 1) * this.model.pageSize);
    this.model.write(page, value);
  }

  /**
   * Every page whose bytes the model knows, against memory: whole pages when `full`, else the
   * pages the last call touched whole and three bytes of every other page.
   */
  checkContents(full: boolean): void {
    const model = this.model;
    const ps = model.pageSize;
    const bytes = this.mman.space.bytes();
    for (const [p, expected] of model.content) {
      if (expected === null) continue;
      const page = bytes.subarray(p * ps, (p + 1) * ps);
      if (full || model.touched.has(p)) {
        const at = firstDifference(page, expected);
        if (at >= 0) return this.problem(`page ${p} byte ${at} reads ${page[at]}, the model expects ${expected[at]}`);
      } else {
        for (const at of [0, ps >>> 1, ps - 1]) {
          if (page[at] !== expected[at]) return this.problem(`page ${p} byte ${at} reads ${page[at]}, the model expects ${expected[at]}`);
        }
      }
    }
  }

  /** Each file the model knows against the real file's bytes (MAP_SHARED write-back). */
  checkFiles(): void {
    for (const file of this.model.files.values()) {
      if (file.data === null) continue;
      const actual = new Uint8Array(file.source.size());
      file.source.read(0, actual);
      const at = actual.length === file.data.length ? firstDifference(actual, file.data) : 0;
      if (at >= 0) this.problem(`a file holds ${actual[at]} at byte ${at}, the model expects ${file.data[at]} (sizes ${actual.length}, ${file.data.length})`);
    }
  }

  /** Grows the memory as the guest would (memory.grow from the guest, not the host): foreign pages. */
  guestGrow(wasmPages: number): number {
    return this.realGrow(wasmPages);
  }

  /** Throws with every disagreement and the calls that led to the first. */
  assertAgrees(): void {
    if (this.problems.length === 0) return;
    const tail = this.steps.slice(-12).map((s) => `  ${s.call}(${s.args.join(", ")}) = ${s.result}`);
    throw new Error(`the engine disagrees with the page model:\n${this.problems.join("\n")}\nlast calls:\n${tail.join("\n")}`);
  }
}

/** The fields that differ between two snapshots, as "name: before -> after". */
function changedFields(before: Record<string, unknown>, after: Record<string, unknown>, prefix = ""): string {
  const changes: string[] = [];
  for (const key of Object.keys(after)) {
    const [a, b] = [before[key], after[key]];
    if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
      const nested = changedFields(a as Record<string, unknown>, b as Record<string, unknown>, `${prefix}${key}.`);
      if (nested !== "") changes.push(nested);
    } else if (a !== b) {
      changes.push(`${prefix}${key}: ${String(a)} -> ${String(b)}`);
    }
  }
  return changes.join(", ");
}

/** Watches an attached instance through its trace hook (after any hook it has already). */
export function watch(mman: Mman, options: OracleOptions = {}): Oracle {
  const oracle = new Oracle(mman, options);
  const previous = mman.calls.trace;
  mman.setTrace(previous === null ? oracle.hook : (record) => {
    previous(record);
    oracle.hook(record);
  });
  return oracle;
}

/**
 * A createMman that watches every instance it makes from the moment it is attached, for
 * drivers that build and attach the instance themselves (test/c-helpers.ts runC).
 */
export function watchingCreateMman(onWatch: (oracle: Oracle) => void, options: OracleOptions = {}): typeof createMman {
  return (mmanOptions: MmanOptions = {}) => {
    const mman = createMman(mmanOptions);
    const growth = typeof mmanOptions.growth === "string" ? mmanOptions.growth : undefined;
    return {
      ...mman,
      attach(target) {
        const info = mman.attach(target);
        onWatch(watch(mman, { maxMemoryBytes: mmanOptions.maxMemoryBytes, growth, ...options }));
        return info;
      },
    };
  };
}

/**
 * For test files whose guests make their own calls: returns a watch() that also registers the
 * oracle, and after each test every oracle registered in it must agree with its engine.
 */
export function agreeAfterEach(afterEach: (hook: () => void) => void): (mman: Mman, options?: OracleOptions) => Oracle {
  const watched: Oracle[] = [];
  afterEach(() => {
    for (const oracle of watched.splice(0)) oracle.assertAgrees();
  });
  return (mman, options) => {
    const oracle = watch(mman, options);
    watched.push(oracle);
    return oracle;
  };
}
