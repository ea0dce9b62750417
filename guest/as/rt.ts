// An AssemblyScript runtime on the two-tier allocator (guest/as/alloc.ts), for programs
// compiled with `--runtime ./guest/as/rt` (the path is given without `.ts`, relative to
// the compiler's base directory).
//
// Garbage collection: none. Like AssemblyScript's `stub` runtime, objects are never
// collected: __collect does nothing and __link/__pin/__unpin are no-ops, so a program that
// drops its references keeps the memory. Unlike `stub`, memory is reused wherever the
// program or the standard library hands it back explicitly: heap.free() / __free release
// a block at once, and a growing array or buffer (__renew) reallocates in place or frees
// its old storage. Long-running programs that rely on collection should keep
// `--runtime incremental`; this variant suits short-lived programs, and programs that
// manage their buffers through heap.alloc/heap.free.
//
// Object layout is AssemblyScript's (~lib/rt/common): the allocator's 4-byte block header
// doubles as the memory manager's mmInfo word, followed by the 16-byte object header
// (gcInfo, gcInfo2, rtId, rtSize) that the standard library reads (String#length uses
// rtSize).
//
// Zeroing: the compiler treats any custom runtime as the incremental one
// (ASC_RUNTIME == Runtime.Incremental), and for that runtime the standard library leaves
// the zeroing of new objects to __new and of grown arrays to __renew, as itcms does. So
// __new clears through calloc (which skips blocks fresh from mmap) and __renew clears the
// bytes it adds.
//
// Out of memory: malloc() answers 0, but AssemblyScript code has no way to receive a null
// object, so these hooks abort, as the built-in runtimes do.
import { OBJECT, OBJECT_OVERHEAD, OBJECT_MAXSIZE, TOTAL_OVERHEAD } from "~lib/rt/common";
import { E_ALLOCATION_TOO_LARGE } from "~lib/util/error";
import { malloc, calloc, free, realloc } from "./alloc";

// @ts-ignore: decorator
@inline function mustHave(ptr: usize): usize {
  if (!ptr) abort("out of memory", "guest/as/rt.ts", 0, 0);
  return ptr;
}

// @ts-ignore: decorator
@global @unsafe
function __alloc(size: usize): usize {
  return mustHave(malloc(size));
}

// @ts-ignore: decorator
@global @unsafe
function __realloc(ptr: usize, size: usize): usize {
  return mustHave(realloc(ptr, size));
}

// @ts-ignore: decorator
@global @unsafe
function __free(ptr: usize): void {
  free(ptr);
}

// @ts-ignore: decorator
@global @unsafe
function __new(size: usize, id: u32): usize {
  if (size > OBJECT_MAXSIZE) throw new Error(E_ALLOCATION_TOO_LARGE);
  let ptr = mustHave(calloc(1, OBJECT_OVERHEAD + size));
  // The OBJECT view starts at the block header, 4 bytes before the allocation.
  let object = changetype<OBJECT>(ptr + OBJECT_OVERHEAD - TOTAL_OVERHEAD);
  object.gcInfo = 0;
  object.gcInfo2 = 0;
  object.rtId = id;
  object.rtSize = <u32>size;
  return ptr + OBJECT_OVERHEAD;
}

// @ts-ignore: decorator
@global @unsafe
function __renew(oldPtr: usize, size: usize): usize {
  if (size > OBJECT_MAXSIZE) throw new Error(E_ALLOCATION_TOO_LARGE);
  let oldSize = <usize>changetype<OBJECT>(oldPtr - TOTAL_OVERHEAD).rtSize;
  let ptr = __realloc(oldPtr - OBJECT_OVERHEAD, OBJECT_OVERHEAD + size);
  changetype<OBJECT>(ptr + OBJECT_OVERHEAD - TOTAL_OVERHEAD).rtSize = <u32>size;
  if (size > oldSize) memory.fill(ptr + OBJECT_OVERHEAD + oldSize, 0, size - oldSize);
  return ptr + OBJECT_OVERHEAD;
}

// @ts-ignore: decorator
@global @unsafe
function __link(parentPtr: usize, childPtr: usize, expectMultiple: bool): void {
  // No collector, so no write barrier.
}

// @ts-ignore: decorator
@global @unsafe
function __pin(ptr: usize): usize {
  return ptr;
}

// @ts-ignore: decorator
@global @unsafe
function __unpin(ptr: usize): void {
  // Nothing is ever collected, so nothing needs pinning.
}

// @ts-ignore: decorator
@global @unsafe
function __visit(ptr: usize, cookie: u32): void {
  // Called only by a collector; there is none.
}

// @ts-ignore: decorator
@global @unsafe
function __collect(): void {
  // No collection (see the header comment).
}
