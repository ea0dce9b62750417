/**
 * Test helpers: an mman instance over an ArrayBuffer-backed memory (no wasm needed), with
 * small accessors for the page-size-relative arithmetic the tests use.
 */
import { ArrayLinearMemory, createMman, type Mman, type MmanOptions } from "../../index.js";

export const PAGE_SIZES = [4096, 16384, 65536] as const;

export const PROT_RW = 3;
export const MAP_ANON = 0x22; // MAP_PRIVATE | MAP_ANONYMOUS
export const MAP_FIXED = 0x10;
export const MAP_FIXED_NOREPLACE = 0x100000;

export interface TestSpace {
  mman: Mman;
  memory: ArrayLinearMemory;
  page: number;
  heapBase: number;
  bytes(): Uint8Array;
}

/** A fresh instance: `initialWasmPages` of memory, `maxWasmPages` as the declared maximum. */
export function testSpace(
  page: number,
  options: Omit<MmanOptions, "pageSize"> & { initialWasmPages?: number; maxWasmPages?: number; heapBase?: number } = {},
): TestSpace {
  const { initialWasmPages = 2, maxWasmPages = 1024, heapBase = 70_000, ...rest } = options;
  const mman = createMman({ pageSize: page, onWarning: () => {}, ...rest });
  const memory = new ArrayLinearMemory(initialWasmPages, maxWasmPages);
  mman.attach({ memory, heapBase });
  return { mman, memory, page, heapBase, bytes: () => memory.bytes() };
}

/** mmap of anonymous private read-write memory anywhere. */
export function mapAnon(t: TestSpace, length: number): number {
  return t.mman.calls.mmap(0, length, PROT_RW, MAP_ANON, -1, 0);
}

/** A file over a byte array, for file-backed mappings (a MappableFile). */
export function memoryFile(
  data: Uint8Array,
  options: { writable?: boolean; write?: (offset: number, bytes: Uint8Array) => void } = {},
) {
  return {
    identity: {},
    readable: true,
    writable: options.writable ?? true,
    regular: true,
    size: () => data.length,
    read(offset: number, target: Uint8Array) {
      const n = Math.max(0, Math.min(target.length, data.length - offset));
      target.set(data.subarray(offset, offset + n));
      return n;
    },
    write: options.write ?? ((offset: number, bytes: Uint8Array) => data.set(bytes, offset)),
  };
}
