/**
 * Running one fixture in the page, and recording how its memory map changed call by call.
 *
 * The recording is a list of steps: step 0 is the map right after the memory calls attached,
 * step s the map after the s-th recorded call. Each step keeps only the runs of pages whose
 * kind changed ([first, end, kind] triples), so a run of 600 calls over 100,000 pages costs a
 * few kilobytes. Taking a map costs one pass over the pages (AddressSpace.pageKinds()); when a
 * run makes so many calls that this would take long, the recorder takes a map every 2nd, 4th,
 * ... call instead, and the step says which calls it covers.
 */
import { ConsoleStdout, File, OpenFile, PreopenDirectory, WASI, WASIProcExit, type Fd, type Inode } from "@bjorn3/browser_wasi_shim";
import { createMman, instantiateWithMman, shimFileResolver, type Mman, type MmanStats, type TraceRecord } from "../browser.js";
import type { DemoFixture } from "./catalogue.js";

/** A page beyond the end of linear memory at that step (memory grows during a run). */
export const OUTSIDE = 255;

/** Pages compared before the recorder starts taking every 2nd map (then 4th, ...). */
const WORK_BUDGET = 150_000_000;
/** A copy of the whole map is kept every this many steps, so seeking back stays cheap. */
const KEYFRAME_EVERY = 128;

export interface Step {
  /** Index in `records` of the last call this step covers (-1 for step 0). */
  lastRecord: number;
  /**
   * The map at the end of the run, when it differs from the map after the last call: the
   * program grew memory itself afterwards (a libc whose malloc calls memory.grow directly
   * makes no call at all, and its whole heap appears here).
   */
  end?: boolean;
  /** Runs of pages that changed: first page, end page (exclusive), new kind; repeated. */
  changes: Int32Array;
}

export class Timeline {
  readonly steps: Step[] = [];
  /** Pages in the largest map (memory never shrinks, so the last one). */
  pages = 0;
  private previous: Uint8Array = new Uint8Array(0);
  private current = new Uint8Array(0);
  private currentStep = -1;
  private readonly keyframes = new Map<number, Uint8Array>();

  /** A timeline recorded elsewhere (the run's worker), from its steps. */
  static fromSteps(steps: Step[], pages: number): Timeline {
    const timeline = new Timeline();
    timeline.steps.push(...steps);
    timeline.pages = pages;
    return timeline;
  }

  /** Whether `kinds` differs from the last map recorded. */
  differs(kinds: Uint8Array): boolean {
    const previous = this.previous;
    return kinds.length !== previous.length || kinds.some((kind, page) => kind !== previous[page]);
  }

  /** Records a map; `lastRecord` is the index of the last call it follows. */
  push(kinds: Uint8Array, lastRecord: number, end = false): void {
    const changes: number[] = [];
    const previous = this.previous;
    let page = 0;
    while (page < kinds.length) {
      const before = page < previous.length ? previous[page] : OUTSIDE;
      if (before === kinds[page]) {
        page++;
        continue;
      }
      const kind = kinds[page];
      const first = page;
      while (page < kinds.length && kinds[page] === kind && (page < previous.length ? previous[page] : OUTSIDE) !== kind) page++;
      changes.push(first, page, kind);
    }
    this.steps.push({ lastRecord, changes: Int32Array.from(changes), ...(end ? { end } : {}) });
    this.previous = kinds;
    this.pages = Math.max(this.pages, kinds.length);
  }

  /** The map at step `target` (a view that the next call may change). */
  at(target: number): Uint8Array {
    if (this.current.length !== this.pages) {
      this.current = new Uint8Array(this.pages).fill(OUTSIDE);
      this.currentStep = -1;
    }
    if (this.steps.length === 0) return this.current;
    const step = Math.max(0, Math.min(target, this.steps.length - 1));
    if (step < this.currentStep) {
      // Back to the nearest keyframe at or before the step (step 0 needs none).
      let from = step - (step % KEYFRAME_EVERY);
      while (from > 0 && !this.keyframes.has(from)) from -= KEYFRAME_EVERY;
      const frame = this.keyframes.get(from);
      if (frame !== undefined) {
        this.current.set(frame);
        this.currentStep = from;
      } else {
        this.current.fill(OUTSIDE);
        this.currentStep = -1;
      }
    }
    for (let s = this.currentStep + 1; s <= step; s++) {
      const changes = this.steps[s].changes;
      for (let i = 0; i < changes.length; i += 3) this.current.fill(changes[i + 2], changes[i], changes[i + 1]);
      if (s % KEYFRAME_EVERY === 0 && s > 0 && !this.keyframes.has(s)) this.keyframes.set(s, this.current.slice());
    }
    this.currentStep = step;
    return this.current;
  }
}

export interface RunOutcome {
  fixture: DemoFixture;
  pageSize: number;
  exitCode: number | null;
  /** A trap, a host error or an import mismatch, as one line; null when the program ran. */
  error: string | null;
  stdout: string;
  records: TraceRecord[];
  /** Null when the run was made without recording (the page-size sweep). */
  timeline: Timeline | null;
  /** Calls per recorded step at the end of the run (1 unless the run was long). */
  stride: number;
  stats: MmanStats;
  /** The engine's own map at the end: one PageKind per page. */
  kinds: Uint8Array;
  /** The first broken invariant at the end of the run, or null. */
  invariantError: string | null;
  /** Text files of the preopened directory after the run (write-back of shared mappings). */
  files: Record<string, string>;
  /** The live engine, when the run happened in this thread (not in the page's worker). */
  mman?: Mman;
}

/** What the worker sends back: a RunOutcome without the engine, the timeline as its steps. */
export interface WorkerReply {
  outcome: Omit<RunOutcome, "timeline" | "mman">;
  steps: Step[] | null;
  pages: number;
}

/** A RunOutcome as a message: the typed arrays are transferred, not copied. */
export function toReply(outcome: RunOutcome): { reply: WorkerReply; transfer: ArrayBuffer[] } {
  const { timeline, mman: _mman, ...rest } = outcome;
  const steps = timeline?.steps ?? null;
  const transfer = [rest.kinds.buffer as ArrayBuffer, ...(steps ?? []).map((step) => step.changes.buffer as ArrayBuffer)];
  return { reply: { outcome: rest, steps, pages: timeline?.pages ?? 0 }, transfer };
}

export function fromReply(reply: WorkerReply): RunOutcome {
  return { ...reply.outcome, timeline: reply.steps === null ? null : Timeline.fromSteps(reply.steps, reply.pages) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs `fixture` (its bytes) at `pageSize`; records a timeline unless `record` is false. */
export async function runFixture(fixture: DemoFixture, bytes: Uint8Array<ArrayBuffer>, pageSize: number, record = true): Promise<RunOutcome> {
  let stdout = "";
  const dirFiles = new Map<string, File>();
  for (const [name, text] of Object.entries(fixture.files ?? {})) dirFiles.set(name, new File(encoder.encode(text)));
  const fds: Fd[] = [
    new OpenFile(new File([])),
    ConsoleStdout.lineBuffered((line) => (stdout += `${line}\n`)),
    ConsoleStdout.lineBuffered((line) => (stdout += `${line}\n`)),
  ];
  if (fixture.files !== undefined) fds.push(new PreopenDirectory("/", dirFiles as Map<string, Inode>));
  const wasi = new WASI(fixture.run.kind === "command" ? fixture.run.args : [fixture.id], [], fds, { debug: false });

  const records: TraceRecord[] = [];
  const timeline = record ? new Timeline() : null;
  let stride = 1;
  let pending = 0;
  let work = 0;
  let budget = WORK_BUDGET;
  const snapshot = (): void => {
    if (timeline === null) return;
    const kinds = mman.space.pageKinds();
    timeline.push(kinds, records.length - 1);
    pending = 0;
    work += 2 * kinds.length;
    if (work > budget) {
      stride *= 2;
      budget *= 2;
    }
  };
  const mman: Mman = createMman({
    pageSize,
    files: shimFileResolver(wasi),
    onWarning: (message) => (stdout += `[wasi-mman] ${message}\n`),
    trace: (rec) => {
      records.push(rec);
      if (++pending >= stride) snapshot();
    },
  });

  let exitCode: number | null = null;
  let error: string | null = null;
  try {
    const env = {
      abort(_message: number, _file: number, line: number, column: number): never {
        throw new Error(`the program aborted at ${line}:${column}`);
      },
    };
    const instantiated = await instantiateWithMman(bytes, { wasi_snapshot_preview1: wasi.wasiImport as WebAssembly.ModuleImports }, { mman, imports: { env } });
    snapshot();
    const view = instantiated.wasiView as unknown as Parameters<WASI["start"]>[0];
    if (fixture.run.kind === "command") {
      exitCode = wasi.start(view);
    } else {
      try {
        wasi.initialize(view);
        const exported = instantiated.instance.exports[fixture.run.call];
        if (typeof exported !== "function") throw new Error(`the module exports no function "${fixture.run.call}"`);
        (exported as (...args: number[]) => unknown)(...fixture.run.args);
      } catch (caught) {
        if (!(caught instanceof WASIProcExit)) throw caught;
        exitCode = caught.code;
      }
    }
  } catch (caught) {
    error = caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught);
  }
  if (pending > 0) snapshot();
  const finalKinds = mman.space.pageKinds();
  if (timeline !== null && timeline.steps.length > 0 && timeline.differs(finalKinds)) timeline.push(finalKinds, records.length - 1, true);

  let invariantError: string | null = null;
  try {
    mman.checkInvariants();
  } catch (caught) {
    invariantError = (caught as Error).message;
  }
  const files: Record<string, string> = {};
  for (const [name, file] of dirFiles) files[name] = decoder.decode(file.data);
  return {
    fixture,
    pageSize,
    exitCode,
    error,
    stdout,
    records,
    timeline,
    stride,
    stats: mman.stats(),
    kinds: finalKinds,
    invariantError,
    files,
    mman,
  };
}
