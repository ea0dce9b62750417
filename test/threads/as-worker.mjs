// One thread of test/as-threads.test.ts: joins the shared address space, instantiates the
// threaded AssemblyScript allocator on the shared memory and runs random malloc, calloc,
// realloc and free of mixed sizes. Every block carries its thread's pattern: a 32-bit tag
// (thread and serial number) in its first 4 bytes and one byte value, picked by the tag, in
// the rest. A block is checked before it is reallocated or freed, and at the end. Some
// blocks are handed to another thread through a shared mailbox, and freed there.
import { parentPort, workerData } from "node:worker_threads";

/** Largest request made (a mapped block), plus the tag word. */
const MAX_SIZE = 520 * 1024;

/** The tag of a thread's n-th block, and the byte value that fills the rest of it. */
export function tagOf(thread, serial) {
  return (((thread + 1) << 24) | serial) >>> 0;
}

export function byteOf(tag) {
  return 1 + (((tag >>> 24) - 1) & 15) * 8 + (tag & 7);
}

// Buffers of one byte value, compared against with Buffer.compare (one memcmp per check).
const references = new Map();
function reference(byte) {
  let buffer = references.get(byte);
  if (!buffer) references.set(byte, (buffer = Buffer.alloc(MAX_SIZE, byte)));
  return buffer;
}

/** Writes a block's pattern. */
export function writePattern(memory, address, size, tag) {
  const bytes = Buffer.from(memory.buffer, address, size);
  bytes.fill(byteOf(tag));
  if (size >= 4) bytes.writeUInt32LE(tag, 0);
}

/**
 * Null if the block of `size` bytes at `address` carries the pattern of `tag` in its first
 * `length` bytes (all of them by default), else what is wrong.
 */
export function patternProblem(memory, address, size, tag, length = size) {
  const bytes = Buffer.from(memory.buffer, address, length);
  const describe = (what) => `block 0x${address.toString(16)} (${size} bytes, tag 0x${tag.toString(16)}) ${what}`;
  const tagged = size >= 4 ? Math.min(4, length) : 0;
  for (let i = 0; i < tagged; i++) {
    if (bytes[i] !== ((tag >>> (8 * i)) & 0xff)) return describe(`has byte ${bytes[i]} at +${i} of its tag`);
  }
  const byte = byteOf(tag);
  if (Buffer.compare(bytes.subarray(tagged), reference(byte).subarray(0, length - tagged)) === 0) return null;
  const at = bytes.findIndex((value, i) => i >= tagged && value !== byte);
  return describe(`reads ${bytes[at]} at +${at}, not ${byte}`);
}

/**
 * The mailbox: `MAILBOX_SLOTS` slots of 4 Int32 cells in a SharedArrayBuffer, [state, address,
 * size, tag]; state 0 empty, 1 being written or read, 2 full. A thread takes a slot with one
 * compareExchange, so that a block is handed to exactly one other thread.
 */
export const MAILBOX_SLOTS = 16;
const EMPTY = 0;
const BUSY = 1;
const FULL = 2;

function post(mailbox, block) {
  for (let slot = 0; slot < MAILBOX_SLOTS; slot++) {
    if (Atomics.compareExchange(mailbox, slot * 4, EMPTY, BUSY) !== EMPTY) continue;
    mailbox.set(block, slot * 4 + 1);
    Atomics.store(mailbox, slot * 4, FULL);
    return true;
  }
  return false;
}

/** A block another thread posted ([address, size, tag]), or null. */
function take(mailbox, thread) {
  for (let slot = 0; slot < MAILBOX_SLOTS; slot++) {
    if (Atomics.load(mailbox, slot * 4) !== FULL || (mailbox[slot * 4 + 3] >>> 24) - 1 === thread) continue;
    if (Atomics.compareExchange(mailbox, slot * 4, FULL, BUSY) !== FULL) continue;
    const block = [mailbox[slot * 4 + 1] >>> 0, mailbox[slot * 4 + 2], mailbox[slot * 4 + 3] >>> 0];
    Atomics.store(mailbox, slot * 4, EMPTY);
    return block;
  }
  return null;
}

/** The blocks still in the mailbox, as [address, size, tag]. */
export function mailboxBlocks(mailbox) {
  const blocks = [];
  for (let slot = 0; slot < MAILBOX_SLOTS; slot++) {
    if (mailbox[slot * 4] === FULL) blocks.push([mailbox[slot * 4 + 1] >>> 0, mailbox[slot * 4 + 2], mailbox[slot * 4 + 3] >>> 0]);
  }
  return blocks;
}

if (workerData?.role === "as-thread") runThread(workerData);

function runThread({ handle, module, thread, threads, sync, mailbox, ops, seed, slots }) {
  // Imported here so that the test file can use the pattern helpers without the package.
  import("../../dist/index.js").then(({ createMman }) => {
    const memory = handle.memory;
    const mman = createMman({ shared: handle });
    const env = { memory, abort: () => { throw new Error("guest abort"); } };
    const exports = new WebAssembly.Instance(module, { env, ...mman.imports }).exports;
    exports._initialize?.();
    const { malloc, calloc, realloc, free, aligned_alloc: alignedAlloc, malloc_usable_size: usable } = exports;

    let state = seed >>> 0 || 1;
    const random = (n) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      return state % n;
    };
    // 60% small (the quick lists), 32% medium (the coalescing bins, heap growth), 8% above
    // the 112 KiB threshold (a mapping each).
    const sizeOf = () => {
      const kind = random(100);
      if (kind < 60) return 1 + random(1024);
      if (kind < 92) return 1025 + random(100 * 1024);
      return 114689 + random(400 * 1024);
    };
    const zeros = Buffer.alloc(MAX_SIZE);
    const problems = [];
    const counts = { malloc: 0, calloc: 0, aligned: 0, realloc: 0, free: 0, large: 0, posted: 0, freedForeign: 0 };
    const live = new Array(slots).fill(null); // [address, size, tag]
    let serial = 0;

    const give = (address, size) => {
      const tag = tagOf(thread, ++serial & 0xffffff);
      writePattern(memory, address, size, tag);
      return [address, size, tag];
    };
    const check = (block) => {
      const problem = patternProblem(memory, block[0], block[1], block[2]);
      if (problem) problems.push(`thread ${thread}: ${problem}`);
    };

    // Start together, so that the threads really overlap.
    Atomics.add(sync, 0, 1);
    Atomics.notify(sync, 0);
    for (let seen = Atomics.load(sync, 0); seen < threads; seen = Atomics.load(sync, 0)) Atomics.wait(sync, 0, seen, 50);

    const started = performance.now();
    try {
      for (let op = 0; op < ops && problems.length < 10; op++) {
        const slot = random(slots);
        const block = live[slot];
        if (block === null) {
          const size = sizeOf();
          const kind = random(20);
          // 10% calloc, 5% aligned_alloc (64 B to 4 KiB), the rest malloc.
          const alignment = kind === 0 ? 64 << random(7) : 0;
          const cleared = kind >= 18;
          const address = (cleared ? calloc(1, size) : alignment ? alignedAlloc(alignment, size) : malloc(size)) >>> 0;
          if (address === 0) { problems.push(`thread ${thread}: out of memory for ${size} bytes`); break; }
          counts[cleared ? "calloc" : alignment ? "aligned" : "malloc"]++;
          if (alignment && address % alignment !== 0) problems.push(`thread ${thread}: aligned_alloc(${alignment}) gave 0x${address.toString(16)}`);
          if (size > 114688) counts.large++;
          if (cleared && Buffer.compare(Buffer.from(memory.buffer, address, size), zeros.subarray(0, size)) !== 0) {
            problems.push(`thread ${thread}: calloc(${size}) at 0x${address.toString(16)} is not zero`);
          }
          live[slot] = give(address, size);
        } else if (random(10) < 7) {
          check(block);
          // One block in four goes to another thread, which checks and frees it.
          if (random(4) === 0 && post(mailbox, block)) {
            counts.posted++;
          } else {
            free(block[0]);
            counts.free++;
          }
          live[slot] = null;
          const foreign = take(mailbox, thread);
          if (foreign) {
            check(foreign);
            free(foreign[0]);
            counts.freedForeign++;
          }
        } else {
          check(block);
          const size = sizeOf();
          const address = realloc(block[0], size) >>> 0;
          if (address === 0) { problems.push(`thread ${thread}: realloc to ${size} bytes failed`); break; }
          counts.realloc++;
          if (size > 114688) counts.large++;
          const kept = Math.min(size, block[1]);
          // The kept bytes moved with the block: its tag word and its fill.
          const problem = patternProblem(memory, address, block[1], block[2], kept);
          if (problem) problems.push(`thread ${thread}: after realloc: ${problem}`);
          live[slot] = give(address, size);
        }
      }
    } catch (error) {
      // Only the unlocked build gets here: a list it broke sent it out of bounds.
      problems.push(`thread ${thread}: trap: ${error.message}`);
    }
    const elapsedMs = performance.now() - started;
    const blocks = live.filter((block) => block !== null);
    for (const block of blocks) check(block);
    const usableSize = (address) => {
      try {
        return usable(address) >>> 0;
      } catch {
        return 0; // a broken header (the unlocked build only): the test sees usable < size
      }
    };
    parentPort.postMessage({
      live: blocks.map(([address, size, tag]) => [address, size, tag, usableSize(address)]),
      problems,
      counts,
      elapsedMs,
    });
  });
}
