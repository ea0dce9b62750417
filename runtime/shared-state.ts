/**
 * Shared state: the engine's state in SharedArrayBuffers, so that every thread of a
 * wasi-threads program (one instance per thread, one shared memory) works on one address space.
 *
 *   thread 1 (creates)                         thread 2 .. N (join)
 *   AddressSpace ── arrays ──> SharedArrayBuffer <── arrays ── AddressSpace
 *                ── scalars ─> Float64Array slots <── scalars ─
 *                └─ lock ───> Int32Array cell (lock.ts), taken by every call
 *
 * Each part of the engine keeps its state as it always does, in flat typed arrays and a few
 * number fields. Sharing swaps the arrays for views over named SharedArrayBuffers and turns
 * the number fields into accessors over slots of one shared Float64Array; the code of the parts
 * does not change and reads no stale copy. The arrays are made for the whole 32-bit address
 * space at once (2^32 / page size pages), so they never have to move: a SharedArrayBuffer is
 * zero-filled and committed page by page as it is touched, so what it costs in resident memory
 * follows the pages the engine uses, not its size (docs/threads.md has the figures).
 *
 * Not shared: the files behind file mappings (JavaScript objects of the thread whose WASI host
 * opened them: mapping-table.ts), the memory's per-thread view, the zeroer instance.
 */

/** The state's buffers by name: what a handle carries to another thread (structured-cloneable). */
export type SharedBuffers = Record<string, SharedArrayBuffer>;

/** Cells of the "control" buffer: the lock, and how many engines have joined. */
const CONTROL_LOCK = 0;
const CONTROL_ENGINES = 1;
const CONTROL_CELLS = 4;

type ArrayKind = "int32" | "uint32" | "uint8" | "float64";
const BYTES: Record<ArrayKind, number> = { int32: 4, uint32: 4, uint8: 1, float64: 8 };

/** True when `buffer` is a SharedArrayBuffer (false where the global does not exist). */
export function isSharedBuffer(buffer: unknown): buffer is SharedArrayBuffer {
  return typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
}

export class SharedRegion {
  /** Scalar slots handed out so far (one Float64Array per part, by name). */
  private constructor(
    readonly buffers: SharedBuffers,
    /** True for the thread that makes the state (it writes initial values); false for joiners. */
    readonly creating: boolean,
  ) {}

  /** A new, empty region: the first thread's. */
  static create(): SharedRegion {
    if (typeof SharedArrayBuffer === "undefined") {
      throw new Error("wasi-mman: SharedArrayBuffer is not available (a browser page must be cross-origin isolated: docs/threads.md)");
    }
    return new SharedRegion({}, true);
  }

  /** The region another thread made, from its handle's buffers. */
  static join(buffers: SharedBuffers): SharedRegion {
    for (const [name, buffer] of Object.entries(buffers)) {
      if (!isSharedBuffer(buffer)) throw new TypeError(`wasi-mman: shared state "${name}" is not a SharedArrayBuffer`);
    }
    return new SharedRegion(buffers, false);
  }

  /**
   * A number for the engine (thread) that takes part, unique in this state: 1 for the first.
   * Atomic, so threads may join at once.
   */
  nextEngineId(): number {
    return Atomics.add(this.control(), CONTROL_ENGINES, 1) + 1;
  }

  /** The engine lock's cell (lock.ts). */
  lockCell(): { cell: Int32Array; index: number } {
    return { cell: this.control(), index: CONTROL_LOCK };
  }

  private control(): Int32Array {
    return this.int32("control", CONTROL_CELLS);
  }

  int32(name: string, length: number, fill = 0): Int32Array {
    return new Int32Array(this.buffer(name, "int32", length, fill));
  }
  uint32(name: string, length: number): Uint32Array {
    return new Uint32Array(this.buffer(name, "uint32", length, 0));
  }
  uint8(name: string, length: number): Uint8Array {
    return new Uint8Array(this.buffer(name, "uint8", length, 0));
  }
  float64(name: string, length: number): Float64Array {
    return new Float64Array(this.buffer(name, "float64", length, 0));
  }

  /**
   * Makes the number fields `keys` of `target` live in shared slots: each becomes an accessor
   * over one element of a shared Float64Array (exact for integers below 2^53, as the fields are).
   * The creating thread stores the fields' current values first; a joining thread takes the
   * shared ones.
   */
  bindScalars<T extends object>(name: string, target: T, keys: readonly (keyof T & string)[]): void {
    const slots = this.float64(name, keys.length);
    const record = target as Record<string, unknown>;
    keys.forEach((key, i) => {
      const value = record[key];
      if (typeof value !== "number") throw new TypeError(`wasi-mman: shared field ${name}.${key} is not a number`);
      if (this.creating) slots[i] = value;
      Object.defineProperty(target, key, {
        get: () => slots[i],
        set: (next: number) => {
          slots[i] = next;
        },
        enumerable: true,
        configurable: true,
      });
    });
  }

  private buffer(name: string, kind: ArrayKind, length: number, fill: number): SharedArrayBuffer {
    const bytes = length * BYTES[kind];
    let buffer = this.buffers[name];
    if (buffer === undefined) {
      if (!this.creating) throw new Error(`wasi-mman: the shared state has no "${name}" (made by another version of wasi-mman?)`);
      buffer = new SharedArrayBuffer(bytes);
      this.buffers[name] = buffer;
      if (fill !== 0) new Int32Array(buffer).fill(fill);
    } else if (buffer.byteLength !== bytes) {
      throw new Error(`wasi-mman: shared state "${name}" has ${buffer.byteLength} bytes, expected ${bytes}`);
    }
    return buffer;
  }
}
