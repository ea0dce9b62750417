/**
 * What every memory call works on: the engine and, for file-backed mappings, a way to turn a
 * file descriptor into a file. The calls in this folder are written once against this; the
 * `mman` import module (abi-mman.ts) and any later ABI only translate arguments and results.
 */
import type { AddressSpace } from "../runtime/address-space.js";
import type { MappableFile } from "./file-mappings.js";

/** Turns a guest file descriptor into a file that can back a mapping. */
export interface FileResolver {
  /** The open file behind `fd`, or null when `fd` is not an open descriptor (EBADF). */
  resolve(fd: number): MappableFile | null;
}

export interface SyscallContext {
  readonly space: AddressSpace;
  files: FileResolver | null;
}

/** Result type of a call: an address or 0 on success, `-errno` on failure. */
export type CallResult = number;

/** A call's plan, or the -errno that stopped it before anything changed. */
export type Planned<Plan> = Plan | number;
