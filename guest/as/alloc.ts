// A two-tier malloc for AssemblyScript guests, built on the host's `mman` imports
// (docs/abi.md). It never calls memory.grow: all memory comes from brk(2) and mmap(2).
//
// Tier 1, the heap: requests up to the mmap threshold are carved out of heap segments.
//   The first segment grows with brk; when the host refuses to move the break (a mapping
//   sits right above it), the heap gets a new segment from mmap, the way musl's
//   expand_heap falls back from brk to mmap.
// Tier 2, mappings: a request above the threshold (default 112 KiB, musl oldmalloc's
//   MMAP_THRESHOLD on 32-bit targets) gets a mapping of its own, rounded to the libc page
//   size. free() unmaps it, realloc() resizes it with mremap(MREMAP_MAYMOVE), and a
//   realloc whose size crosses the threshold moves the block to the other tier.
//
// Heap blocks (payloads are 16-byte aligned, so headers sit at addresses = 12 mod 16):
//
//    block b ──►┌─────────────────────────────────┐
//               │ size | QUICK | PREV_FREE | FREE │ 4 bytes; size a multiple of 16, >= 16
//    payload ──►├─────────────────────────────────┤ b + 4, 16-byte aligned
//               │ used: the caller's bytes        │
//               │ free: next free      (b + 4)    │
//               │       prev free      (b + 8)    │
//               │       ...                       │
//               │       size (footer, b+size-4)   │
//               └─────────────────────────────────┘
//
// Heap segments (the brk heap, and heap space from mmap when brk is refused; segments the
// host placed side by side are joined into one):
//
//    s ──► [next segment][segment end][unused 4][first block ... blocks ...][tail: size 0]
//           s+0           s+4          s+8       s+12                        end-4
//
// Mapped blocks (one mapping each; MAPPED header bit, size field = mapping length):
//
//    base ──► [unused ...][offset of payload from base][length | MAPPED][payload ...]
//                          payload-8                    payload-4        base+16, or aligned
//
// Coalescing versus segregation. Both are used, each where it pays:
// - Blocks up to QUICK_MAX bytes are kept, when freed, on exact-size "quick lists"
//   (segregated storage, one list per 16-byte size). Small blocks are freed and
//   reallocated in the same sizes over and over; a quick list answers that with one load
//   and one store, and rounding costs nothing because each list holds one exact size.
// - Everything else is coalesced with its free neighbours at once (boundary tags) and kept
//   in size-binned free lists (exact bins below 1 KiB, 8 bins per power of two above, found
//   through a bitmap, like TLSF's second level). Medium blocks are rarer and larger; letting
//   their memory merge and serve any size is what keeps the heap small.
// - Segregation alone would strand memory in lists of sizes nobody asks for any more. So
//   before the heap grows, every quick list is flushed back into the coalescing lists
//   (dlmalloc calls this consolidation): hoarded small blocks never make the heap larger.
//
// The threaded build (`--use MMAN_THREADS=1 --enable threads --importMemory --sharedMemory`,
// docs/guest-as.md "Threads") is for several instances on one shared memory, one per thread.
// Two things change, and nothing else:
// - Where the state lives. A wasm global belongs to one instance, so the lists and the
//   scalars move to fixed addresses below the data segments (the build passes --memoryBase):
//   an instantiation writes its module's active data segments again, and a list head in one
//   of them would be reset under the other threads' feet.
//
//      1024 ─► [lock][ready][9 scalars: pageSize .. heapBytes][.][contended][sleeps][...]
//      1088 ─► bin bitmap                                                  32 bytes
//      1120 ─► quick-list heads                                           260 bytes
//      1392 ─► bin heads                                                  960 bytes
//      2352 ─► (end; the module's data starts at --memoryBase, 4096)
//
// - A lock around every exported call. It is a futex mutex in memory (Drepper, "Futexes Are
//   Tricky", mutex 3: 0 free, 1 held, 2 held with waiters), like the host's engine lock
//   (runtime/lock.ts). Taking it copies the shared scalars into this instance's globals,
//   releasing it copies them back, so the code between runs unchanged on globals. The first
//   instance to release it sets `ready`; before that the scalars in memory mean nothing and
//   an instance keeps its globals' start values: that is the heap's one-time initialisation,
//   and the lock makes it happen exactly once. The host calls made under the lock (brk, mmap,
//   munmap, mremap) take the shared engine's own lock inside ours; the engine never calls
//   back, so the two locks are always taken in the same order.

// ---- Host calls (docs/abi.md). Pointers and lengths are u32; failures are -errno. ----

// @ts-ignore: decorator
@external("mman", "brk")
declare function sys_brk(addr: usize): usize;
// @ts-ignore: decorator
@external("mman", "mmap")
declare function sys_mmap(addr: usize, len: usize, prot: i32, flags: i32, fd: i32, offset: i64): usize;
// @ts-ignore: decorator
@external("mman", "munmap")
declare function sys_munmap(addr: usize, len: usize): i32;
// @ts-ignore: decorator
@external("mman", "mremap")
declare function sys_mremap(oldAddr: usize, oldLen: usize, newLen: usize, flags: i32, newAddr: usize): usize;
// @ts-ignore: decorator
@external("mman", "pagesize")
declare function sys_pagesize(): usize;

// The debug build (compiled with `--use MMAN_DEBUG=1`) reports every allocation and free to
// the host, which keeps a shadow map (guest/as/checker.ts). `check_free` runs before a block
// is released; a non-zero answer means the host found the pointer invalid and the block is
// left alone, so one bad free does not also corrupt the free lists.
// @ts-ignore: decorator
@external("mman_debug", "on_alloc")
declare function debug_on_alloc(ptr: usize, size: usize, usable: usize): void;
// @ts-ignore: decorator
@external("mman_debug", "check_free")
declare function debug_check_free(ptr: usize): i32;
// @ts-ignore: decorator
@external("mman_debug", "on_free")
declare function debug_on_free(ptr: usize): void;
// @ts-ignore: decorator
@external("mman_debug", "on_realloc")
declare function debug_on_realloc(oldPtr: usize, newPtr: usize, size: usize, usable: usize): void;

// @ts-ignore: decorator
@inline const DEBUG_HOOKS: bool = isDefined(MMAN_DEBUG);
// @ts-ignore: decorator
@inline const THREADS: bool = isDefined(MMAN_THREADS);
// Test builds only: the threaded layout with the lock left out, to show that the lock is what
// keeps a shared heap whole (test/as-threads.test.ts).
// @ts-ignore: decorator
@inline const THREADS_UNLOCKED: bool = isDefined(MMAN_THREADS_UNLOCKED);

// Linux asm-generic values (ABI.md "Flag values").
// @ts-ignore: decorator
@inline const PROT_READ_WRITE: i32 = 3;
// @ts-ignore: decorator
@inline const MAP_PRIVATE_ANONYMOUS: i32 = 0x22;
// @ts-ignore: decorator
@inline const MREMAP_MAYMOVE: i32 = 1;
// -errno is in [-4095, -1]; the host never hands out an address in that range (ABI.md).
// @ts-ignore: decorator
@inline const ERRNO_FLOOR: usize = 0xFFFFF001;

// ---- Block layout ----

// @ts-ignore: decorator
@inline const HEADER: usize = 4;
// @ts-ignore: decorator
@inline const ALIGN: usize = 16;
// @ts-ignore: decorator
@inline const MIN_BLOCK: usize = 16;
// @ts-ignore: decorator
@inline const FREE: u32 = 1;
// @ts-ignore: decorator
@inline const PREV_FREE: u32 = 2;
// Header bit of a mapped block; its size field is the mapping's length.
// @ts-ignore: decorator
@inline const MAPPED: u32 = 4;
// @ts-ignore: decorator
@inline const QUICK: u32 = 8;
// @ts-ignore: decorator
@inline const SIZE_MASK: u32 = ~15;
// A mapped payload starts 16 bytes into its mapping: [offset to mapping start][header].
// @ts-ignore: decorator
@inline const MAPPED_PREFIX: usize = 16;
// Requests above this are refused outright; everything below it fits the u32 arithmetic.
// @ts-ignore: decorator
@inline const MAX_REQUEST: usize = 0xF0000000;

// ---- Free lists ----

// Block sizes 16..1008 have exact bins (size >> 4); from 1 KiB on, 8 bins per power of two.
// @ts-ignore: decorator
@inline const EXACT_BINS: u32 = 64;
// @ts-ignore: decorator
@inline const BIN_COUNT: u32 = 240;
// @ts-ignore: decorator
@inline const BITMAP_WORDS: u32 = 8;
// How many blocks of a ranged bin are tried before moving to a bin whose every block fits.
// @ts-ignore: decorator
@inline const BIN_SCAN_LIMIT: u32 = 8;
// Quick lists hold block sizes 16..QUICK_MAX, one list per 16 bytes.
// @ts-ignore: decorator
@inline const QUICK_MAX: usize = 1024;
// The heap grows by at least this much per brk/mmap call, so a run of small allocations
// costs few host calls; rounded up to the libc page size.
// @ts-ignore: decorator
@inline const MIN_GROW: usize = 64 << 10;
// musl oldmalloc's MMAP_THRESHOLD for 32-bit targets: 0x1c00 * SIZE_ALIGN(16) = 112 KiB.
// @ts-ignore: decorator
@inline export const DEFAULT_MMAP_THRESHOLD: usize = 114688;

// ---- Shared state of the threaded build (see the diagram at the top) ----

// @ts-ignore: decorator
@inline const SHARED_LOCK: usize = 1024;
// Non-zero once some instance has released the lock: the scalars below are then the heap's.
// @ts-ignore: decorator
@inline const SHARED_READY: usize = SHARED_LOCK + 4;
// @ts-ignore: decorator
@inline const SHARED_SCALARS: usize = SHARED_LOCK + 8;
// Statistics of the lock: acquisitions that found it held, and sleeps in wait32.
// @ts-ignore: decorator
@inline const SHARED_CONTENDED: usize = SHARED_LOCK + 48;
// @ts-ignore: decorator
@inline const SHARED_SLEEPS: usize = SHARED_LOCK + 52;
// @ts-ignore: decorator
@inline const SHARED_BITMAP: usize = SHARED_LOCK + 64;
// @ts-ignore: decorator
@inline const SHARED_QUICK_HEADS: usize = SHARED_BITMAP + (BITMAP_WORDS << 2);
// @ts-ignore: decorator
@inline const SHARED_BIN_HEADS: usize = (SHARED_QUICK_HEADS + (((QUICK_MAX >> 4) + 1) << 2) + 15) & ~15;
// @ts-ignore: decorator
@inline const SHARED_END: usize = SHARED_BIN_HEADS + (BIN_COUNT << 2);
// How often a thread that finds the lock held looks again before it sleeps: most holds last
// one small allocation, shorter than a wait and a wake-up.
// @ts-ignore: decorator
@inline const LOCK_SPINS: i32 = 64;
// @ts-ignore: decorator
@inline const LOCK_FREE: i32 = 0;
// @ts-ignore: decorator
@inline const LOCK_HELD: i32 = 1;
// @ts-ignore: decorator
@inline const LOCK_CONTENDED: i32 = 2;

if (THREADS && <usize>ASC_MEMORY_BASE < SHARED_END) {
  ERROR("the threaded build keeps its state below the data: build it with --memoryBase 4096");
}

const binHeads: usize = THREADS ? SHARED_BIN_HEADS : memory.data(BIN_COUNT << 2, 16);
const binBitmap: usize = THREADS ? SHARED_BITMAP : memory.data(BITMAP_WORDS << 2, 16);
const quickHeads: usize = THREADS ? SHARED_QUICK_HEADS : memory.data((<i32>(QUICK_MAX >> 4) + 1) << 2, 16);

let pageSize: usize = 0;
let pageMask: usize = 0;
let mmapThreshold: usize = DEFAULT_MMAP_THRESHOLD;
// Upper bound of the dynamic threshold; 0 keeps the threshold fixed (the default).
let mmapThresholdMax: usize = 0;
// Where brk stood when we first asked (0: not known yet, or the host refused brk(0)).
let brkStart: usize = 0;
// The heap segment at the break, if any; it is the only one that can grow in place.
let brkSegment: usize = 0;
let segments: usize = 0;
let quickBytes: usize = 0;
let heapBytes: usize = 0;

// ---- The heap lock (threaded build; nothing at all otherwise) ----

// The slow path of taking the lock: it spins a little, then sleeps in memory.atomic.wait32.
// It must run as a call of its own, never inlined into the exports. On Node 20 (V8 11.3),
// code from the baseline compiler (Liftoff) loses locals that stay live across a
// memory.atomic.wait32 (or wait64) in a loop, even in one thread: a loop of 100,000 waits that
// returned at once ("not-equal") counted 1, and in the threaded test malloc's arguments went
// wrong. TurboFan code (node --no-liftoff) was right, and so was the same loop with the wait
// in a called function, since a call keeps the caller's locals out of reach. Binaryen inlines small functions, so this one is called through the function
// table (`contendedPath` in acquireLock), and the build exports the table (--exportTable)
// so that binaryen cannot turn the indirect call back into a direct one.
// test/as-threads.test.ts checks that the wait is in exactly this one function.
function acquireContended(state: i32): void {
  atomic.add<u32>(SHARED_CONTENDED, 1);
  for (let spin = 0; spin < LOCK_SPINS; ++spin) {
    if (atomic.load<i32>(SHARED_LOCK) == LOCK_FREE) {
      state = atomic.cmpxchg<i32>(SHARED_LOCK, LOCK_FREE, LOCK_HELD);
      if (state == LOCK_FREE) return;
    }
  }
  // Mark the lock contended so that its holder wakes someone, then sleep until it is free.
  if (state != LOCK_CONTENDED) state = atomic.xchg<i32>(SHARED_LOCK, LOCK_CONTENDED);
  while (state != LOCK_FREE) {
    atomic.add<u32>(SHARED_SLEEPS, 1);
    atomic.wait<i32>(SHARED_LOCK, LOCK_CONTENDED, -1);
    state = atomic.xchg<i32>(SHARED_LOCK, LOCK_CONTENDED);
  }
}

// @ts-ignore: decorator
@inline function acquireLock(): void {
  let state = atomic.cmpxchg<i32>(SHARED_LOCK, LOCK_FREE, LOCK_HELD);
  if (state != LOCK_FREE) {
    let contendedPath: (state: i32) => void = acquireContended;
    contendedPath(state);
  }
}

// @ts-ignore: decorator
@inline function releaseLock(): void {
  if (atomic.sub<i32>(SHARED_LOCK, 1) != LOCK_HELD) {
    atomic.store<i32>(SHARED_LOCK, LOCK_FREE);
    atomic.notify(SHARED_LOCK, 1);
  }
}

// Every exported call that reads or changes the heap runs between lockHeap() and unlockHeap().
// @ts-ignore: decorator
@inline function lockHeap(): void {
  if (THREADS) {
    if (!THREADS_UNLOCKED) acquireLock();
    if (atomic.load<i32>(SHARED_READY)) {
      pageSize = load<usize>(SHARED_SCALARS, 0);
      pageMask = load<usize>(SHARED_SCALARS, 4);
      mmapThreshold = load<usize>(SHARED_SCALARS, 8);
      mmapThresholdMax = load<usize>(SHARED_SCALARS, 12);
      brkStart = load<usize>(SHARED_SCALARS, 16);
      brkSegment = load<usize>(SHARED_SCALARS, 20);
      segments = load<usize>(SHARED_SCALARS, 24);
      quickBytes = load<usize>(SHARED_SCALARS, 28);
      heapBytes = load<usize>(SHARED_SCALARS, 32);
    }
  }
}

// @ts-ignore: decorator
@inline function unlockHeap(): void {
  if (THREADS) {
    store<usize>(SHARED_SCALARS, pageSize, 0);
    store<usize>(SHARED_SCALARS, pageMask, 4);
    store<usize>(SHARED_SCALARS, mmapThreshold, 8);
    store<usize>(SHARED_SCALARS, mmapThresholdMax, 12);
    store<usize>(SHARED_SCALARS, brkStart, 16);
    store<usize>(SHARED_SCALARS, brkSegment, 20);
    store<usize>(SHARED_SCALARS, segments, 24);
    store<usize>(SHARED_SCALARS, quickBytes, 28);
    store<usize>(SHARED_SCALARS, heapBytes, 32);
    atomic.store<i32>(SHARED_READY, 1);
    if (!THREADS_UNLOCKED) releaseLock();
  }
}

// `return unlockedWith(value)` leaves a call with many exits.
// @ts-ignore: decorator
@inline function unlockedWith(result: i32): i32 {
  unlockHeap();
  return result;
}

// ---- Small helpers ----

// @ts-ignore: decorator
@inline function isError(result: usize): bool {
  return result >= ERRNO_FLOOR;
}

// @ts-ignore: decorator
@inline function blockSizeFor(request: usize): usize {
  let size = (request + HEADER + ALIGN - 1) & ~(ALIGN - 1);
  return size < MIN_BLOCK ? MIN_BLOCK : size;
}

// Rounds up to the libc page size in u64, so that the caller can see an overflow.
// @ts-ignore: decorator
@inline function pageRound(bytes: u64): u64 {
  return (bytes + <u64>pageMask) & ~<u64>pageMask;
}

function ensureInit(): void {
  if (pageSize) return;
  let size = sys_pagesize();
  // pagesize() never fails (ABI.md); a value that is not a power of two would be a host
  // bug, and 64 KiB (the wasm page) is the safe answer for every rounding done here.
  if (size < 4096 || (size & (size - 1)) != 0) size = 65536;
  pageSize = size;
  pageMask = size - 1;
  brkStart = sys_brk(0);
}

// @ts-ignore: decorator
@inline function binOf(size: usize): u32 {
  if (size < 1024) return <u32>(size >> 4);
  let log = <u32>31 - clz<u32>(<u32>size);
  let sub = (<u32>size >> (log - 3)) & 7;
  return EXACT_BINS + ((log - 10) << 3) + sub;
}

function insertFree(block: usize, size: usize): void {
  let bin = binOf(size);
  let slot = binHeads + (<usize>bin << 2);
  let head = load<usize>(slot);
  store<usize>(block, head, 4);
  store<usize>(block, 0, 8);
  if (head) store<usize>(head, block, 8);
  store<usize>(slot, block);
  let word = binBitmap + (<usize>(bin >> 5) << 2);
  store<u32>(word, load<u32>(word) | (1 << (bin & 31)));
}

function removeFree(block: usize, size: usize): void {
  let next = load<usize>(block, 4);
  let prev = load<usize>(block, 8);
  if (next) store<usize>(next, prev, 8);
  if (prev) {
    store<usize>(prev, next, 4);
  } else {
    let bin = binOf(size);
    store<usize>(binHeads + (<usize>bin << 2), next);
    if (!next) {
      let word = binBitmap + (<usize>(bin >> 5) << 2);
      store<u32>(word, load<u32>(word) & ~(1 << (bin & 31)));
    }
  }
}

// The first bin at or above `from` that holds a block; BIN_COUNT if none.
function nonEmptyBinFrom(from: u32): u32 {
  if (from >= BIN_COUNT) return BIN_COUNT;
  let word = from >> 5;
  let bits = load<u32>(binBitmap + (<usize>word << 2)) & (<u32>0xFFFFFFFF << (from & 31));
  while (!bits) {
    if (++word == BITMAP_WORDS) return BIN_COUNT;
    bits = load<u32>(binBitmap + (<usize>word << 2));
  }
  return (word << 5) + ctz<u32>(bits);
}

function findFree(size: usize): usize {
  let bin = binOf(size);
  if (bin >= EXACT_BINS) {
    // A ranged bin also holds blocks smaller than `size`: try a few, then move on to a
    // bin where any block will do.
    let block = load<usize>(binHeads + (<usize>bin << 2));
    for (let tries: u32 = 0; block && tries < BIN_SCAN_LIMIT; ++tries) {
      if ((load<u32>(block) & SIZE_MASK) >= <u32>size) return block;
      block = load<usize>(block, 4);
    }
    bin += 1;
  }
  let found = nonEmptyBinFrom(bin);
  return found == BIN_COUNT ? 0 : load<usize>(binHeads + (<usize>found << 2));
}

// Marks the block after `block` (at `block + size`) as following a used block.
// @ts-ignore: decorator
@inline function clearPrevFree(next: usize): void {
  store<u32>(next, load<u32>(next) & ~PREV_FREE);
}

// Takes `size` bytes from the free block `block`, returning the rest to the free lists.
function takeFree(block: usize, size: usize): usize {
  let total = <usize>(load<u32>(block) & SIZE_MASK);
  removeFree(block, total);
  let rest = total - size;
  if (rest >= MIN_BLOCK) {
    store<u32>(block, <u32>size);
    let tailBlock = block + size;
    store<u32>(tailBlock, <u32>rest | FREE);
    store<u32>(tailBlock + rest - 4, <u32>rest);
    insertFree(tailBlock, rest);
  } else {
    // A free block never follows a free block, so PREV_FREE is clear here.
    store<u32>(block, <u32>total);
    clearPrevFree(block + total);
  }
  return block;
}

// Returns a used block to the free lists, merging it with free neighbours.
function releaseBlock(block: usize): void {
  let header = load<u32>(block);
  let size = <usize>(header & SIZE_MASK);
  let next = block + size;
  let nextHeader = load<u32>(next);
  if (nextHeader & FREE) {
    let nextSize = <usize>(nextHeader & SIZE_MASK);
    removeFree(next, nextSize);
    size += nextSize;
  }
  if (header & PREV_FREE) {
    let prevSize = <usize>load<u32>(block - 4);
    block -= prevSize;
    removeFree(block, prevSize);
    size += prevSize;
  }
  store<u32>(block, <u32>size | FREE);
  store<u32>(block + size - 4, <u32>size);
  next = block + size;
  store<u32>(next, load<u32>(next) | PREV_FREE);
  insertFree(block, size);
}

// Flushes every quick list into the coalescing lists.
function consolidate(): void {
  for (let index: usize = 1; index <= (QUICK_MAX >> 4); ++index) {
    let slot = quickHeads + (index << 2);
    let block = load<usize>(slot);
    store<usize>(slot, 0);
    while (block) {
      let next = load<usize>(block, 4);
      store<u32>(block, load<u32>(block) & ~QUICK);
      releaseBlock(block);
      block = next;
    }
  }
  quickBytes = 0;
}

// ---- Heap segments ----

function addSegment(start: usize, end: usize): void {
  store<usize>(start, segments);
  store<usize>(start, end, 4);
  segments = start;
  let first = start + 12;
  let size = end - 4 - first;
  store<u32>(end - 4, 0); // tail: a used block of size 0 that nothing merges with
  store<u32>(first, <u32>size);
  heapBytes += end - start;
  releaseBlock(first);
}

function extendSegment(segment: usize, newEnd: usize): void {
  let oldEnd = load<usize>(segment, 4);
  let block = oldEnd - 4; // the old tail becomes the header of the new space
  let size = newEnd - oldEnd;
  store<u32>(newEnd - 4, 0);
  store<u32>(block, <u32>size | (load<u32>(block) & PREV_FREE));
  store<usize>(segment, newEnd, 4);
  heapBytes += size;
  releaseBlock(block);
}

// Joins two segments that touch (lower's end is upper's start): lower's tail and upper's
// 12-byte segment header become one 16-byte block, which is freed and so merges with the
// free space on either side.
function joinSegments(lower: usize, upper: usize): void {
  let bridge = load<usize>(lower, 4) - 4;
  store<u32>(bridge, 16 | (load<u32>(bridge) & PREV_FREE));
  store<usize>(lower, load<usize>(upper, 4), 4);
  if (segments == upper) {
    segments = load<usize>(upper);
  } else {
    let previous = segments;
    while (load<usize>(previous) != upper) previous = load<usize>(previous);
    store<usize>(previous, load<usize>(upper));
  }
  releaseBlock(bridge);
}

// Makes room for a free block of at least `size` bytes: brk first, then mmap (musl's
// expand_heap does the same when brk fails). Returns false when both are refused.
function growHeap(size: usize): bool {
  if (!brkStart) brkStart = sys_brk(0); // the host may have been attached since start-up
  if (brkStart) {
    let end: u64;
    let start: usize;
    if (brkSegment) {
      // The old tail becomes the new block's header: `size` more bytes are enough.
      start = load<usize>(brkSegment, 4);
      end = pageRound(<u64>start + <u64>(size > MIN_GROW ? size : MIN_GROW));
    } else {
      // A new segment also needs its 16 bytes of segment header and tail.
      start = (brkStart + ALIGN - 1) & ~(ALIGN - 1);
      end = pageRound(<u64>start + <u64>(size + 16 > MIN_GROW ? size + 16 : MIN_GROW));
    }
    if (end <= 0xFFFF0000) {
      let asked = <usize>end;
      if (sys_brk(asked) == asked) {
        if (brkSegment) {
          extendSegment(brkSegment, asked);
        } else {
          brkSegment = start;
          addSegment(start, asked);
        }
        return true;
      }
    }
  }
  let length = pageRound(<u64>(size + 16 > MIN_GROW ? size + 16 : MIN_GROW));
  if (length > 0xFFFF0000) return false;
  let base = sys_mmap(0, <usize>length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0);
  if (isError(base)) return false;
  let end = base + <usize>length;
  addSegment(base, end);
  // The host fills free runs top-down, so a new mapping often lands right below or right
  // above a segment of ours. Joining them lets free space merge across the boundary, where
  // separate segments would strand it.
  let merged = base;
  for (let segment = segments; segment; segment = load<usize>(segment)) {
    if (load<usize>(segment, 4) == base) {
      joinSegments(segment, base);
      merged = segment;
      break;
    }
  }
  for (let segment = segments; segment; segment = load<usize>(segment)) {
    if (segment == end) {
      joinSegments(merged, segment);
      break;
    }
  }
  return true;
}

// A used heap block of `size` bytes (a multiple of 16), or 0.
function heapAllocate(size: usize): usize {
  if (size <= QUICK_MAX) {
    let slot = quickHeads + ((size >> 4) << 2);
    let block = load<usize>(slot);
    if (block) {
      store<usize>(slot, load<usize>(block, 4));
      store<u32>(block, load<u32>(block) & ~QUICK);
      quickBytes -= size;
      return block;
    }
  }
  let block = findFree(size);
  if (!block) {
    if (quickBytes) {
      consolidate();
      block = findFree(size);
    }
    if (!block) {
      if (!growHeap(size)) return 0;
      block = findFree(size);
      if (!block) return 0;
    }
  }
  return takeFree(block, size);
}

function heapFree(block: usize): void {
  let header = load<u32>(block);
  let size = <usize>(header & SIZE_MASK);
  if (size <= QUICK_MAX) {
    let slot = quickHeads + ((size >> 4) << 2);
    store<u32>(block, header | QUICK);
    store<usize>(block, load<usize>(slot), 4);
    store<usize>(slot, block);
    quickBytes += size;
    return;
  }
  releaseBlock(block);
}

// Cuts a used block down to `size` bytes, freeing the rest if it can stand as a block.
function heapTrim(block: usize, size: usize): void {
  let header = load<u32>(block);
  let total = <usize>(header & SIZE_MASK);
  let rest = total - size;
  if (rest < MIN_BLOCK) return;
  store<u32>(block, <u32>size | (header & PREV_FREE));
  let restBlock = block + size;
  store<u32>(restBlock, <u32>rest);
  releaseBlock(restBlock);
}

// ---- Mapped blocks ----

function mapAllocate(request: usize, alignment: usize): usize {
  let extra: u64 = alignment > ALIGN ? <u64>alignment + MAPPED_PREFIX : <u64>MAPPED_PREFIX;
  let length = pageRound(<u64>request + extra);
  if (length > 0xFFFF0000) return 0;
  let base = sys_mmap(0, <usize>length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0);
  if (isError(base)) return 0;
  let payload = (base + MAPPED_PREFIX + alignment - 1) & ~(alignment - 1);
  store<u32>(payload - 8, <u32>(payload - base));
  store<u32>(payload - 4, <u32>length | MAPPED);
  return payload;
}

// @ts-ignore: decorator
@inline function mappedLength(payload: usize): usize {
  return <usize>(load<u32>(payload - 4) & SIZE_MASK);
}

// @ts-ignore: decorator
@inline function mappedOffset(payload: usize): usize {
  return <usize>load<u32>(payload - 8);
}

function mapFree(payload: usize): void {
  let offset = mappedOffset(payload);
  sys_munmap(payload - offset, mappedLength(payload));
}

function mapRealloc(payload: usize, request: usize): usize {
  let offset = mappedOffset(payload);
  let oldLength = mappedLength(payload);
  let length = pageRound(<u64>request + offset);
  if (length > 0xFFFF0000) return 0;
  if (<usize>length == oldLength) return payload;
  let base = sys_mremap(payload - offset, oldLength, <usize>length, MREMAP_MAYMOVE, 0);
  if (isError(base)) {
    // Shrinking in place cannot really fail; if it does, the old block is still big enough.
    return <usize>length < oldLength ? payload : 0;
  }
  let moved = base + offset;
  store<u32>(moved - 4, <u32>length | MAPPED);
  return moved;
}

// ---- The C interface ----

function allocate(size: usize): usize {
  if (size > MAX_REQUEST) return 0;
  ensureInit();
  if (size > mmapThreshold) return mapAllocate(size, ALIGN);
  let block = heapAllocate(blockSizeFor(size));
  return block ? block + HEADER : 0;
}

export function malloc(size: usize): usize {
  lockHeap();
  let payload = allocate(size);
  if (DEBUG_HOOKS) if (payload) debug_on_alloc(payload, size, malloc_usable_size(payload));
  unlockHeap();
  return payload;
}

// A pointer free() and realloc() may act on: non-null and 16-byte aligned. Anything else
// cannot have come from here and is ignored rather than followed.
// @ts-ignore: decorator
@inline function plausible(payload: usize): bool {
  return payload != 0 && (payload & (ALIGN - 1)) == 0;
}

function release(payload: usize): void {
  let header = load<u32>(payload - HEADER);
  if (header & MAPPED) {
    if (mmapThresholdMax) {
      // glibc's dynamic threshold (mallopt(3), M_MMAP_THRESHOLD): freeing a mapped block
      // larger than the threshold, up to the maximum, raises the threshold to its size, so
      // that a program allocating and freeing blocks of that size keeps them in the heap
      // instead of paying mmap, munmap and the host's page clearing every time.
      let size = malloc_usable_size(payload);
      if (size > mmapThreshold && size <= mmapThresholdMax) mmapThreshold = size;
    }
    mapFree(payload);
  } else if (!(header & (FREE | QUICK))) {
    // A header already marked free is a double free: leaving it alone keeps the lists sound.
    heapFree(payload - HEADER);
  }
}

export function free(payload: usize): void {
  if (!plausible(payload)) return;
  lockHeap();
  if (DEBUG_HOOKS) {
    if (debug_check_free(payload)) {
      unlockHeap();
      return;
    }
  }
  release(payload);
  if (DEBUG_HOOKS) debug_on_free(payload);
  unlockHeap();
}

export function calloc(count: usize, size: usize): usize {
  let total = <u64>count * <u64>size;
  if (total > <u64>MAX_REQUEST) return 0;
  let bytes = <usize>total;
  lockHeap();
  let payload = allocate(bytes);
  // A mapped block is fresh from mmap, which the host guarantees reads as zeros (ABI.md).
  if (payload && !(load<u32>(payload - HEADER) & MAPPED)) memory.fill(payload, 0, bytes);
  if (DEBUG_HOOKS) if (payload) debug_on_alloc(payload, bytes, malloc_usable_size(payload));
  unlockHeap();
  return payload;
}

function reallocate(payload: usize, size: usize): usize {
  let header = load<u32>(payload - HEADER);
  if (header & MAPPED) {
    if (size > mmapThreshold) return mapRealloc(payload, size);
    // Back across the threshold into the heap.
    let moved = allocate(size);
    if (!moved) return mapRealloc(payload, size); // keep the mapping, just smaller
    memory.copy(moved, payload, size);
    mapFree(payload);
    return moved;
  }
  if (header & (FREE | QUICK)) return 0; // realloc of a freed block
  let block = payload - HEADER;
  let total = <usize>(header & SIZE_MASK);
  if (size <= mmapThreshold) {
    let wanted = blockSizeFor(size);
    if (wanted <= total) {
      heapTrim(block, wanted);
      return payload;
    }
    let next = block + total;
    let nextHeader = load<u32>(next);
    if (nextHeader & FREE) {
      let nextSize = <usize>(nextHeader & SIZE_MASK);
      if (total + nextSize >= wanted) {
        removeFree(next, nextSize);
        total += nextSize;
        clearPrevFree(block + total);
        store<u32>(block, <u32>total | (header & PREV_FREE));
        heapTrim(block, wanted);
        return payload;
      }
    }
  }
  let moved = allocate(size);
  if (!moved) return 0;
  let kept = total - HEADER;
  memory.copy(moved, payload, kept < size ? kept : size);
  // Re-read inside heapFree: allocate() may have consolidated the quick lists and so
  // changed this block's PREV_FREE bit.
  heapFree(block);
  return moved;
}

export function realloc(payload: usize, size: usize): usize {
  if (!payload) return malloc(size);
  if (!plausible(payload) || size > MAX_REQUEST) return 0;
  lockHeap();
  if (DEBUG_HOOKS) {
    if (debug_check_free(payload)) {
      unlockHeap();
      return 0;
    }
  }
  let moved = reallocate(payload, size);
  if (DEBUG_HOOKS) if (moved) debug_on_realloc(payload, moved, size, malloc_usable_size(moved));
  unlockHeap();
  return moved;
}

// C11 7.22.3.1: `alignment` must be a power of two (0 and others fail, like musl's EINVAL).
export function aligned_alloc(alignment: usize, size: usize): usize {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return 0;
  if (alignment <= ALIGN) return malloc(size);
  if (size > MAX_REQUEST || alignment > 0x10000000) return 0;
  lockHeap();
  ensureInit();
  let payload: usize = 0;
  if (<u64>size + alignment > <u64>mmapThreshold) {
    payload = mapAllocate(size, alignment);
  } else {
    // Over-allocate by `alignment`, then give back the part before the aligned address.
    let block = heapAllocate(blockSizeFor(size + alignment));
    if (block) {
      payload = (block + HEADER + alignment - 1) & ~(alignment - 1);
      let lead = payload - HEADER - block;
      if (lead) {
        // Both addresses are 16-aligned, so `lead` is a multiple of 16 and >= 16.
        let header = load<u32>(block);
        let total = <usize>(header & SIZE_MASK);
        let aligned = payload - HEADER;
        store<u32>(aligned, <u32>(total - lead));
        store<u32>(block, <u32>lead | (header & PREV_FREE));
        releaseBlock(block);
      }
      heapTrim(payload - HEADER, blockSizeFor(size));
    }
  }
  if (DEBUG_HOOKS) if (payload) debug_on_alloc(payload, size, malloc_usable_size(payload));
  unlockHeap();
  return payload;
}

export function malloc_usable_size(payload: usize): usize {
  if (!plausible(payload)) return 0;
  let header = load<u32>(payload - HEADER);
  if (header & MAPPED) return <usize>(header & SIZE_MASK) - mappedOffset(payload);
  return <usize>(header & SIZE_MASK) - HEADER;
}

// Sets the mmap threshold in bytes (0 leaves it unchanged); returns the threshold in force.
// Like mallopt(M_MMAP_THRESHOLD) it only affects later allocations, and it fixes the
// threshold (turns the dynamic threshold off).
export function set_mmap_threshold(bytes: usize): usize {
  lockHeap();
  if (bytes) {
    mmapThreshold = bytes > MAX_REQUEST ? MAX_REQUEST : bytes;
    mmapThresholdMax = 0;
  }
  let threshold = mmapThreshold;
  unlockHeap();
  return threshold;
}

// Turns on glibc's dynamic threshold with this upper bound (glibc uses 512 KiB on 32-bit
// targets); 0 turns it off. Returns the bound in force. Off by default: the threshold then
// stays where set_mmap_threshold (or the 112 KiB default) put it.
export function set_mmap_threshold_max(bytes: usize): usize {
  lockHeap();
  mmapThresholdMax = bytes > MAX_REQUEST ? MAX_REQUEST : bytes;
  let bound = mmapThresholdMax;
  unlockHeap();
  return bound;
}

// ---- Introspection for tests and the benchmark ----

// Bytes of heap segments obtained from brk and mmap so far.
export function heap_bytes(): usize {
  lockHeap();
  let bytes = heapBytes;
  unlockHeap();
  return bytes;
}

// Bytes of free heap blocks (in the bins and on the quick lists).
export function heap_free_bytes(): usize {
  lockHeap();
  let total = quickBytes;
  for (let bin: u32 = 0; bin < BIN_COUNT; ++bin) {
    for (let block = load<usize>(binHeads + (<usize>bin << 2)); block; block = load<usize>(block, 4)) {
      total += <usize>(load<u32>(block) & SIZE_MASK);
    }
  }
  unlockHeap();
  return total;
}

// Number of heap segments (1 while brk alone has sufficed).
export function heap_segments(): u32 {
  lockHeap();
  let count: u32 = 0;
  for (let segment = segments; segment; segment = load<usize>(segment)) ++count;
  unlockHeap();
  return count;
}

// Threaded build: how often a call found the heap lock held, and how often it then slept
// (0 in the single-threaded build, which has no lock).
export function heap_lock_contended(): u32 {
  return THREADS ? atomic.load<u32>(SHARED_CONTENDED) : 0;
}

export function heap_lock_sleeps(): u32 {
  return THREADS ? atomic.load<u32>(SHARED_SLEEPS) : 0;
}

// Walks every segment and every list and returns 0, or a negative code naming the first
// broken invariant (see docs/guest-as.md for the list).
export function heap_check(): i32 {
  lockHeap();
  let freeBlocks: u32 = 0;
  let quickBlocks: u32 = 0;
  let quickSeen: usize = 0;
  for (let segment = segments; segment; segment = load<usize>(segment)) {
    let end = load<usize>(segment, 4);
    let tail = end - 4;
    let block = segment + 12;
    let previousFree = false;
    while (block < tail) {
      let header = load<u32>(block);
      let size = <usize>(header & SIZE_MASK);
      if (size < MIN_BLOCK || block + size > tail) return unlockedWith(-1); // block runs past its segment
      if (((header & PREV_FREE) != 0) != previousFree) return unlockedWith(-2); // PREV_FREE out of date
      if (header & MAPPED) return unlockedWith(-3); // heap block marked as mapped
      let isFree = (header & FREE) != 0;
      if (isFree) {
        if (previousFree) return unlockedWith(-4); // two free neighbours were not merged
        if (<usize>load<u32>(block + size - 4) != size) return unlockedWith(-5); // footer disagrees
        if (header & QUICK) return unlockedWith(-6); // both free and on a quick list
        ++freeBlocks;
      }
      if (header & QUICK) {
        ++quickBlocks;
        quickSeen += size;
      }
      previousFree = isFree;
      block += size;
    }
    if (block != tail) return unlockedWith(-7); // blocks do not end exactly at the tail
    let tailHeader = load<u32>(tail);
    if ((tailHeader & SIZE_MASK) != 0) return unlockedWith(-8); // tail overwritten
    if (((tailHeader & PREV_FREE) != 0) != previousFree) return unlockedWith(-2);
  }
  let listed: u32 = 0;
  for (let bin: u32 = 0; bin < BIN_COUNT; ++bin) {
    let block = load<usize>(binHeads + (<usize>bin << 2));
    let bitSet = (load<u32>(binBitmap + (<usize>(bin >> 5) << 2)) & (1 << (bin & 31))) != 0;
    if (bitSet != (block != 0)) return unlockedWith(-9); // bitmap disagrees with the bin
    let previous: usize = 0;
    while (block) {
      let header = load<u32>(block);
      if (!(header & FREE)) return unlockedWith(-10); // a listed block is not free
      if (binOf(<usize>(header & SIZE_MASK)) != bin) return unlockedWith(-11); // block in the wrong bin
      if (load<usize>(block, 8) != previous) return unlockedWith(-12); // broken back link
      ++listed;
      previous = block;
      block = load<usize>(block, 4);
    }
  }
  if (listed != freeBlocks) return unlockedWith(-13); // free blocks missing from the lists
  let quickListed: u32 = 0;
  for (let index: usize = 1; index <= (QUICK_MAX >> 4); ++index) {
    let block = load<usize>(quickHeads + (index << 2));
    while (block) {
      let header = load<u32>(block);
      if (!(header & QUICK) || <usize>(header & SIZE_MASK) != index << 4) return unlockedWith(-14); // quick list entry
      ++quickListed;
      block = load<usize>(block, 4);
    }
  }
  if (quickListed != quickBlocks || quickSeen != quickBytes) return unlockedWith(-15); // quick lists miscounted
  return unlockedWith(0);
}
