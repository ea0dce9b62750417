// The threaded allocator as a wasm module (build target "alloc-threads", built with
// `--use MMAN_THREADS=1`): the exports of index.ts, for several instances on one shared
// memory, plus the lock's statistics.
export * from "./index";
export { heap_lock_contended, heap_lock_sleeps } from "./alloc";
