/**
 * How the engine grows linear memory. memory.grow costs hundreds of microseconds a call on
 * our machines whatever the size (../shared/NOTES.md), so the default grows in chunks that scale
 * with the memory, capped so a large memory does not double at once.
 */
import { WASM_PAGE_SIZE } from "./linux.js";

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

export const DEFAULT_GROWTH: GrowthPolicy = {
  kind: "geometric",
  ratio: 0.25,
  minChunkBytes: WASM_PAGE_SIZE,
  maxChunkBytes: 8 * 1024 * 1024,
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
