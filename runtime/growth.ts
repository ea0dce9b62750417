/**
 * How the engine grows linear memory. memory.grow costs hundreds of microseconds a call on
 * our machines whatever the size (../shared/NOTES.md), so the default grows in chunks that scale
 * with the memory.
 */
import { WASM_PAGE_SIZE } from "./linux.js";
import type { LinearMemory } from "./memory.js";
import type { SharedRegion } from "./shared-state.js";
import type { Counters } from "./statistics.js";

export type GrowthOption =
  | "exact"
  | "geometric"
  | { kind: "exact" }
  | { kind: "geometric"; ratio?: number; minChunkBytes?: number; maxChunkBytes?: number };

export interface GrowthPolicy {
  readonly kind: "exact" | "geometric";
  /** Geometric: grow by at least this fraction of the current memory. */
  readonly ratio: number;
  readonly minChunkBytes: number;
  readonly maxChunkBytes: number;
}

/**
 * The default: at least 1/16 of the memory a step, from 64 KiB, without an upper cap, so that
 * growing to any size takes O(log size) memory.grow calls (about 140 from 1 MiB to 4 GiB) while
 * what a step grows beyond the need stays under 1/16 of memory. Measured on the real programs
 * of bench/real-programs.ts against the first engine's 1/4 capped at 8 MiB: peak linear memory
 * within 3% either way (Lua 50.1 against 52.2 MiB under oldmalloc, cJSON 85.8 against 83.5
 * under mallocng), 40 to 80 grow calls instead of 23 to 29 (each about 0.2 ms).
 */
export const DEFAULT_GROWTH: GrowthPolicy = {
  kind: "geometric",
  ratio: 1 / 16,
  minChunkBytes: WASM_PAGE_SIZE,
  maxChunkBytes: 2 ** 32,
};

/** Normalises the user's option; throws a readable error for a bad one. */
export function growthPolicy(option: GrowthOption | undefined): GrowthPolicy {
  if (option === undefined || option === "geometric") return DEFAULT_GROWTH;
  if (option === "exact") return { ...DEFAULT_GROWTH, kind: "exact" };
  if (typeof option === "object" && option !== null) {
    if (option.kind === "exact") return { ...DEFAULT_GROWTH, kind: "exact" };
    if (option.kind === "geometric") {
      const policy = { ...DEFAULT_GROWTH, ...option, kind: "geometric" as const };
      if (!(policy.ratio > 0 && policy.ratio <= 4)) {
        throw new RangeError(`wasi-mman: growth.ratio must be in (0, 4], got ${String(policy.ratio)}`);
      }
      for (const key of ["minChunkBytes", "maxChunkBytes"] as const) {
        const value = policy[key];
        if (!Number.isInteger(value) || value < WASM_PAGE_SIZE) {
          throw new RangeError(`wasi-mman: growth.${key} must be a whole number of bytes >= 65536, got ${String(value)}`);
        }
      }
      if (policy.minChunkBytes > policy.maxChunkBytes) {
        throw new RangeError("wasi-mman: growth.minChunkBytes must not exceed growth.maxChunkBytes");
      }
      return policy;
    }
  }
  throw new RangeError(`wasi-mman: growth must be "exact" or "geometric", got ${JSON.stringify(option)}`);
}

/** Wasm pages to ask for when `neededWasmPages` are missing and the memory has `currentWasmPages`. */
export function chunkFor(policy: GrowthPolicy, neededWasmPages: number, currentWasmPages: number): number {
  if (policy.kind === "exact") return neededWasmPages;
  const scaled = Math.ceil(currentWasmPages * policy.ratio);
  const min = policy.minChunkBytes / WASM_PAGE_SIZE;
  const max = Math.floor(policy.maxChunkBytes / WASM_PAGE_SIZE);
  return Math.max(neededWasmPages, Math.min(max, Math.max(min, scaled)));
}

/**
 * How pages came into existence: "existing" when the engine attached (they may hold data),
 * "grown" by the engine (zero), "foreign" grown by the guest or its host (never ours).
 */
export type PageOrigin = "existing" | "grown" | "foreign";
/** Where new pages are accounted: the facade gives them to the page table and the free runs. */
export type PageSink = (fromPage: number, toPage: number, origin: PageOrigin) => void;

/**
 * Growing linear memory, and noticing growth the engine did not do (the guest's own
 * memory.grow, or its WASI host's). Every memory.grow call is counted.
 */
export class Growth {
  /** Bytes of linear memory the engine has accounted for. */
  knownBytes = 0;

  constructor(
    private readonly policy: GrowthPolicy,
    private readonly pageSize: number,
    private counters: Counters,
    private readonly addPages: PageSink,
  ) {}

  /** Counts into `counters` from now on (a shared address space's: statistics.ts). */
  useCounters(counters: Counters): void {
    this.counters = counters;
  }

  /** Moves the known size into `region` (shared-state.ts). */
  share(region: SharedRegion): void {
    region.bindScalars("growth", this as Growth, ["knownBytes"]);
  }

  /** Accounts for the memory as it is when the engine attaches. */
  attach(memory: LinearMemory): void {
    this.knownBytes = memory.byteLength();
    this.addPages(0, this.knownBytes / this.pageSize, "existing");
  }

  /** Accounts for memory that grew without us since the last look. Returns true when it had. */
  adoptForeign(memory: LinearMemory): boolean {
    const bytes = memory.byteLength();
    if (bytes === this.knownBytes) return false;
    const from = this.knownBytes / this.pageSize;
    this.knownBytes = bytes;
    this.addPages(from, bytes / this.pageSize, "foreign");
    return true;
  }

  /**
   * Grows memory until pages [0, endPage) exist, never past `limitPage` nor `ceilingBytes` (the
   * most linear memory may reach: maxMemoryBytes, at most 4 GiB). Pages grown past the limit
   * page (the last libc page below 4 GiB) are kept back by the caller. Returns false,
   * changing nothing the engine hands out, when that is impossible: beyond the limit, the
   * declared maximum, or a refused allocation (ENOMEM for the caller). The caller has adopted
   * foreign growth first.
   */
  growTo(memory: LinearMemory, endPage: number, limitPage: number, ceilingBytes: number): boolean {
    const owned = this.knownBytes / this.pageSize;
    if (endPage <= owned) return true;
    if (endPage > limitPage) return false;
    const currentWasmPages = this.knownBytes / WASM_PAGE_SIZE;
    const neededWasmPages = Math.ceil((endPage * this.pageSize - this.knownBytes) / WASM_PAGE_SIZE);
    const roomWasmPages = Math.floor(ceilingBytes / WASM_PAGE_SIZE) - currentWasmPages;
    if (neededWasmPages > roomWasmPages) return false;
    const chunk = Math.min(roomWasmPages, chunkFor(this.policy, neededWasmPages, currentWasmPages));
    const c = this.counters;
    c.growCalls++;
    let old = memory.grow(chunk);
    let grown = chunk;
    if (old < 0 && chunk > neededWasmPages) {
      // The chunk ran into the declared maximum (not visible from JavaScript): ask for the need.
      c.growCalls++;
      old = memory.grow(neededWasmPages);
      grown = neededWasmPages;
    }
    if (old < 0) {
      c.growFailures++;
      return false;
    }
    const oldBytes = old * WASM_PAGE_SIZE;
    if (oldBytes !== this.knownBytes) {
      // Someone grew the memory between our look and our grow: theirs is foreign.
      this.addPages(this.knownBytes / this.pageSize, oldBytes / this.pageSize, "foreign");
    }
    const newBytes = oldBytes + grown * WASM_PAGE_SIZE;
    this.knownBytes = newBytes;
    c.grownBytes += grown * WASM_PAGE_SIZE;
    // Fresh pages from memory.grow are zero (WebAssembly core spec, memory.grow): clean.
    this.addPages(oldBytes / this.pageSize, newBytes / this.pageSize, "grown");
    return newBytes / this.pageSize >= endPage;
  }
}
