/**
 * A run's memory map, call by call, in little memory: the demo page and `wasi-mman run
 * --html` record one while the program runs, and step through it afterwards.
 *
 * The recording is a list of steps: step 0 is the map right after the memory calls attached,
 * step s the map after the s-th recorded call. Each step keeps only the runs of pages whose
 * kind changed ([first, end, kind] triples), so a run of 600 calls over 100,000 pages costs a
 * few kilobytes. Taking a map costs one pass over the pages (AddressSpace.pageKinds()); when a
 * run makes so many calls that this would take long, the recorder takes a map every 2nd, 4th,
 * ... call instead, and the step says which calls it covers. Imports nothing: it runs in
 * browsers and in Node.
 */

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

/**
 * Takes the maps of a run as it goes: `start()` once the calls are attached, `afterCall()`
 * from the trace hook, `finish()` at the end. `kinds()` reads the engine's map
 * (mman.space.pageKinds()).
 */
export class MapRecorder {
  readonly timeline = new Timeline();
  /** Calls per recorded step (1 unless the run was long). */
  stride = 1;
  private calls = 0;
  private pending = 0;
  private work = 0;
  private budget = WORK_BUDGET;

  constructor(private readonly kinds: () => Uint8Array) {}

  /** The map before the first call. */
  start(): void {
    this.snapshot();
  }

  /** After each call the trace hook sees. */
  afterCall(): void {
    this.calls++;
    if (++this.pending >= this.stride) this.snapshot();
  }

  /**
   * The map after the last call, and the map at the end when the program grew memory itself
   * after that call. Returns the map at the end.
   */
  finish(): Uint8Array {
    if (this.pending > 0) this.snapshot();
    const kinds = this.kinds();
    if (this.timeline.steps.length > 0 && this.timeline.differs(kinds)) this.timeline.push(kinds, this.calls - 1, true);
    return kinds;
  }

  private snapshot(): void {
    const kinds = this.kinds();
    this.timeline.push(kinds, this.calls - 1);
    this.pending = 0;
    this.work += 2 * kinds.length;
    if (this.work > this.budget) {
      this.stride *= 2;
      this.budget *= 2;
    }
  }
}
