/**
 * The engine lock of a shared address space: one Int32 cell in a SharedArrayBuffer that every
 * thread's calls take, so that a call sees and leaves the state whole.
 *
 * A futex mutex in three states (Ulrich Drepper, "Futexes Are Tricky", 2011, mutex #3):
 *   0 free, 1 held, 2 held and someone may be waiting.
 * Taking a free lock is one compareExchange; releasing it without waiters one atomic sub, so a
 * thread that runs alone pays two atomic operations a call. A waiter sleeps in Atomics.wait
 * and the holder wakes one on release.
 *
 * A browser's main thread may not block (Atomics.wait throws there): it spins on the cell
 * instead, with Atomics.load. Holders never block or wait for another thread while they hold
 * the lock (a call is pure bookkeeping plus clearing or copying pages), so a spin lasts at
 * most one call of another thread.
 *
 * Re-entry: a trace hook may call back into the calls (calls.ts serves it untraced); the
 * thread that holds the lock counts its depth and does not take the lock again.
 */

const FREE = 0;
const HELD = 1;
const CONTENDED = 2;

/** True when this thread may block in Atomics.wait (false on a browser's main thread). */
export function canBlock(): boolean {
  const probe = new Int32Array(new SharedArrayBuffer(4));
  try {
    // Returns "timed-out" at once where blocking is allowed; throws a TypeError where it is not.
    Atomics.wait(probe, 0, 0, 0);
    return true;
  } catch {
    return false;
  }
}

export class EngineLock {
  private depth = 0;
  private readonly blocking: boolean;
  /** Times the lock was found held by another thread (for statistics and the benchmark). */
  contended = 0;

  constructor(
    private readonly cell: Int32Array,
    private readonly index = 0,
  ) {
    this.blocking = canBlock();
  }

  lock(): void {
    if (this.depth++ !== 0) return;
    const cell = this.cell;
    const i = this.index;
    let state = Atomics.compareExchange(cell, i, FREE, HELD);
    if (state === FREE) return;
    this.contended++;
    if (state !== CONTENDED) state = Atomics.exchange(cell, i, CONTENDED);
    while (state !== FREE) {
      if (this.blocking) Atomics.wait(cell, i, CONTENDED);
      else while (Atomics.load(cell, i) === CONTENDED) { /* spin: this thread may not block */ }
      state = Atomics.exchange(cell, i, CONTENDED);
    }
  }

  unlock(): void {
    if (--this.depth !== 0) return;
    if (Atomics.sub(this.cell, this.index, 1) !== HELD) {
      Atomics.store(this.cell, this.index, FREE);
      Atomics.notify(this.cell, this.index, 1);
    }
  }

  /** True while this thread holds the lock. */
  get held(): boolean {
    return this.depth !== 0;
  }
}
