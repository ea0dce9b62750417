/**
 * The linear-memory interface the engine works on. The engine never touches a
 * WebAssembly.Memory directly: it sees a byte view, a size and a grow call, so tests can run
 * it over plain ArrayBuffers. (wasmtime keeps each memory backend behind one trait.)
 */
import { WASM_PAGE_SIZE } from "./linux.js";

export interface LinearMemory {
  /** Current size in bytes (a multiple of the 64 KiB wasm page). */
  byteLength(): number;
  /**
   * Grows by `wasmPages` 64 KiB pages. Returns the previous size in wasm pages, or -1 when the
   * memory cannot grow (declared maximum reached, allocation refused). Never throws.
   */
  grow(wasmPages: number): number;
  /**
   * A view over the whole memory. Valid only until the memory grows (the buffer is replaced
   * then): callers take it afresh per call and never keep it across a grow.
   */
  bytes(): Uint8Array;
}

/**
 * A WebAssembly.Memory seen through the LinearMemory interface.
 *
 * Reading `memory.buffer` goes through a slow API getter, and the memory calls need the size
 * on every call (to notice growth by the guest). When a non-shared memory grows, its old
 * ArrayBuffer is detached and reads as 0 bytes long (WebAssembly JS API, "refresh the memory
 * buffer"), so the cached buffer's own byteLength tells when to fetch the new one. A shared
 * memory's old buffer is not detached: there the getter is read every time.
 */
export class WasmLinearMemory implements LinearMemory {
  private buffer: ArrayBufferLike;
  private view: Uint8Array;
  private readonly shared: boolean;

  constructor(readonly memory: WebAssembly.Memory) {
    this.buffer = memory.buffer;
    this.view = new Uint8Array(this.buffer);
    this.shared = typeof SharedArrayBuffer !== "undefined" && this.buffer instanceof SharedArrayBuffer;
  }

  private current(): ArrayBufferLike {
    // A view over a detached buffer has length 0 (cheaper to read than the buffer's byteLength).
    if (this.shared || this.view.length === 0) {
      const buffer = this.memory.buffer;
      if (buffer !== this.buffer) {
        this.buffer = buffer;
        this.view = new Uint8Array(buffer);
      }
    }
    return this.buffer;
  }

  byteLength(): number {
    return this.current().byteLength;
  }

  grow(wasmPages: number): number {
    try {
      return this.memory.grow(wasmPages);
    } catch {
      // RangeError: the declared maximum, or the engine refused the allocation.
      return -1;
    }
  }

  bytes(): Uint8Array {
    // Never a view over a detached buffer (AssemblyScript issue 2778 shows that bug).
    this.current();
    return this.view;
  }
}

/**
 * A growable memory over plain ArrayBuffers, for tests and for running the engine without wasm.
 * `maxWasmPages` plays the declared maximum.
 */
export class ArrayLinearMemory implements LinearMemory {
  private buffer: ArrayBuffer;
  private view: Uint8Array;
  growCalls = 0;

  constructor(initialWasmPages: number, readonly maxWasmPages = 65536) {
    this.buffer = new ArrayBuffer(initialWasmPages * WASM_PAGE_SIZE);
    this.view = new Uint8Array(this.buffer);
  }

  byteLength(): number {
    return this.buffer.byteLength;
  }

  grow(wasmPages: number): number {
    const old = this.buffer.byteLength / WASM_PAGE_SIZE;
    if (!Number.isInteger(wasmPages) || wasmPages < 0 || old + wasmPages > this.maxWasmPages) return -1;
    this.growCalls++;
    if (wasmPages === 0) return old;
    const next = new ArrayBuffer((old + wasmPages) * WASM_PAGE_SIZE);
    new Uint8Array(next).set(this.view);
    this.buffer = next;
    this.view = new Uint8Array(next);
    return old;
  }

  bytes(): Uint8Array {
    return this.view;
  }
}
