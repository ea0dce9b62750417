/**
 * Running one fixture in the page, and recording how its memory map changed call by call
 * (cli/map-steps.ts: the steps, and the recorder `wasi-mman run --html` uses too).
 */
import { ConsoleStdout, File, OpenFile, PreopenDirectory, WASI, WASIProcExit, type Fd, type Inode } from "@bjorn3/browser_wasi_shim";
import { createMman, instantiateWithMman, shimFileResolver, type Mman, type MmanStats, type TraceRecord } from "../browser.js";
import { MapRecorder, Timeline, type Step } from "../cli/map-steps.js";
import type { DemoFixture } from "./catalogue.js";

export { OUTSIDE, Timeline, type Step } from "../cli/map-steps.js";

/** What the demo takes from wasi-mman-guard.js (guard/browser.ts, built next to the page). */
interface GuardBundle {
  instrument(bytes: Uint8Array): { bytes: Uint8Array<ArrayBuffer> };
  createGuardedMman(options: Parameters<typeof createMman>[0]): Mman & { guard: { summary(error: unknown): GuardFault | null } };
}

/** A `--guard` fault as the demo shows it (guard/report.ts FaultSummary, in part). */
export interface GuardFault {
  address: number;
  page: number;
  access: string;
  size: number;
  what: string;
  text: string;
}

/**
 * The guard, loaded the first time a run asks for it: Binaryen is 15 MB, so the page and the
 * worker never load it otherwise. The URL is computed, so the bundler leaves the import alone.
 */
let guardBundle: Promise<GuardBundle> | null = null;
function loadGuard(): Promise<GuardBundle> {
  guardBundle ??= import(/* @vite-ignore */ new URL("./wasi-mman-guard.js", import.meta.url).href) as Promise<GuardBundle>;
  return guardBundle;
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
  /** The access the guard stopped the run at (a run with `guard`), or null. */
  fault: GuardFault | null;
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

/**
 * Runs `fixture` (its bytes) at `pageSize`; records a timeline unless `record` is false. With
 * `guard`, the module is instrumented and runs on a guarded engine, as `run --guard` runs it:
 * the first access to memory it may not touch stops it, and the outcome holds the fault.
 */
export async function runFixture(fixture: DemoFixture, bytes: Uint8Array<ArrayBuffer>, pageSize: number, record = true, guard = false): Promise<RunOutcome> {
  const guarded = guard ? await loadGuard() : null;
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
  const recorder = record ? new MapRecorder(() => mman.space.pageKinds()) : null;
  const mman = (guarded?.createGuardedMman ?? createMman)({
    pageSize,
    files: shimFileResolver(wasi),
    onWarning: (message) => (stdout += `[wasi-mman] ${message}\n`),
    trace: (rec) => {
      records.push(rec);
      recorder?.afterCall();
    },
  });

  let exitCode: number | null = null;
  let error: string | null = null;
  let fault: GuardFault | null = null;
  try {
    const env = {
      abort(_message: number, _file: number, line: number, column: number): never {
        throw new Error(`the program aborted at ${line}:${column}`);
      },
    };
    const instantiated = await instantiateWithMman(guarded === null ? bytes : guarded.instrument(bytes).bytes, { wasi_snapshot_preview1: wasi.wasiImport as WebAssembly.ModuleImports }, { mman, imports: { env } });
    recorder?.start();
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
    fault = guarded === null || !(caught instanceof WebAssembly.RuntimeError) ? null : (mman as ReturnType<GuardBundle["createGuardedMman"]>).guard.summary(caught);
    // As run --guard ends: SIGSEGV's status.
    if (fault !== null) exitCode = 139;
  }
  const finalKinds = recorder?.finish() ?? mman.space.pageKinds();

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
    timeline: recorder?.timeline ?? null,
    stride: recorder?.stride ?? 1,
    stats: mman.stats(),
    kinds: finalKinds,
    invariantError,
    files,
    mman,
    fault,
  };
}
