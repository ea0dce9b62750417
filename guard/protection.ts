/**
 * The protection byte: what the instrumented guest and the host agree on. One byte per 4 KiB
 * granule of linear memory (the smallest libc page size, so the table does not depend on the
 * page size chosen at run time; a libc page of 16 KiB is four equal bytes).
 *
 *   bit 0  R  reads allowed
 *   bit 1  W  writes allowed
 *   bits 2-4  what the page is, for the report (the check reads only R and W)
 *
 * 0 is "nothing here": never mapped, unmapped, or free. An access traps unless every byte it
 * touches has the bits it needs (R for a load, W for a store, both for an atomic
 * read-modify-write).
 */
export const GRANULE_SHIFT = 12;
export const GRANULE = 1 << GRANULE_SHIFT;

export const Access = { READ: 1, WRITE: 2, READ_WRITE: 3 } as const;

export const Kind = {
  NONE: 0,
  BRK: 1,
  MAPPING: 2,
  /** Grown by the guest or its WASI host (memory.grow outside the calls): the guest's own. */
  FOREIGN: 3,
  /** The module image below the heap base. */
  IMAGE: 4,
  /** The protection table itself: no access for the guest. */
  TABLE: 5,
} as const;
export type KindValue = (typeof Kind)[keyof typeof Kind];

export const KIND_SHIFT = 2;

export function protectionByte(kind: KindValue, access: number): number {
  return (kind << KIND_SHIFT) | (access & Access.READ_WRITE);
}

export function kindOf(byte: number): KindValue {
  return ((byte >> KIND_SHIFT) & 7) as KindValue;
}

/** What the instrumented module records in `__guard_fault_info` (guard/instrument.ts). */
export const Op = {
  LOAD: 0,
  STORE: 1,
  ATOMIC_RMW: 2,
  ATOMIC_CMPXCHG: 3,
  ATOMIC_WAIT: 4,
  ATOMIC_NOTIFY: 5,
  SIMD_LOAD: 6,
  SIMD_LANE_LOAD: 7,
  SIMD_LANE_STORE: 8,
  MEMORY_FILL: 9,
  MEMORY_COPY_DEST: 10,
  MEMORY_COPY_SOURCE: 11,
  MEMORY_INIT: 12,
} as const;

export const OP_NAMES: Record<number, string> = {
  [Op.LOAD]: "load",
  [Op.STORE]: "store",
  [Op.ATOMIC_RMW]: "atomic read-modify-write",
  [Op.ATOMIC_CMPXCHG]: "atomic compare-exchange",
  [Op.ATOMIC_WAIT]: "memory.atomic.wait",
  [Op.ATOMIC_NOTIFY]: "memory.atomic.notify",
  [Op.SIMD_LOAD]: "v128 load",
  [Op.SIMD_LANE_LOAD]: "v128 lane load",
  [Op.SIMD_LANE_STORE]: "v128 lane store",
  [Op.MEMORY_FILL]: "memory.fill",
  [Op.MEMORY_COPY_DEST]: "memory.copy (destination)",
  [Op.MEMORY_COPY_SOURCE]: "memory.copy (source)",
  [Op.MEMORY_INIT]: "memory.init",
};

/**
 * The fault word: size in bits 0-7 (1 for a bulk operation's granule), the access wanted in
 * bits 8-9, the operation in bits 16-23.
 */
export function faultInfo(size: number, access: number, op: number): number {
  return (size & 0xff) | ((access & 3) << 8) | ((op & 0xff) << 16);
}

export function decodeFaultInfo(info: number): { size: number; access: number; op: number } {
  return { size: info & 0xff, access: (info >> 8) & 3, op: (info >> 16) & 0xff };
}

/** The exports the instrumented module adds, by name. */
export const GuardExport = {
  TABLE: "__guard_table",
  FAST_LENGTH: "__guard_fast_length",
  KNOWN_GRANULES: "__guard_known_granules",
  NULL_LIMIT: "__guard_null_limit",
  FAULT_ADDRESS: "__guard_fault_address",
  FAULT_INFO: "__guard_fault_info",
  FAULT_BASE: "__guard_fault_base",
  FAULT_LENGTH: "__guard_fault_length",
  /** The memory size (64 KiB pages) the guest's memory.size reports while the table ends memory. */
  SHOWN_PAGES: "__guard_shown_pages",
  TABLE_END_PAGES: "__guard_table_end_pages",
} as const;
