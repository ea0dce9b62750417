// Runs an AssemblyScript guest built by scripts/build-as.ts on a fresh wasi-mman host:
// instantiate, attach, then `_initialize` (the guests are built with --exportStart so that
// nothing allocates before the host is attached).
import { createMman, type Mman, type MmanOptions, type TraceRecord } from "../../index.js";

export interface AsGuest<E> {
  readonly instance: WebAssembly.Instance;
  readonly exports: E;
  readonly mman: Mman;
  readonly memory: WebAssembly.Memory;
  /** Every call the guest made, in order (kept only when `keepTrace` is set). */
  readonly trace: TraceRecord[];
}

export interface AsGuestOptions extends Omit<MmanOptions, "trace"> {
  keepTrace?: boolean;
  /** Extra import modules (e.g. the checker's `mman_debug`). */
  imports?: WebAssembly.Imports;
}

/** The exports of the allocator module (guest/as/index.ts). */
export interface AllocExports {
  malloc(size: number): number;
  free(ptr: number): void;
  calloc(count: number, size: number): number;
  realloc(ptr: number, size: number): number;
  aligned_alloc(alignment: number, size: number): number;
  malloc_usable_size(ptr: number): number;
  set_mmap_threshold(bytes: number): number;
  set_mmap_threshold_max(bytes: number): number;
  heap_bytes(): number;
  heap_free_bytes(): number;
  heap_segments(): number;
  heap_check(): number;
}

export async function startAsGuest<E>(bytes: Uint8Array<ArrayBuffer>, options: AsGuestOptions = {}): Promise<AsGuest<E>> {
  const { keepTrace = false, imports = {}, ...mmanOptions } = options;
  const trace: TraceRecord[] = [];
  const mman = createMman({ ...mmanOptions, ...(keepTrace ? { trace: (record: TraceRecord) => trace.push(record) } : {}) });
  const env = {
    abort(message: number, file: number, line: number, column: number) {
      // AssemblyScript's abort(): reached only on a guest bug, so a JS exception is right here.
      throw new Error(`guest abort at ${line}:${column} (message ptr ${message}, file ptr ${file})`);
    },
  };
  const importObject: WebAssembly.Imports = { env, ...imports, ...mman.imports };
  const { instance } = await WebAssembly.instantiate(bytes, importObject);
  mman.attach(instance);
  const exports = instance.exports as Record<string, unknown>;
  if (typeof exports._initialize === "function") (exports._initialize as () => void)();
  return { instance, exports: exports as E, mman, memory: exports.memory as WebAssembly.Memory, trace };
}

/** Unsigned view of a call's result (addresses above 2 GiB are negative as i32). */
export function u32(value: number): number {
  return value >>> 0;
}
