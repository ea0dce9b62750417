/**
 * The memory calls as one object: each call counted, errors counted, and, when a trace hook is
 * set, reported as a TraceRecord. This is the JavaScript face of the calls; ABI adapters
 * (abi-mman.ts) sit on top and only convert arguments and results.
 */
import { errnoName } from "../runtime/linux.js";
import { brk } from "./brk.js";
import type { SyscallContext } from "./context.js";
import { madvise } from "./madvise.js";
import { mmap } from "./mmap.js";
import { mprotect } from "./mprotect.js";
import { mremap } from "./mremap.js";
import { msync } from "./msync.js";
import { munmap } from "./munmap.js";
import { pagesize } from "./pagesize.js";

export const CALL_NAMES = ["brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "msync", "pagesize"] as const;
export type CallName = (typeof CALL_NAMES)[number];

const BRK = 0, MMAP = 1, MUNMAP = 2, MREMAP = 3, MADVISE = 4, MPROTECT = 5, MSYNC = 6, PAGESIZE = 7;

/** One call as the trace hook, `wasi-mman run --trace` and the demo page see it. */
export interface TraceRecord {
  /** 1 for the first call of this instance. */
  seq: number;
  call: CallName;
  /** The arguments as unsigned numbers (fd as signed; mmap's 64-bit offset as a number). */
  args: number[];
  /** The result: an address, 0, or -errno (brk: the break it returned). */
  result: number;
  /** The errno name when the call failed ("ENOMEM"), else null. brk fails without an errno. */
  errno: string | null;
  /** performance.now() when the call began, in milliseconds. */
  time: number;
  durationUs: number;
}
export type TraceHook = (record: TraceRecord) => void;

export class MemoryCalls {
  /** Calls and failures per call, indexed like CALL_NAMES (flat arrays, cheap to bump). */
  readonly counts = new Float64Array(CALL_NAMES.length);
  readonly failures = new Float64Array(CALL_NAMES.length);
  trace: TraceHook | null = null;
  private seq = 0;

  constructor(readonly ctx: SyscallContext) {}

  // Each call: without a trace hook, count and return (no allocation: these are hot paths);
  // with one, go through traced(). Results are negative only for -errno (addresses are < 2^32).

  brk(address: number): number {
    if (this.trace !== null) return this.traced(BRK, [address], () => brk(this.ctx, address));
    this.counts[BRK]++;
    const result = brk(this.ctx, address);
    if (address !== 0 && result !== address) this.failures[BRK]++;
    return result;
  }

  mmap(address: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
    if (this.trace !== null) {
      return this.traced(MMAP, [address, length, prot, flags, fd, offset], () =>
        mmap(this.ctx, address, length, prot, flags, fd, offset),
      );
    }
    this.counts[MMAP]++;
    const result = mmap(this.ctx, address, length, prot, flags, fd, offset);
    if (result < 0) this.failures[MMAP]++;
    return result;
  }

  munmap(address: number, length: number): number {
    if (this.trace !== null) return this.traced(MUNMAP, [address, length], () => munmap(this.ctx, address, length));
    this.counts[MUNMAP]++;
    const result = munmap(this.ctx, address, length);
    if (result < 0) this.failures[MUNMAP]++;
    return result;
  }

  mremap(oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number): number {
    if (this.trace !== null) {
      return this.traced(MREMAP, [oldAddress, oldLength, newLength, flags, newAddress], () =>
        mremap(this.ctx, oldAddress, oldLength, newLength, flags, newAddress),
      );
    }
    this.counts[MREMAP]++;
    const result = mremap(this.ctx, oldAddress, oldLength, newLength, flags, newAddress);
    if (result < 0) this.failures[MREMAP]++;
    return result;
  }

  madvise(address: number, length: number, advice: number): number {
    if (this.trace !== null) return this.traced(MADVISE, [address, length, advice], () => madvise(this.ctx, address, length, advice));
    this.counts[MADVISE]++;
    const result = madvise(this.ctx, address, length, advice);
    if (result < 0) this.failures[MADVISE]++;
    return result;
  }

  mprotect(address: number, length: number, prot: number): number {
    if (this.trace !== null) return this.traced(MPROTECT, [address, length, prot], () => mprotect(this.ctx, address, length, prot));
    this.counts[MPROTECT]++;
    const result = mprotect(this.ctx, address, length, prot);
    if (result < 0) this.failures[MPROTECT]++;
    return result;
  }

  msync(address: number, length: number, flags: number): number {
    if (this.trace !== null) return this.traced(MSYNC, [address, length, flags], () => msync(this.ctx, address, length, flags));
    this.counts[MSYNC]++;
    const result = msync(this.ctx, address, length, flags);
    if (result < 0) this.failures[MSYNC]++;
    return result;
  }

  pagesize(): number {
    if (this.trace !== null) return this.traced(PAGESIZE, [], () => pagesize(this.ctx));
    this.counts[PAGESIZE]++;
    return pagesize(this.ctx);
  }

  /** Calls and failures per call name. */
  tallies(): { calls: Record<CallName, number>; errors: Record<CallName, number> } {
    const calls = {} as Record<CallName, number>;
    const errors = {} as Record<CallName, number>;
    CALL_NAMES.forEach((name, i) => {
      calls[name] = this.counts[i];
      errors[name] = this.failures[i];
    });
    return { calls, errors };
  }

  private traced(call: number, args: number[], run: () => number): number {
    const started = performance.now();
    const result = run();
    this.counts[call]++;
    // brk fails by returning the old break instead of the address asked for; it has no errno.
    const failed = call === BRK ? args[0] !== 0 && result !== args[0] : result < 0;
    if (failed) this.failures[call]++;
    const errno = !failed ? null : call === BRK ? null : errnoName(-result);
    this.report(call, args, result, started, errno);
    return result;
  }

  private report(call: number, args: number[], result: number, started: number, errno: string | null): void {
    const hook = this.trace as TraceHook;
    const now = performance.now();
    try {
      hook({
        seq: ++this.seq,
        call: CALL_NAMES[call],
        args,
        result,
        errno,
        time: started,
        durationUs: Math.round((now - started) * 1e6) / 1000, // performance.now() is in ms
      });
    } catch {
      // A failing trace hook must not fail the guest's call; the call itself has happened.
    }
  }
}
