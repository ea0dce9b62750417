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

export function mmanImports(calls: MemoryCalls, onHostError: (error: unknown, call: string) => void): MmanImports {
  const pageSize = (): number => calls.ctx.space.pageSize;
  return {
    brk(address) {
      try {
        return calls.brk(address >>> 0) | 0;
      } catch (error) {
        onHostError(error, "brk");
        return calls.ctx.space.breakAddress | 0;
      }
    },
    mmap(address, length, prot, flags, fd, offset) {
      try {
        const offsetNumber = offset === 0n ? 0 : offsetArgument(offset, pageSize());
        return calls.mmap(address >>> 0, length >>> 0, prot >>> 0, flags >>> 0, fd | 0, offsetNumber) | 0;
      } catch (error) {
        onHostError(error, "mmap");
        return -Errno.ENOMEM;
      }
    },
    munmap(address, length) {
      try {
        return calls.munmap(address >>> 0, length >>> 0) | 0;
      } catch (error) {
        onHostError(error, "munmap");
        return -Errno.ENOMEM;
      }
    },
    mremap(oldAddress, oldLength, newLength, flags, newAddress) {
      try {
        return calls.mremap(oldAddress >>> 0, oldLength >>> 0, newLength >>> 0, flags >>> 0, newAddress >>> 0) | 0;
      } catch (error) {
        onHostError(error, "mremap");
        return -Errno.ENOMEM;
      }
    },
    madvise(address, length, advice) {
      try {
        return calls.madvise(address >>> 0, length >>> 0, advice >>> 0) | 0;
      } catch (error) {
        onHostError(error, "madvise");
        return -Errno.ENOMEM;
      }
    },
    mprotect(address, length, prot) {
      try {
        return calls.mprotect(address >>> 0, length >>> 0, prot >>> 0) | 0;
      } catch (error) {
        onHostError(error, "mprotect");
        return -Errno.ENOMEM;
      }
    },
    msync(address, length, flags) {
      try {
        return calls.msync(address >>> 0, length >>> 0, flags >>> 0) | 0;
      } catch (error) {
        onHostError(error, "msync");
        return -Errno.ENOMEM;
      }
    },
    pagesize() {
      return calls.pagesize();
    },
  };
}
