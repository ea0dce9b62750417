/**
 * The `mman` import module, ABI version 1 (docs/abi.md; ../shared/ABI.md): one import per call,
 * pointers and lengths as unsigned 32-bit values in wasm i32, mmap's offset as i64 (a BigInt in
 * JavaScript), results as i32 with -errno in [-4095, -1].
 *
 * This file only converts: i32 arguments to unsigned numbers, the BigInt offset to a number,
 * and results back to i32. It never throws into the guest: a throw here would be a bug in the
 * host, reported through `onHostError`, and the guest gets -ENOMEM (brk: the current break).
 */
import { Errno } from "../runtime/linux.js";
import type { MemoryCalls } from "./calls.js";

export const MMAN_MODULE = "mman";
export const MMAN_ABI_VERSION = 1;

/** The wasm signature of each import, as [params, results] in wasm value types. */
export const MMAN_SIGNATURES = {
  brk: [["i32"], ["i32"]],
  mmap: [["i32", "i32", "i32", "i32", "i32", "i64"], ["i32"]],
  munmap: [["i32", "i32"], ["i32"]],
  mremap: [["i32", "i32", "i32", "i32", "i32"], ["i32"]],
  madvise: [["i32", "i32", "i32"], ["i32"]],
  mprotect: [["i32", "i32", "i32"], ["i32"]],
  msync: [["i32", "i32", "i32"], ["i32"]],
  pagesize: [[], ["i32"]],
} as const satisfies Record<string, readonly [readonly string[], readonly string[]]>;
export type MmanImportName = keyof typeof MMAN_SIGNATURES;

export interface MmanImports extends WebAssembly.ModuleImports {
  brk(address: number): number;
  mmap(address: number, length: number, prot: number, flags: number, fd: number, offset: bigint): number;
  munmap(address: number, length: number): number;
  mremap(oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number): number;
  madvise(address: number, length: number, advice: number): number;
  mprotect(address: number, length: number, prot: number): number;
  msync(address: number, length: number, flags: number): number;
  pagesize(): number;
}

/**
 * mmap's i64 offset as a number, as the call and its trace should see it. Offsets within
 * 2^53 convert exactly (mmap() rejects negative and unaligned ones); beyond that, an aligned
 * offset still converts exactly (a multiple of 4096 needs at most 52 significant bits below
 * 2^64) and an unaligned one becomes -1, which mmap() rejects with EINVAL as well.
 */
function offsetArgument(offset: bigint, pageSize: number): number {
  if (offset >= -0x1fffffffffffffn && offset <= 0x1fffffffffffffn) return Number(offset);
  return offset % BigInt(pageSize) === 0n ? Number(offset) : -1;
}

/**
 * The imports, table-driven: each entry converts its arguments and calls the Linux-semantics
 * call; one guard around every entry turns a host bug (a throw) into the call's failure result
 * and a report, so nothing ever throws into the guest.
 */
export function mmanImports(calls: MemoryCalls, onHostError: (error: unknown, call: string) => void): MmanImports {
  const pageSize = (): number => calls.ctx.space.pageSize;
  const entries: { [Name in MmanImportName]: MmanImports[Name] } = {
    brk: (address) => calls.brk(address >>> 0),
    mmap: (address, length, prot, flags, fd, offset) =>
      calls.mmap(address >>> 0, length >>> 0, prot >>> 0, flags >>> 0, fd | 0, offset === 0n ? 0 : offsetArgument(offset, pageSize())),
    munmap: (address, length) => calls.munmap(address >>> 0, length >>> 0),
    mremap: (oldAddress, oldLength, newLength, flags, newAddress) =>
      calls.mremap(oldAddress >>> 0, oldLength >>> 0, newLength >>> 0, flags >>> 0, newAddress >>> 0),
    madvise: (address, length, advice) => calls.madvise(address >>> 0, length >>> 0, advice >>> 0),
    mprotect: (address, length, prot) => calls.mprotect(address >>> 0, length >>> 0, prot >>> 0),
    msync: (address, length, flags) => calls.msync(address >>> 0, length >>> 0, flags >>> 0),
    pagesize: () => calls.pagesize(),
  };
  // What the guest gets when the host fails: brk's current break (its way of failing), else ENOMEM.
  const onFailure = (name: MmanImportName): number => (name === "brk" ? calls.ctx.space.brk.breakAddress : -Errno.ENOMEM);
  type AnyEntry = (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown) => number;
  const imports = {} as Record<MmanImportName, AnyEntry>;
  for (const name of Object.keys(entries) as MmanImportName[]) {
    const entry = entries[name] as AnyEntry;
    // Fixed parameters rather than a rest array: no allocation per call on the hot paths.
    imports[name] = (a, b, c, d, e, f) => {
      try {
        return entry(a, b, c, d, e, f) | 0;
      } catch (error) {
        onHostError(error, name);
        return onFailure(name) | 0;
      }
    };
  }
  return imports as unknown as MmanImports;
}
