/**
 * The memory calls as one object: each call counted, errors counted, and, when a trace hook is
 * set, reported as a TraceRecord. This is the JavaScript face of the calls; ABI adapters
 * (abi-mman.ts) sit on top and only convert arguments and results.
 *
 * Trace hooks may call back into the calls (to read mappings, or even to map): such nested
 * calls are served untraced, so a hook never recurses into itself (docs/hosts.md).
 */
import type { EngineLock } from "../runtime/lock.js";
import type { SharedRegion } from "../runtime/shared-state.js";
import { Errno, errnoName, MapFlags, Mremap } from "../runtime/linux.js";
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

/** Each call's implementation, indexed like CALL_NAMES: the table the methods below go through. */
type CallFunction = (ctx: SyscallContext, ...args: number[]) => number;
const IMPLEMENTATIONS: readonly CallFunction[] = [
  brk as CallFunction,
  mmap as CallFunction,
  munmap as CallFunction,
  mremap as CallFunction,
  madvise as CallFunction,
  mprotect as CallFunction,
  msync as CallFunction,
  pagesize as CallFunction,
];

export class MemoryCalls {
  /** Calls and failures per call, indexed like CALL_NAMES (flat arrays, cheap to bump). */
  counts: Float64Array = new Float64Array(CALL_NAMES.length);
  failures: Float64Array = new Float64Array(CALL_NAMES.length);
  trace: TraceHook | null = null;
  /** Runs after every call when set (the `debug` option: checkInvariants). */
  afterCall: (() => void) | null = null;
  private seq = 0;
  /** True while a trace hook runs: calls it makes are served untraced. */
  private inHook = false;

  constructor(readonly ctx: SyscallContext) {}

  /** Moves the tallies and the trace numbering into `region` (a shared address space). */
  share(region: SharedRegion): void {
    this.counts = region.float64("calls.counts", CALL_NAMES.length);
    this.failures = region.float64("calls.failures", CALL_NAMES.length);
    region.bindScalars("calls.seq", this as unknown as { seq: number }, ["seq"]);
  }

  // Without a trace hook or debug check, each call counts and returns (no allocation: these
  // are hot paths; mmap and munmap are written out so the JIT inlines the call itself).
  // Results are negative only for -errno (addresses are < 2^32).

  brk(address: number): number {
    if (this.trace !== null || this.afterCall !== null) return this.slow(BRK, [address]);
    this.counts[BRK]++;
    const result = brk(this.ctx, address);
    if (address !== 0 && result !== address) this.failures[BRK]++;
    return result;
  }

  mmap(address: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
    if (this.trace !== null || this.afterCall !== null) return this.slow(MMAP, [address, length, prot, flags, fd, offset]);
    this.counts[MMAP]++;
    const result = mmap(this.ctx, address, length, prot, flags, fd, offset);
    if (result < 0) this.failures[MMAP]++;
    return result;
  }

  munmap(address: number, length: number): number {
    if (this.trace !== null || this.afterCall !== null) return this.slow(MUNMAP, [address, length]);
    this.counts[MUNMAP]++;
    const result = munmap(this.ctx, address, length);
    if (result < 0) this.failures[MUNMAP]++;
    return result;
  }

  mremap(oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number): number {
    return this.run(MREMAP, [oldAddress, oldLength, newLength, flags, newAddress]);
  }

  madvise(address: number, length: number, advice: number): number {
    return this.run(MADVISE, [address, length, advice]);
  }

  mprotect(address: number, length: number, prot: number): number {
    return this.run(MPROTECT, [address, length, prot]);
  }

  msync(address: number, length: number, flags: number): number {
    return this.run(MSYNC, [address, length, flags]);
  }

  pagesize(): number {
    return this.run(PAGESIZE, []);
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

  /** The rarer calls: through the table, traced and checked when asked. */
  private run(call: number, args: number[]): number {
    if (this.trace !== null || this.afterCall !== null) return this.slow(call, args);
    this.counts[call]++;
    const result = IMPLEMENTATIONS[call](this.ctx, ...args);
    if (failed(call, args, result)) this.failures[call]++;
    return result;
  }

  private slow(call: number, args: number[]): number {
    const started = performance.now();
    const result = IMPLEMENTATIONS[call](this.ctx, ...args);
    this.counts[call]++;
    const didFail = failed(call, args, result);
    if (didFail) this.failures[call]++;
    if (this.afterCall !== null) this.afterCall();
    if (this.trace !== null && !this.inHook) {
      const errno = !didFail || call === BRK ? null : errnoName(-result);
      this.report(call, args, result, started, errno);
    }
    return result;
  }

  private report(call: number, args: number[], result: number, started: number, errno: string | null): void {
    const hook = this.trace as TraceHook;
    const now = performance.now();
    this.inHook = true;
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
    } finally {
      this.inHook = false;
    }
  }
}

/** brk fails by returning the old break instead of the address asked for; the rest by -errno. */
function failed(call: number, args: number[], result: number): boolean {
  return call === BRK ? args[0] !== 0 && result !== args[0] : result < 0;
}

/**
 * The calls of a shared address space (runtime/shared-state.ts): each takes the engine lock
 * for its whole run (runtime/lock.ts), and one that would touch a file mapping of another
 * thread's WASI host fails with EACCES before anything changes (docs/threads.md, "Files").
 * The unshared calls above pay nothing for this.
 */
export class LockedMemoryCalls extends MemoryCalls {
  constructor(
    ctx: SyscallContext,
    readonly lock: EngineLock,
  ) {
    super(ctx);
  }

  private otherThreadFile(address: number, length: number): boolean {
    const space = this.ctx.space;
    if (!space.hasFileMappings) return false;
    return space.touchesOtherThreadFile(Math.floor(address / space.pageSize), Math.ceil((address + length) / space.pageSize));
  }

  override brk(address: number): number {
    this.lock.lock();
    try {
      const current = this.ctx.space.brk.breakAddress;
      if (address !== 0 && address < current && this.otherThreadFile(address, current - address)) return current;
      return super.brk(address);
    } finally {
      this.lock.unlock();
    }
  }

  override mmap(address: number, length: number, prot: number, flags: number, fd: number, offset: number): number {
    this.lock.lock();
    try {
      if ((flags & MapFlags.FIXED) !== 0 && this.otherThreadFile(address, length)) return -Errno.EACCES;
      return super.mmap(address, length, prot, flags, fd, offset);
    } finally {
      this.lock.unlock();
    }
  }

  override munmap(address: number, length: number): number {
    return this.ranged(address, length, () => super.munmap(address, length));
  }

  override mremap(oldAddress: number, oldLength: number, newLength: number, flags: number, newAddress: number): number {
    this.lock.lock();
    try {
      if (this.otherThreadFile(oldAddress, Math.max(oldLength, 1))) return -Errno.EACCES;
      if ((flags & Mremap.FIXED) !== 0 && this.otherThreadFile(newAddress, newLength)) return -Errno.EACCES;
      return super.mremap(oldAddress, oldLength, newLength, flags, newAddress);
    } finally {
      this.lock.unlock();
    }
  }

  override madvise(address: number, length: number, advice: number): number {
    return this.ranged(address, length, () => super.madvise(address, length, advice));
  }

  override mprotect(address: number, length: number, prot: number): number {
    return this.ranged(address, length, () => super.mprotect(address, length, prot));
  }

  override msync(address: number, length: number, flags: number): number {
    return this.ranged(address, length, () => super.msync(address, length, flags));
  }

  /** Runs `call` under the lock unless [address, address+length) holds another thread's file. */
  private ranged(address: number, length: number, call: () => number): number {
    this.lock.lock();
    try {
      return this.otherThreadFile(address, length) ? -Errno.EACCES : call();
    } finally {
      this.lock.unlock();
    }
  }
}
