/**
 * Statistics: counters the engine bumps as it works, and the peaks it notes after each change.
 * Every figure is kept up to date as it changes, so reading them costs O(1) and changes
 * nothing (stats() never flushes, syncs or clears anything).
 */
import type { SharedRegion } from "./shared-state.js";

export interface Counters {
  growCalls: number;
  growFailures: number;
  grownBytes: number;
  liveMappings: number;
  mappedPages: number;
  requestedBytes: number;
  /** Pages the guest (or its WASI host) grew itself. */
  foreignPages: number;
  peakLiveMappings: number;
  peakMappedBytes: number;
  requestedAtPeakMapped: number;
  peakRequestedBytes: number;
  peakBrkBytes: number;
  peakMemoryBytes: number;
  cumulativeMappedBytes: number;
  cumulativeRequestedBytes: number;
  /** Bytes written to make reused pages read as zeros (only bytes that were not zero). */
  clearedBytes: number;
  /** Bytes of reused pages looked at before clearing (dirty pages handed out again). */
  checkedBytes: number;
  /** brk calls that asked for more and were refused (a mapping, foreign pages or the limit in the way). */
  brkRefusals: number;
  writeBackFailures: number;
}

export function newCounters(): Counters {
  return {
    growCalls: 0,
    growFailures: 0,
    grownBytes: 0,
    liveMappings: 0,
    mappedPages: 0,
    requestedBytes: 0,
    foreignPages: 0,
    peakLiveMappings: 0,
    peakMappedBytes: 0,
    requestedAtPeakMapped: 0,
    peakRequestedBytes: 0,
    peakBrkBytes: 0,
    peakMemoryBytes: 0,
    cumulativeMappedBytes: 0,
    cumulativeRequestedBytes: 0,
    clearedBytes: 0,
    checkedBytes: 0,
    brkRefusals: 0,
    writeBackFailures: 0,
  };
}

const COUNTER_KEYS = Object.keys(newCounters()) as (keyof Counters)[];

/** Counters over shared slots: the accessors live on the class, so each bump is an inlined element access. */
class SharedCounters {
  constructor(readonly slots: Float64Array) {}
}
COUNTER_KEYS.forEach((key, i) => {
  Object.defineProperty(SharedCounters.prototype, key, {
    get(this: SharedCounters) {
      return this.slots[i];
    },
    set(this: SharedCounters, value: number) {
      this.slots[i] = value;
    },
    enumerable: true,
  });
});

export class Statistics {
  counters: Counters = newCounters();

  constructor(private readonly pageSize: number) {}

  /**
   * Moves every counter into `region` (shared-state.ts): the figures are the whole process's.
   * The counters become a new object whose class has one accessor per counter over a shared
   * Float64Array (own accessors on the old object made every bump a slow lookup: 19% of a
   * shared mmap + munmap pair in a profile). Parts holding the old object take the new one.
   */
  share(region: SharedRegion): Counters {
    const slots = region.float64("counters", COUNTER_KEYS.length);
    if (region.creating) COUNTER_KEYS.forEach((key, i) => (slots[i] = this.counters[key]));
    this.counters = new SharedCounters(slots) as unknown as Counters;
    return this.counters;
  }

  /** A mapping of `pages` pages and `requestedBytes` asked-for bytes came into being. */
  mapped(pages: number, requestedBytes: number): void {
    const c = this.counters;
    c.liveMappings++;
    c.mappedPages += pages;
    c.requestedBytes += requestedBytes;
    c.cumulativeMappedBytes += pages * this.pageSize;
    c.cumulativeRequestedBytes += requestedBytes;
  }

  /** A mapping record went away (its pages were unmapped or moved). */
  unmapped(pages: number, requestedBytes: number): void {
    const c = this.counters;
    c.liveMappings--;
    c.mappedPages -= pages;
    c.requestedBytes -= requestedBytes;
  }

  /** A mapping changed length in place (mremap, a partial munmap of its end). */
  resized(pageDelta: number, requestedDelta: number): void {
    const c = this.counters;
    c.mappedPages += pageDelta;
    c.requestedBytes += requestedDelta;
    if (pageDelta > 0) {
      // Growth in place grants the added pages: count what was added, mapped and requested.
      c.cumulativeMappedBytes += pageDelta * this.pageSize;
      c.cumulativeRequestedBytes += Math.max(0, requestedDelta);
    }
  }

  notePeaks(memoryBytes: number, brkBytes: number): void {
    const c = this.counters;
    const mappedBytes = c.mappedPages * this.pageSize;
    if (mappedBytes > c.peakMappedBytes) {
      c.peakMappedBytes = mappedBytes;
      c.requestedAtPeakMapped = c.requestedBytes;
    }
    if (c.requestedBytes > c.peakRequestedBytes) c.peakRequestedBytes = c.requestedBytes;
    if (c.liveMappings > c.peakLiveMappings) c.peakLiveMappings = c.liveMappings;
    if (memoryBytes > c.peakMemoryBytes) c.peakMemoryBytes = memoryBytes;
    if (brkBytes > c.peakBrkBytes) c.peakBrkBytes = brkBytes;
  }
}
