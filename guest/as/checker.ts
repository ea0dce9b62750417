// The host side of the allocator's debug build (compiled with `--use MMAN_DEBUG=1`): a
// shadow map of every live block, fed by the `mman_debug` imports, that flags blocks
// overlapping a live block, double frees and frees of pointers it never handed out.
// (The same idea as AssemblyScript's rtrace, kept outside the guest so that a corrupted
// guest heap cannot corrupt the record.)
//
//   const checker = new ShadowHeap();
//   await WebAssembly.instantiate(bytes, { ...mman.imports, ...checker.imports() });
//   ... run ...
//   expect(checker.findings).toEqual([]);

export type FindingKind = "overlap" | "double-free" | "unknown-free";

export interface Finding {
  kind: FindingKind;
  /** The pointer the guest returned or was given. */
  ptr: number;
  /** For an overlap: the live block it overlaps. */
  other?: number;
  message: string;
}

interface Block {
  ptr: number;
  size: number;
  /** malloc_usable_size(): the bytes the caller may use, and so the range checked. */
  usable: number;
}

const hex = (value: number): string => `0x${value.toString(16)}`;

export class ShadowHeap {
  readonly findings: Finding[] = [];
  /** Live blocks sorted by address (binary search; inserts splice). */
  private readonly blocks: Block[] = [];
  /** Pointers freed and not handed out since: telling a double free from a wild one. */
  private readonly freed = new Set<number>();
  allocations = 0;
  frees = 0;

  /**
   * @param veto When true (the default), check_free answers 1 for a bad pointer and the guest
   *   leaves its heap alone; when false the guest goes ahead, as a release build would, so a
   *   test can watch what the bad free does next.
   */
  constructor(public veto = true) {}

  /** The `mman_debug` import module for the debug build. */
  imports(): { mman_debug: Record<string, (...args: number[]) => number | void> } {
    return {
      mman_debug: {
        on_alloc: (ptr: number, size: number, usable: number) => this.onAlloc(ptr >>> 0, size >>> 0, usable >>> 0),
        check_free: (ptr: number) => this.checkFree(ptr >>> 0),
        on_free: (ptr: number) => this.onFree(ptr >>> 0),
        on_realloc: (oldPtr: number, newPtr: number, size: number, usable: number) =>
          this.onRealloc(oldPtr >>> 0, newPtr >>> 0, size >>> 0, usable >>> 0),
      },
    };
  }

  get liveBlocks(): number {
    return this.blocks.length;
  }

  get liveBytes(): number {
    return this.blocks.reduce((sum, block) => sum + block.size, 0);
  }

  /** The live block starting at `ptr`, if any. */
  block(ptr: number): Readonly<Block> | undefined {
    const index = this.indexOf(ptr);
    const block = this.blocks[index];
    return block !== undefined && block.ptr === ptr ? block : undefined;
  }

  onAlloc(ptr: number, size: number, usable: number): void {
    this.allocations++;
    this.insert({ ptr, size, usable });
  }

  /** Called before free/realloc touches `ptr`: 0 to go ahead, 1 to leave it alone. */
  checkFree(ptr: number): number {
    if (this.block(ptr) !== undefined) return 0;
    if (this.freed.has(ptr)) {
      this.report("double-free", ptr, `free(${hex(ptr)}): the block was already freed`);
    } else {
      this.report("unknown-free", ptr, `free(${hex(ptr)}): not a pointer the allocator handed out`);
    }
    return this.veto ? 1 : 0;
  }

  onFree(ptr: number): void {
    this.frees++;
    this.remove(ptr);
  }

  onRealloc(oldPtr: number, newPtr: number, size: number, usable: number): void {
    this.remove(oldPtr);
    this.insert({ ptr: newPtr, size, usable });
  }

  private remove(ptr: number): void {
    const index = this.indexOf(ptr);
    if (this.blocks[index]?.ptr === ptr) this.blocks.splice(index, 1);
    this.freed.add(ptr);
  }

  private insert(block: Block): void {
    this.freed.delete(block.ptr);
    const index = this.indexOf(block.ptr);
    // Sorted and (while the allocator is sound) disjoint: only the neighbours can overlap.
    const below = this.blocks[index - 1];
    const here = this.blocks[index];
    for (const other of [below, here]) {
      if (other !== undefined && block.ptr < other.ptr + other.usable && other.ptr < block.ptr + block.usable) {
        this.report(
          "overlap",
          block.ptr,
          `block ${hex(block.ptr)}+${block.usable} overlaps live block ${hex(other.ptr)}+${other.usable}`,
          other.ptr,
        );
      }
    }
    if (here?.ptr === block.ptr) this.blocks[index] = block;
    else this.blocks.splice(index, 0, block);
  }

  /** The first index whose block starts at or above `ptr`. */
  private indexOf(ptr: number): number {
    let low = 0;
    let high = this.blocks.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.blocks[middle]!.ptr < ptr) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private report(kind: FindingKind, ptr: number, message: string, other?: number): void {
    this.findings.push(other === undefined ? { kind, ptr, message } : { kind, ptr, other, message });
  }
}
