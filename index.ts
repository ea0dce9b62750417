/**
 * wasi-mman: Linux memory calls (brk, mmap, munmap, mremap, madvise, mprotect, msync) for
 * WebAssembly guests, on top of memory.grow, for WASI hosts written in JavaScript.
 */
export { createMman } from "./syscalls/create-mman.js";
export type { AttachInfo, AttachTarget, MappingInfo, Mman, MmanOptions, MmanStats } from "./syscalls/create-mman.js";
export type { FileResolver } from "./syscalls/context.js";
export { CALL_NAMES } from "./syscalls/calls.js";
export type { CallName, TraceHook, TraceRecord } from "./syscalls/calls.js";
export { MMAN_ABI_VERSION, MMAN_MODULE, MMAN_SIGNATURES } from "./syscalls/abi-mman.js";
export type { MmanImportName, MmanImports } from "./syscalls/abi-mman.js";
export { AddressSpace, PageKind } from "./runtime/address-space.js";
export type { MappingRecord } from "./runtime/address-space.js";
export type { MappableFile } from "./syscalls/file-mappings.js";
export { ArrayLinearMemory, WasmLinearMemory } from "./runtime/memory.js";
export type { LinearMemory } from "./runtime/memory.js";
export { pageGeometry, parsePageSize, MIN_PAGE_SIZE, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE } from "./runtime/page-size.js";
export { growthPolicy } from "./runtime/growth.js";
export type { GrowthOption, GrowthPolicy } from "./runtime/growth.js";
export { Errno, errnoName, Prot, MapFlags, Mremap, Madv, Ms } from "./runtime/linux.js";
// Host adapters (browser_wasi_shim, import checks, trace formats). node:wasi's adapter needs
// Node and is exported separately: "wasi-mman/node-wasi".
export * from "./hosts/index.js";
