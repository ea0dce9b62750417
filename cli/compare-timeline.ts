/**
 * The mapped-vs-requested timeline of one run, sampled from the trace hook in bounded memory.
 *
 * A run may make millions of calls; the chart needs a few hundred points. Each call lands in
 * a bucket of `stride` calls; a bucket keeps its sample with the most mapped bytes (so the
 * peak survives), and when the buffer holds twice the wanted number of points, neighbouring
 * points merge the same way and the stride doubles. Memory stays O(points) and each call
 * costs O(1) amortised.
 */
import type { Sample } from "./compare-report.js";

export class Timeline {
  private samples: Sample[] = [{ calls: 0, timeMs: 0, mappedBytes: 0, requestedBytes: 0 }];
  private calls = 0;
  private stride = 1;
  private inBucket = 0;
  private bucket: Sample | null = null;

  constructor(private readonly points = 500) {}

  /** Records the state after one more call (linear memory too, when given). */
  add(timeMs: number, mappedBytes: number, requestedBytes: number, linearMemoryBytes?: number): void {
    const calls = ++this.calls;
    if (this.bucket === null || mappedBytes >= this.bucket.mappedBytes) {
      this.bucket = linearMemoryBytes === undefined ? { calls, timeMs, mappedBytes, requestedBytes } : { calls, timeMs, mappedBytes, requestedBytes, linearMemoryBytes };
    }
    if (++this.inBucket < this.stride) return;
    this.samples.push(this.bucket);
    this.bucket = null;
    this.inBucket = 0;
    if (this.samples.length >= 2 * this.points) this.halve();
  }

  private halve(): void {
    const merged: Sample[] = [this.samples[0]];
    for (let i = 1; i < this.samples.length; i += 2) {
      const a = this.samples[i];
      const b = this.samples[i + 1];
      merged.push(b === undefined || a.mappedBytes > b.mappedBytes ? a : b);
    }
    this.samples = merged;
    this.stride *= 2;
  }

  /** The samples, ending with the state at `endMs` (the run's end). */
  finish(endMs: number, mappedBytes: number, requestedBytes: number, linearMemoryBytes?: number): Sample[] {
    const result = this.bucket === null ? [...this.samples] : [...this.samples, this.bucket];
    result.push(linearMemoryBytes === undefined ? { calls: this.calls, timeMs: endMs, mappedBytes, requestedBytes } : { calls: this.calls, timeMs: endMs, mappedBytes, requestedBytes, linearMemoryBytes });
    return result;
  }
}
