// The allocator as a wasm module of its own: hosts and tests call these exports.
// Build: scripts/build-as.ts (target "alloc"; "alloc-debug" adds the checker hooks).
export {
  malloc,
  free,
  calloc,
  realloc,
  aligned_alloc,
  malloc_usable_size,
  set_mmap_threshold,
  set_mmap_threshold_max,
  heap_bytes,
  heap_free_bytes,
  heap_segments,
  heap_check,
} from "./alloc";

// The host starts the brk area here (docs/abi.md "Heap base").
export { __heap_base };
