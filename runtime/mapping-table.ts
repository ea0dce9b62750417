/**
 * The mapping table: one record per mapping, kept in flat typed arrays indexed by the
 * mapping's first page (meaningful where the page table's `starts` bit is set). Files are kept
 * as opaque objects in a slot table with reference counts: the engine never reads or writes a
 * file (syscalls/file-mappings.ts does), it only remembers which file backs which pages.
 */
import type { SharedRegion } from "./shared-state.js";

/** A record's fields, as the calls read them (a snapshot; changing it changes nothing). */
export interface MappingRecord {
  /** First page. */
  start: number;
  pages: number;
  prot: number;
  /** The map type and MAP_ANONYMOUS, as given to mmap. */
  flags: number;
  requestedBytes: number;
  /** The object the file resolver returned, or null for anonymous memory. */
  file: object | null;
  /** Byte offset in the file of the first page (for shared anonymous memory: in its object). */
  fileOffset: number;
  /** vma flags besides protection (linux.ts VmFlag): neighbours that differ never merge. */
  vmFlags: number;
  /**
   * Which object the pages belong to, as Linux's anon_vma or shmem file tells vmas apart:
   * records of one origin may merge, records of two never do (a mapping moved next to another).
   */
  origin: number;
}

/** File slots a shared mapping table holds: mappings of this many distinct files at once. */
export const SHARED_FILE_SLOTS = 4096;

/**
 * What a shared mapping table reports as the file of a mapping another thread's WASI host
 * opened: this thread cannot read or write that file (docs/threads.md, "Files").
 */
export const OTHER_THREAD_FILE: object = Object.freeze({ otherThread: true });

export class MappingTable {
  pages: Int32Array = new Int32Array(0);
  prot: Uint8Array = new Uint8Array(0);
  flags: Int32Array = new Int32Array(0);
  requested: Float64Array = new Float64Array(0);
  /** 0 = anonymous; otherwise 1 + a slot in `files`. */
  fileSlot: Int32Array = new Int32Array(0);
  fileOffset: Float64Array = new Float64Array(0);
  vmFlags: Int32Array = new Int32Array(0);
  origin: Int32Array = new Int32Array(0);
  private nextOrigin = 1;
  private files: (object | null)[] = [];
  private fileKeys: (object | null)[] = [];
  private fileRefs: number[] | Int32Array = [];
  /** Records backed by a file (lets anonymous-only programs skip every file step). */
  fileRecords = 0;
  /**
   * Shared tables only: which engine (thread) owns each file slot, and the slot's generation
   * when this thread filled its local entry (a slot freed and taken again by another thread
   * must not find this thread's old file).
   */
  private fileOwner: Int32Array | null = null;
  private fileGeneration: Int32Array = new Int32Array(0);
  private localGeneration: number[] = [];
  private engineId = 0;

  /**
   * Moves the records into `region` for `capacity` pages (shared-state.ts). File slots become
   * shared numbers; the file objects stay with the engine (thread) `engineId` that mapped them.
   */
  share(region: SharedRegion, capacity: number, engineId: number): void {
    this.pages = region.int32("maps.pages", capacity);
    this.prot = region.uint8("maps.prot", capacity);
    this.flags = region.int32("maps.flags", capacity);
    this.requested = region.float64("maps.requested", capacity);
    this.fileSlot = region.int32("maps.fileSlot", capacity);
    this.fileOffset = region.float64("maps.fileOffset", capacity);
    this.vmFlags = region.int32("maps.vmFlags", capacity);
    this.origin = region.int32("maps.origin", capacity);
    this.fileRefs = region.int32("maps.fileRefs", SHARED_FILE_SLOTS);
    this.fileOwner = region.int32("maps.fileOwner", SHARED_FILE_SLOTS);
    this.fileGeneration = region.int32("maps.fileGeneration", SHARED_FILE_SLOTS);
    this.engineId = engineId;
    region.bindScalars("maps.scalars", this as MappingTable, ["nextOrigin", "fileRecords"] as never[]);
  }

  /** True when the file of slot `slot` (1-based, as in fileSlot) is one this thread can use. */
  ownsFileSlot(slot: number): boolean {
    return this.fileOwner === null || this.localEntryValid(slot - 1);
  }

  ensureCapacity(capacity: number): void {
    if (capacity <= this.pages.length) return;
    if (this.fileOwner !== null) throw new Error(`wasi-mman: page ${capacity} is past the shared mapping table`);
    const grow = <T extends Int32Array | Uint8Array | Float64Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity);
      next.set(old);
      return next;
    };
    this.pages = grow(this.pages, (n) => new Int32Array(n));
    this.prot = grow(this.prot, (n) => new Uint8Array(n));
    this.flags = grow(this.flags, (n) => new Int32Array(n));
    this.requested = grow(this.requested, (n) => new Float64Array(n));
    this.fileSlot = grow(this.fileSlot, (n) => new Int32Array(n));
    this.fileOffset = grow(this.fileOffset, (n) => new Float64Array(n));
    this.vmFlags = grow(this.vmFlags, (n) => new Int32Array(n));
    this.origin = grow(this.origin, (n) => new Int32Array(n));
  }

  /** A new origin, for a mapping that shares its pages with no other. */
  newOrigin(): number {
    return this.nextOrigin++;
  }

  /** Writes a record at `start` (the page table's start bit is the caller's). */
  write(start: number, pages: number, prot: number, flags: number, requested: number, file: object | null, fileOffset: number, vmFlags: number, origin: number): void {
    this.pages[start] = pages;
    this.vmFlags[start] = vmFlags;
    this.origin[start] = origin;
    this.prot[start] = prot;
    this.flags[start] = flags;
    this.requested[start] = requested;
    this.fileSlot[start] = file === null ? 0 : this.refFile(file) + 1;
    this.fileOffset[start] = fileOffset;
  }

  /** Copies the record at `from` to `to` with a new length and request (a split's right part). */
  copySplit(from: number, to: number, pages: number, requested: number, offsetDelta: number): void {
    this.pages[to] = pages;
    this.vmFlags[to] = this.vmFlags[from];
    this.origin[to] = this.origin[from];
    this.prot[to] = this.prot[from];
    this.flags[to] = this.flags[from];
    this.requested[to] = requested;
    const slot = this.fileSlot[from];
    this.fileSlot[to] = slot;
    if (slot !== 0) {
      this.fileRefs[slot - 1]++;
      this.fileRecords++;
    }
    this.fileOffset[to] = this.fileOffset[from] + offsetDelta;
  }

  /** Forgets the record at `start`, dropping its file reference. */
  clear(start: number): void {
    const slot = this.fileSlot[start];
    if (slot !== 0) {
      this.fileRecords--;
      if (--this.fileRefs[slot - 1] === 0 && slot - 1 < this.files.length) {
        this.files[slot - 1] = null;
        this.fileKeys[slot - 1] = null;
      }
    }
    this.fileSlot[start] = 0;
    this.pages[start] = 0;
    this.requested[start] = 0;
  }

  fileOf(start: number): object | null {
    const slot = this.fileSlot[start];
    if (slot === 0) return null;
    return this.fileOwner === null || this.localEntryValid(slot - 1) ? this.files[slot - 1] : OTHER_THREAD_FILE;
  }

  record(start: number): MappingRecord {
    return {
      start,
      pages: this.pages[start],
      prot: this.prot[start],
      flags: this.flags[start],
      requestedBytes: this.requested[start],
      file: this.fileOf(start),
      fileOffset: this.fileOffset[start],
      vmFlags: this.vmFlags[start],
      origin: this.origin[start],
    };
  }

  get byteLength(): number {
    return (
      this.pages.byteLength +
      this.prot.byteLength +
      this.flags.byteLength +
      this.requested.byteLength +
      this.fileSlot.byteLength +
      this.fileOffset.byteLength +
      this.vmFlags.byteLength +
      this.origin.byteLength
    );
  }

  /**
   * The slot of a file, found by its identity: a resolver may hand out a new object for the same
   * open file each time (syscalls/file-mappings.ts, MappableFile.identity), and mappings of one
   * file must compare equal whatever object came with them.
   */
  private refFile(file: object): number {
    const key = (file as { identity?: object }).identity ?? file;
    let slot = this.fileKeys.indexOf(key);
    if (slot >= 0 && this.fileOwner !== null && !this.localEntryValid(slot)) {
      // Freed since, possibly taken by another thread: this thread's entry is stale.
      this.files[slot] = null;
      this.fileKeys[slot] = null;
      slot = -1;
    }
    if (slot < 0) {
      slot = this.fileOwner === null ? this.freeLocalSlot() : this.freeSharedSlot();
      this.files[slot] = file;
      this.fileKeys[slot] = key;
      this.fileRefs[slot] = 0;
    }
    this.fileRefs[slot]++;
    this.fileRecords++;
    return slot;
  }

  private freeLocalSlot(): number {
    const slot = this.fileKeys.indexOf(null);
    return slot >= 0 ? slot : this.fileKeys.push(null) - 1;
  }

  /** A slot no live record uses, claimed for this thread (the caller holds the engine lock). */
  private freeSharedSlot(): number {
    const refs = this.fileRefs as Int32Array;
    const slot = refs.indexOf(0);
    if (slot < 0) throw new RangeError(`wasi-mman: more than ${SHARED_FILE_SLOTS} files mapped at once in a shared address space`);
    (this.fileOwner as Int32Array)[slot] = this.engineId;
    this.localGeneration[slot] = ++this.fileGeneration[slot];
    while (this.files.length <= slot) {
      this.files.push(null);
      this.fileKeys.push(null);
    }
    return slot;
  }

  private localEntryValid(slot: number): boolean {
    return (
      this.fileRefs[slot] > 0 &&
      (this.fileOwner as Int32Array)[slot] === this.engineId &&
      this.localGeneration[slot] === this.fileGeneration[slot] &&
      this.files[slot] !== null &&
      this.files[slot] !== undefined
    );
  }
}
