/**
 * The libc page size, validated once; its shift and mask are derived here and nowhere else.
 * (musl derives PGSZ once; wasmtime keeps page_size_log2.)
 */
import { WASM_PAGE_SIZE } from "./linux.js";

export const MIN_PAGE_SIZE = 4096;
export const MAX_PAGE_SIZE = WASM_PAGE_SIZE;
export const DEFAULT_PAGE_SIZE = 4096;

export interface PageGeometry {
  /** Bytes per libc page: a power of two from 4 KiB to 64 KiB. */
  readonly size: number;
  /** log2(size): `addr >>> shift` is a page index (safe below 2^32; see pageOf for larger). */
  readonly shift: number;
  /** size - 1: `addr & mask` is the offset inside the page. */
  readonly mask: number;
  /** libc pages per 64 KiB wasm page. */
  readonly perWasmPage: number;
}

/** Validates a page size; throws a RangeError that says what is allowed. */
export function pageGeometry(size: number): PageGeometry {
  if (!Number.isInteger(size) || size < MIN_PAGE_SIZE || size > MAX_PAGE_SIZE || (size & (size - 1)) !== 0) {
    throw new RangeError(
      `wasi-mman: page size must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE} bytes, got ${String(size)}`,
    );
  }
  const shift = 31 - Math.clz32(size);
  return { size, shift, mask: size - 1, perWasmPage: WASM_PAGE_SIZE / size };
}

/**
 * Parses a page size written as bytes or with a k suffix ("4k", "16K", "65536").
 * Returns NaN when the text is not a number; pageGeometry() then rejects it with its message.
 */
export function parsePageSize(text: string): number {
  const match = /^\s*(\d+)\s*([kK])?\s*$/.exec(text);
  if (!match) return Number.NaN;
  return Number(match[1]) * (match[2] ? 1024 : 1);
}
