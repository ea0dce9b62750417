/**
 * Formatting TraceRecords (the record the trace hook receives) for people and for tools:
 *
 *   traceJsonLine(rec)  {"seq":3,"call":"mmap","args":[0,131072,3,34,-1,0],"result":1179648,"errno":null,...}
 *   straceLine(rec)     mmap(0, 131072, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x120000
 *
 * The strace form follows strace(1)'s conventions: flags by name, addresses in hex, a failure
 * as `= -1 ENOMEM`. Flag names are Linux's (asm-generic/mman-common.h).
 */
import { Errno, Madv, MapFlags as MapFlag, Mremap, Ms, Prot } from "../runtime/linux.js";
import type { TraceRecord } from "../syscalls/calls.js";

/** One JSON object per line, fields in a fixed order: seq, call, args, result, errno, time, durationUs. */
export function traceJsonLine(record: TraceRecord): string {
  return JSON.stringify({
    seq: record.seq,
    call: record.call,
    args: record.args,
    result: record.result,
    errno: record.errno,
    time: Math.round(record.time * 1000) / 1000,
    durationUs: Math.round(record.durationUs * 1000) / 1000,
  });
}

function hex(value: number): string {
  return `0x${(value >>> 0).toString(16)}`;
}

/** An address argument: 0 as `0` (strace prints NULL; the brief's form is 0), else hex. */
function address(value: number): string {
  return value === 0 ? "0" : hex(value);
}

/** Names the set bits of `value` from `names`; unknown bits are shown in hex; none -> `zero`. */
function flagNames(value: number, names: readonly (readonly [number, string])[], zero: string): string {
  const parts: string[] = [];
  let rest = value >>> 0;
  for (const [bit, name] of names) {
    if (bit !== 0 && (rest & bit) === bit) {
      parts.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) parts.push(hex(rest));
  return parts.length === 0 ? zero : parts.join("|");
}

const PROT_NAMES = [
  [Prot.READ, "PROT_READ"],
  [Prot.WRITE, "PROT_WRITE"],
  [Prot.EXEC, "PROT_EXEC"],
] as const;

const MAP_NAMES = [
  [MapFlag.FIXED, "MAP_FIXED"],
  [MapFlag.ANONYMOUS, "MAP_ANONYMOUS"],
  [MapFlag.NORESERVE, "MAP_NORESERVE"],
  [MapFlag.POPULATE, "MAP_POPULATE"],
  [MapFlag.FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"],
] as const;

const MREMAP_NAMES = [
  [Mremap.MAYMOVE, "MREMAP_MAYMOVE"],
  [Mremap.FIXED, "MREMAP_FIXED"],
  [Mremap.DONTUNMAP, "MREMAP_DONTUNMAP"],
] as const;

const MS_NAMES = [
  [Ms.ASYNC, "MS_ASYNC"],
  [Ms.INVALIDATE, "MS_INVALIDATE"],
  [Ms.SYNC, "MS_SYNC"],
] as const;

const MADV_NAMES = new globalThis.Map<number, string>([
  [Madv.NORMAL, "MADV_NORMAL"],
  [Madv.RANDOM, "MADV_RANDOM"],
  [Madv.SEQUENTIAL, "MADV_SEQUENTIAL"],
  [Madv.WILLNEED, "MADV_WILLNEED"],
  [Madv.DONTNEED, "MADV_DONTNEED"],
  [Madv.FREE, "MADV_FREE"],
]);

/** mmap flags: the map type first (it is a 4-bit field, not bits), then the flag bits. */
function mapFlags(flags: number): string {
  const type = flags & MapFlag.TYPE;
  const typeName =
    type === MapFlag.SHARED ? "MAP_SHARED" : type === MapFlag.PRIVATE ? "MAP_PRIVATE" : type === MapFlag.SHARED_VALIDATE ? "MAP_SHARED_VALIDATE" : hex(type);
  const rest = flags & ~MapFlag.TYPE;
  return rest === 0 ? typeName : `${typeName}|${flagNames(rest, MAP_NAMES, "0")}`;
}

function formatArgs(record: TraceRecord): string {
  const a = record.args;
  switch (record.call) {
    case "brk":
      return address(a[0]);
    case "mmap":
      return `${address(a[0])}, ${a[1]}, ${flagNames(a[2], PROT_NAMES, "PROT_NONE")}, ${mapFlags(a[3])}, ${a[4] | 0}, ${a[5]}`;
    case "munmap":
      return `${address(a[0])}, ${a[1]}`;
    case "mremap":
      return `${address(a[0])}, ${a[1]}, ${a[2]}, ${flagNames(a[3], MREMAP_NAMES, "0")}, ${address(a[4])}`;
    case "madvise":
      return `${address(a[0])}, ${a[1]}, ${MADV_NAMES.get(a[2]) ?? String(a[2])}`;
    case "mprotect":
      return `${address(a[0])}, ${a[1]}, ${flagNames(a[2], PROT_NAMES, "PROT_NONE")}`;
    case "msync":
      return `${address(a[0])}, ${a[1]}, ${flagNames(a[2], MS_NAMES, "0")}`;
    case "pagesize":
      return "";
  }
}

/**
 * What each errno the calls return means, in glibc's strerror(3) words, as strace(1) prints
 * them after the name (`-1 ENOMEM (Cannot allocate memory)`).
 */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EBADF: "Bad file descriptor",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EFAULT: "Bad address",
  EEXIST: "File exists",
  ENODEV: "No such device",
  EINVAL: "Invalid argument",
  ENOSYS: "Function not implemented",
  EOVERFLOW: "Value too large for defined data type",
  EOPNOTSUPP: "Operation not supported",
};

/** strerror(3)'s text for an errno name (`"ENOMEM"` -> `"Cannot allocate memory"`), or null. */
export function errnoText(name: string): string | null {
  return ERRNO_TEXT[name] ?? null;
}

export interface StraceLineOptions {
  /** Follow the errno name with its text, as strace does: `-1 ENOMEM (Cannot allocate memory)`. */
  errnoText?: boolean;
}

/** The result: `-1 ENOMEM` on failure; an address in hex; 0 and the page size in decimal. */
function formatResult(record: TraceRecord, options: StraceLineOptions): string {
  if (record.errno !== null) {
    const text = options.errnoText === true ? errnoText(record.errno) : null;
    return text === null ? `-1 ${record.errno}` : `-1 ${record.errno} (${text})`;
  }
  switch (record.call) {
    case "brk":
    case "mmap":
    case "mremap":
      return hex(record.result);
    default:
      return String(record.result);
  }
}

/** One strace(1)-style line (no newline), e.g. `munmap(0x120000, 131072) = 0`. */
export function straceLine(record: TraceRecord, options: StraceLineOptions = {}): string {
  return `${record.call}(${formatArgs(record)}) = ${formatResult(record, options)}`;
}

/** Known errno names, for checking trace output. */
export const TRACE_ERRNO_NAMES: readonly string[] = Object.keys(Errno);
