/**
 * instrument(bytes): a copy of a module in which every access to linear memory is checked
 * against the guard's protection table before it happens, in wasm (no call to JavaScript per
 * access). Built on Binaryen's IR through its JavaScript build (npm `binaryen`): the module is
 * read, each function's body is walked, the pointer operand of each memory instruction is
 * wrapped in a check, and the module is written back with its name section.
 *
 * A load or store of n bytes at p+offset becomes
 *
 *   (i32.load offset=K
 *     (block (result i32)
 *       (local.set $p <pointer>)
 *       (if (i32.ge_u (i32.sub ea (NULL)) (global.get $fast_length))   ;; ea at or above the table
 *         (if (bits (table[ea >> 12] & table[(ea+n-1) >> 12]) lack R or W)
 *           (call $__guard_miss ea info)))                          ;; rechecks, records, traps
 *       (local.get $p)))
 *
 * so an access below the table (the image, the stack: everything under the heap base) costs
 * one add, one subtract and one compare; an access above it two byte loads more. Bulk
 * operations (memory.fill, memory.copy, memory.init) check every granule of their ranges
 * through a helper function. Atomic and SIMD accesses are checked like loads and stores
 * (spec: https://webassembly.github.io/spec/core/syntax/instructions.html#memory-instructions).
 *
 * The guest's own memory.grow needs no instrumentation: granules above the size the host last
 * saw that exist now can only have come from the guest (or its WASI host), so the miss handler
 * marks them as the guest's own and rechecks before it traps.
 */
import binaryen from "binaryen";
import { Access, faultInfo, GRANULE_SHIFT, GuardExport, Kind, Op, protectionByte } from "./protection.js";

export interface InstrumentOptions {
  /**
   * Addresses below this are null (default: the first 4 KiB, or less when the module's data
   * starts lower, so that its static data stays reachable).
   */
  nullLimit?: number;
}

export interface InstrumentResult {
  bytes: Uint8Array<ArrayBuffer>;
  /** Memory instructions checked, by kind. */
  counts: { loads: number; stores: number; atomics: number; simd: number; bulk: number };
  nullLimit: number;
}

/**
 * The parts of binaryen.js that its index.d.ts does not declare: the per-expression accessor
 * classes (binaryen.Load.setPtr ...), the raw C API's BinaryenFunctionAddVar, and the data
 * segment readers of Binaryen 132's Module.
 */
type Accessors = Record<string, (expr: number, value?: number) => any>;
type ExpressionClasses = Record<string, Accessors> & { _BinaryenFunctionAddVar(func: number, type: number): number };
const ir = binaryen as unknown as ExpressionClasses;
interface DataSegments {
  getNumDataSegments(): number;
  getDataSegmentByIndex(index: number): number;
  getDataSegmentInfo(segment: number): { offset: number | null; data: ArrayBuffer; passive: boolean };
}

const NAME = {
  miss: "__guard_miss",
  range: "__guard_range",
  table: "__guard$table",
  fast: "__guard$fast_length",
  known: "__guard$known_granules",
  nullLimit: "__guard$null_limit",
  faultAddress: "__guard$fault_address",
  faultInfo: "__guard$fault_info",
  faultBase: "__guard$fault_base",
  faultLength: "__guard$fault_length",
  shownPages: "__guard$shown_pages",
  tableEndPages: "__guard$table_end_pages",
} as const;

/** Bytes touched by each SIMD load or lane operation (the SIMD proposal's opcode table). */
function simdBytes(op: number): number {
  const b = binaryen as unknown as Record<string, number>;
  const sizes: [string, number][] = [
    ["Load8SplatVec128", 1], ["Load16SplatVec128", 2], ["Load32SplatVec128", 4], ["Load64SplatVec128", 8],
    ["Load8x8SVec128", 8], ["Load8x8UVec128", 8], ["Load16x4SVec128", 8], ["Load16x4UVec128", 8],
    ["Load32x2SVec128", 8], ["Load32x2UVec128", 8], ["Load32ZeroVec128", 4], ["Load64ZeroVec128", 8],
    ["Load8LaneVec128", 1], ["Load16LaneVec128", 2], ["Load32LaneVec128", 4], ["Load64LaneVec128", 8],
    ["Store8LaneVec128", 1], ["Store16LaneVec128", 2], ["Store32LaneVec128", 4], ["Store64LaneVec128", 8],
  ];
  for (const [name, bytes] of sizes) if (b[name] === op) return bytes;
  throw new Error(`wasi-mman guard: unknown SIMD memory operation ${op}`);
}

function isLaneStore(op: number): boolean {
  const b = binaryen as unknown as Record<string, number>;
  return [b.Store8LaneVec128, b.Store16LaneVec128, b.Store32LaneVec128, b.Store64LaneVec128].includes(op);
}

/** The lowest address of the module's active data segments with constant offsets, or Infinity. */
function lowestData(module: binaryen.Module): number {
  let lowest = Infinity;
  const segments = module as unknown as DataSegments;
  const count = segments.getNumDataSegments();
  for (let i = 0; i < count; i++) {
    // Binaryen 132 takes the segment's reference and gives the byte offset as a number.
    const info = segments.getDataSegmentInfo(segments.getDataSegmentByIndex(i));
    if (info.passive || info.offset === null || info.data.byteLength === 0) continue;
    lowest = Math.min(lowest, info.offset >>> 0);
  }
  return lowest;
}

/**
 * Where wasm-ld puts data by default (--global-base): the null limit at most, since a module's
 * zero-initialised statics have no segment (AssemblyScript keeps its runtime state there).
 */
const WASM_LD_DATA = 1024;

/** The constant value of an exported `__heap_base` global, or Infinity. */
function constantHeapBase(module: binaryen.Module): number {
  const exported = module.getExport("__heap_base");
  if (exported === 0) return Infinity;
  const info = binaryen.getExportInfo(exported);
  if (info.kind !== binaryen.ExternalGlobal) return Infinity;
  const init = binaryen.getGlobalInfo(module.getGlobal(info.value)).init;
  const value = binaryen.getExpressionInfo(init) as binaryen.ConstInfo;
  return value.id === binaryen.ConstId && typeof value.value === "number" ? value.value >>> 0 : Infinity;
}

export function instrument(bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentResult {
  const previousDebugInfo = binaryen.getDebugInfo();
  // Keeps the name section on output, so traps name the guest's functions.
  binaryen.setDebugInfo(true);
  const module = binaryen.readBinary(bytes);
  try {
    if (!module.hasMemory()) throw new Error("wasi-mman guard: the module has no memory to guard");
    const memory = module.getMemoryInfo();
    if (memory.is64) throw new Error("wasi-mman guard: memory64 modules are not supported");
    // Below the heap base too: AssemblyScript's heap starts right after its data, in the
    // first 4 KiB (its allocator keeps its state at __heap_base).
    const nullLimit = options.nullLimit ?? Math.max(1, Math.min(WASM_LD_DATA, lowestData(module), constantHeapBase(module)));
    const counts = { loads: 0, stores: 0, atomics: 0, simd: 0, bulk: 0 };
    const i32 = binaryen.i32;
    const m = module;

    m.addGlobal(NAME.table, i32, true, m.i32.const(0));
    // Until the host attaches, every address at or above the null limit passes the first test.
    m.addGlobal(NAME.fast, i32, true, m.i32.const(-1));
    m.addGlobal(NAME.known, i32, true, m.i32.const(0));
    m.addGlobal(NAME.nullLimit, i32, false, m.i32.const(nullLimit));
    for (const name of [NAME.faultAddress, NAME.faultInfo, NAME.faultBase, NAME.faultLength]) m.addGlobal(name, i32, true, m.i32.const(0));
    m.addGlobal(NAME.shownPages, i32, true, m.i32.const(0));
    // -1: no memory size is hidden (a size of 2^32 - 1 pages never happens).
    m.addGlobal(NAME.tableEndPages, i32, true, m.i32.const(-1));

    /**
     * What the guest's memory.size says. For a module whose break starts at the end of its
     * memory (wasi-libc's dlmalloc takes everything up to memory.size as its heap), the host
     * puts the table at that end; while the table is the last thing in memory, the guest is
     * told the size without it, so its allocator never claims the table. Its own memory.grow
     * returns the real size, so its next region starts above the table.
     */
    const ownSizes = new Set<number>();
    const realSize = (): binaryen.ExpressionRef => {
      const size = m.memory.size();
      ownSizes.add(size);
      return size;
    };
    const shownSize = (): binaryen.ExpressionRef =>
      m.select(m.i32.eq(realSize(), m.global.get(NAME.tableEndPages, i32)), m.global.get(NAME.shownPages, i32), realSize());
    // The guard's own memory.size (in shownSize) is left as it is.
    const isMemorySize = (ref: number): boolean => ref !== 0 && !ownSizes.has(ref) && binaryen.getExpressionId(ref) === binaryen.MemorySizeId;
    /** Replaces a memory.size operand where clang puts them (sbrk: a shift, a multiply, a local, a return). */
    const hideTable = (expr: number, id: number): void => {
      if (id === binaryen.BinaryId) {
        if (isMemorySize(ir.Binary.getLeft(expr))) ir.Binary.setLeft(expr, shownSize());
        if (isMemorySize(ir.Binary.getRight(expr))) ir.Binary.setRight(expr, shownSize());
      } else if (id === binaryen.LocalSetId) {
        if (isMemorySize(ir.LocalSet.getValue(expr))) ir.LocalSet.setValue(expr, shownSize());
      } else if (id === binaryen.ReturnId) {
        if (isMemorySize(ir.Return.getValue(expr))) ir.Return.setValue(expr, shownSize());
      } else if (id === binaryen.GlobalSetId) {
        if (isMemorySize(ir.GlobalSet.getValue(expr))) ir.GlobalSet.setValue(expr, shownSize());
      }
    };

    const tableByte = (address: binaryen.ExpressionRef): binaryen.ExpressionRef =>
      m.i32.load8_u(0, 1, m.i32.add(m.global.get(NAME.table, i32), m.i32.shr_u(address, m.i32.const(GRANULE_SHIFT))));

    /** The check around a pointer operand: see the file comment. `ea` is a second scratch local. */
    const checked = (pointer: binaryen.ExpressionRef, local: number, ea: number, offset: number, size: number, access: number, op: number): binaryen.ExpressionRef => {
      const address = offset === 0 ? m.local.get(local, i32) : m.i32.add(m.local.get(local, i32), m.i32.const(offset));
      const last = size === 1 ? null : tableByte(m.i32.add(m.local.get(ea, i32), m.i32.const(size - 1)));
      const bits = last === null ? tableByte(m.local.get(ea, i32)) : m.i32.and(tableByte(m.local.get(ea, i32)), last);
      const denied = m.i32.ne(m.i32.and(bits, m.i32.const(access)), m.i32.const(access));
      const miss = m.call(NAME.miss, [m.local.get(ea, i32), m.i32.const(faultInfo(size, access, op))], binaryen.none);
      const aboveTable = m.i32.ge_u(m.i32.sub(m.local.tee(ea, address, i32), m.i32.const(nullLimit)), m.global.get(NAME.fast, i32));
      return m.block(null, [m.local.set(local, pointer), m.if(aboveTable, m.if(denied, miss)), m.local.get(local, i32)], i32);
    };

    const functionCount = m.getNumFunctions();
    for (let index = 0; index < functionCount; index++) {
      const func = m.getFunctionByIndex(index);
      const info = binaryen.getFunctionInfo(func);
      if (info.module !== "" && info.module !== null) continue; // an import: no body
      // Two scratch locals per function serve every access in it: a nested access inside a
      // pointer operand finishes with them before the outer check sets them.
      let pointerLocal = -1;
      let addressLocal = -1;
      const check = (pointer: binaryen.ExpressionRef, offset: number, size: number, access: number, op: number): binaryen.ExpressionRef => {
        if (pointerLocal < 0) {
          pointerLocal = ir._BinaryenFunctionAddVar(func, i32);
          addressLocal = ir._BinaryenFunctionAddVar(func, i32);
        }
        return checked(pointer, pointerLocal, addressLocal, offset, size, access, op);
      };
      const freshLocal = (): number => ir._BinaryenFunctionAddVar(func, i32);
      const rangeCheck = (address: number, length: number, access: number, op: number): binaryen.ExpressionRef =>
        m.call(NAME.range, [m.local.get(address, i32), m.local.get(length, i32), m.i32.const(faultInfo(1, access, op))], binaryen.none);
      // An explicit stack, not recursion: big switch statements nest blocks thousands deep.
      const stack: number[] = [info.body];
      while (stack.length > 0) {
        const expr = stack.pop() as number;
        if (expr === 0) continue;
        const id = binaryen.getExpressionId(expr);
        switch (id) {
          case binaryen.LoadId:
          case binaryen.StoreId: {
            const store = id === binaryen.StoreId;
            const accessors = store ? ir.Store : ir.Load;
            const ptr = accessors.getPtr(expr);
            stack.push(ptr);
            if (store) stack.push(ir.Store.getValue(expr));
            const access = store ? Access.WRITE : Access.READ;
            accessors.setPtr(expr, check(ptr, accessors.getOffset(expr), accessors.getBytes(expr), access, store ? Op.STORE : Op.LOAD));
            if (accessors.isAtomic(expr)) counts.atomics++;
            else if (store) counts.stores++;
            else counts.loads++;
            break;
          }
          case binaryen.AtomicRMWId:
          case binaryen.AtomicCmpxchgId: {
            const rmw = id === binaryen.AtomicRMWId;
            const accessors = rmw ? ir.AtomicRMW : ir.AtomicCmpxchg;
            const ptr = accessors.getPtr(expr);
            if (rmw) stack.push(ptr, ir.AtomicRMW.getValue(expr));
            else stack.push(ptr, ir.AtomicCmpxchg.getExpected(expr), ir.AtomicCmpxchg.getReplacement(expr));
            const op = rmw ? Op.ATOMIC_RMW : Op.ATOMIC_CMPXCHG;
            accessors.setPtr(expr, check(ptr, accessors.getOffset(expr), accessors.getBytes(expr), Access.READ_WRITE, op));
            counts.atomics++;
            break;
          }
          case binaryen.AtomicWaitId: {
            // Binaryen's JavaScript API does not expose the offset of wait and notify: the
            // check covers the pointer operand itself (offset 0 in what clang emits).
            const wait = binaryen.getExpressionInfo(expr) as binaryen.AtomicWaitInfo;
            stack.push(wait.ptr, wait.expected, wait.timeout);
            const size = wait.expectedType === binaryen.i64 ? 8 : 4;
            ir.AtomicWait.setPtr(expr, check(wait.ptr, 0, size, Access.READ, Op.ATOMIC_WAIT));
            counts.atomics++;
            break;
          }
          case binaryen.AtomicNotifyId: {
            const notify = binaryen.getExpressionInfo(expr) as binaryen.AtomicNotifyInfo;
            stack.push(notify.ptr, notify.notifyCount);
            ir.AtomicNotify.setPtr(expr, check(notify.ptr, 0, 4, Access.READ, Op.ATOMIC_NOTIFY));
            counts.atomics++;
            break;
          }
          case binaryen.SIMDLoadId: {
            const load = binaryen.getExpressionInfo(expr) as binaryen.SIMDLoadInfo;
            stack.push(load.ptr);
            ir.SIMDLoad.setPtr(expr, check(load.ptr, load.offset, simdBytes(load.op), Access.READ, Op.SIMD_LOAD));
            counts.simd++;
            break;
          }
          case binaryen.SIMDLoadStoreLaneId: {
            const lane = binaryen.getExpressionInfo(expr) as binaryen.SIMDLoadStoreLaneInfo;
            stack.push(lane.ptr, lane.vec);
            const store = isLaneStore(lane.op);
            ir.SIMDLoadStoreLane.setPtr(
              expr,
              check(lane.ptr, lane.offset, simdBytes(lane.op), store ? Access.WRITE : Access.READ, store ? Op.SIMD_LANE_STORE : Op.SIMD_LANE_LOAD),
            );
            counts.simd++;
            break;
          }
          case binaryen.MemoryFillId:
          case binaryen.MemoryInitId: {
            // Both write [dest, dest + size); the operand between is the fill byte or the segment offset.
            const fill = id === binaryen.MemoryFillId;
            const accessors = fill ? ir.MemoryFill : ir.MemoryInit;
            const operands = [accessors.getDest(expr), fill ? ir.MemoryFill.getValue(expr) : ir.MemoryInit.getOffset(expr), accessors.getSize(expr)];
            stack.push(...operands);
            const dest = freshLocal();
            const size = freshLocal();
            accessors.setDest(expr, m.local.tee(dest, operands[0], i32));
            const op = fill ? Op.MEMORY_FILL : Op.MEMORY_INIT;
            accessors.setSize(expr, m.block(null, [m.local.set(size, operands[2]), rangeCheck(dest, size, Access.WRITE, op), m.local.get(size, i32)], i32));
            counts.bulk++;
            break;
          }
          case binaryen.MemoryCopyId: {
            const copy = binaryen.getExpressionInfo(expr) as binaryen.MemoryCopyInfo;
            stack.push(copy.dest, copy.source, copy.size);
            const dest = freshLocal();
            const source = freshLocal();
            const size = freshLocal();
            ir.MemoryCopy.setDest(expr, m.local.tee(dest, copy.dest, i32));
            ir.MemoryCopy.setSource(expr, m.local.tee(source, copy.source, i32));
            ir.MemoryCopy.setSize(
              expr,
              m.block(null, [
                m.local.set(size, copy.size),
                rangeCheck(source, size, Access.READ, Op.MEMORY_COPY_SOURCE),
                rangeCheck(dest, size, Access.WRITE, Op.MEMORY_COPY_DEST),
                m.local.get(size, i32),
              ], i32),
            );
            counts.bulk++;
            break;
          }
          default:
            hideTable(expr, id);
            pushChildren(expr, id, stack);
        }
      }
    }

    addMissFunction(m, nullLimit);
    addRangeFunction(m, nullLimit);
    m.addGlobalExport(NAME.table, GuardExport.TABLE);
    m.addGlobalExport(NAME.fast, GuardExport.FAST_LENGTH);
    m.addGlobalExport(NAME.known, GuardExport.KNOWN_GRANULES);
    m.addGlobalExport(NAME.nullLimit, GuardExport.NULL_LIMIT);
    m.addGlobalExport(NAME.faultAddress, GuardExport.FAULT_ADDRESS);
    m.addGlobalExport(NAME.faultInfo, GuardExport.FAULT_INFO);
    m.addGlobalExport(NAME.faultBase, GuardExport.FAULT_BASE);
    m.addGlobalExport(NAME.faultLength, GuardExport.FAULT_LENGTH);
    m.addGlobalExport(NAME.shownPages, GuardExport.SHOWN_PAGES);
    m.addGlobalExport(NAME.tableEndPages, GuardExport.TABLE_END_PAGES);
    // Exported mutable globals are a feature of their own (the mutable-globals proposal).
    m.setFeatures(m.getFeatures() | binaryen.Features.MutableGlobals);
    const out = m.emitBinary();
    return { bytes: new Uint8Array(out) as Uint8Array<ArrayBuffer>, counts, nullLimit };
  } finally {
    module.dispose();
    binaryen.setDebugInfo(previousDebugInfo);
  }
}

/**
 * __guard_miss(ea, info): the slow path, taken only when the inline test failed. Adopts growth
 * the guest did itself, rechecks, and otherwise records the fault in the exported globals and
 * executes `unreachable` (a trap the host turns into the report). A bulk operation's range is
 * in the fault base and length globals already (__guard_range); otherwise they are set here.
 */
function addMissFunction(m: binaryen.Module, nullLimit: number): void {
  const i32 = binaryen.i32;
  const [EA, INFO, NOW, GRANULE, NEED, LAST] = [0, 1, 2, 3, 4, 5];
  const get = (index: number): number => m.local.get(index, i32);
  const tableAt = (address: number): number => m.i32.add(m.global.get(NAME.table, i32), m.i32.shr_u(address, m.i32.const(GRANULE_SHIFT)));
  const foreign = protectionByte(Kind.FOREIGN, Access.READ_WRITE);
  const body = m.block(null, [
    // Not attached yet: nothing is known, nothing traps.
    m.if(m.i32.eqz(m.global.get(NAME.known, i32)), m.return()),
    // memory.size in 64 KiB pages; 16 granules each (at most 2^20, no overflow).
    m.local.set(NOW, m.i32.shl(m.memory.size(), m.i32.const(16 - GRANULE_SHIFT))),
    m.if(
      m.i32.gt_u(get(NOW), m.global.get(NAME.known, i32)),
      m.block(null, [
        m.local.set(GRANULE, m.global.get(NAME.known, i32)),
        m.loop("adopt", m.block(null, [
          m.i32.store8(0, 1, m.i32.add(m.global.get(NAME.table, i32), get(GRANULE)), m.i32.const(foreign)),
          m.local.set(GRANULE, m.i32.add(get(GRANULE), m.i32.const(1))),
          m.br("adopt", m.i32.lt_u(get(GRANULE), get(NOW))),
        ])),
        m.global.set(NAME.known, get(NOW)),
      ]),
    ),
    m.local.set(NEED, m.i32.and(m.i32.shr_u(get(INFO), m.i32.const(8)), m.i32.const(3))),
    m.local.set(LAST, m.i32.add(get(EA), m.i32.sub(m.i32.and(get(INFO), m.i32.const(0xff)), m.i32.const(1)))),
    m.if(
      m.i32.and(
        m.i32.ge_u(get(EA), m.i32.const(nullLimit)),
        m.i32.eq(m.i32.and(m.i32.and(m.i32.load8_u(0, 1, tableAt(get(EA))), m.i32.load8_u(0, 1, tableAt(get(LAST)))), get(NEED)), get(NEED)),
      ),
      m.return(),
    ),
    m.if(
      m.i32.eqz(m.global.get(NAME.faultLength, i32)),
      m.block(null, [m.global.set(NAME.faultBase, get(EA)), m.global.set(NAME.faultLength, m.i32.and(get(INFO), m.i32.const(0xff)))]),
    ),
    m.global.set(NAME.faultAddress, get(EA)),
    m.global.set(NAME.faultInfo, get(INFO)),
    m.unreachable(),
  ]);
  m.addFunction(NAME.miss, binaryen.createType([i32, i32]), binaryen.none, [i32, i32, i32, i32], body);
}

/** __guard_range(address, length, info): every granule of a bulk operation's range. */
function addRangeFunction(m: binaryen.Module, nullLimit: number): void {
  const i32 = binaryen.i32;
  const [ADDRESS, LENGTH, INFO, LAST, GRANULE, END, NEED] = [0, 1, 2, 3, 4, 5, 6];
  const get = (index: number): number => m.local.get(index, i32);
  // The range goes to the fault globals for the report; cleared again when the miss was growth.
  const miss = (ea: number): number =>
    m.block(null, [
      m.global.set(NAME.faultBase, get(ADDRESS)),
      m.global.set(NAME.faultLength, get(LENGTH)),
      m.call(NAME.miss, [ea, get(INFO)], binaryen.none),
      m.global.set(NAME.faultLength, m.i32.const(0)),
    ]);
  const body = m.block(null, [
    m.if(m.i32.eqz(get(LENGTH)), m.return()),
    m.local.set(LAST, m.i32.add(get(ADDRESS), m.i32.sub(get(LENGTH), m.i32.const(1)))),
    // A range that wraps past 4 GiB is out of bounds: the operation itself traps.
    m.if(m.i32.lt_u(get(LAST), get(ADDRESS)), m.return()),
    // Wholly between the null limit and the table (the image, the stack): allowed.
    m.if(
      m.i32.and(m.i32.ge_u(get(ADDRESS), m.i32.const(nullLimit)), m.i32.lt_u(m.i32.sub(get(LAST), m.i32.const(nullLimit)), m.global.get(NAME.fast, i32))),
      m.return(),
    ),
    m.if(m.i32.eqz(m.global.get(NAME.known, i32)), m.return()),
    m.if(m.i32.lt_u(get(ADDRESS), m.i32.const(nullLimit)), miss(get(ADDRESS))),
    m.local.set(NEED, m.i32.and(m.i32.shr_u(get(INFO), m.i32.const(8)), m.i32.const(3))),
    // The part below the table passes without a lookup (the first granule's entry is 0).
    m.local.set(GRANULE, m.i32.add(m.global.get(NAME.fast, i32), m.i32.const(nullLimit))),
    m.local.set(GRANULE, m.i32.shr_u(m.select(m.i32.gt_u(get(ADDRESS), get(GRANULE)), get(ADDRESS), get(GRANULE)), m.i32.const(GRANULE_SHIFT))),
    m.local.set(END, m.i32.shr_u(get(LAST), m.i32.const(GRANULE_SHIFT))),
    m.loop("granules", m.block(null, [
      m.if(
        m.i32.ne(m.i32.and(m.i32.load8_u(0, 1, m.i32.add(m.global.get(NAME.table, i32), get(GRANULE))), get(NEED)), get(NEED)),
        // The first faulting byte: the range's start, or the granule's.
        miss(m.select(
          m.i32.gt_u(get(ADDRESS), m.i32.shl(get(GRANULE), m.i32.const(GRANULE_SHIFT))),
          get(ADDRESS),
          m.i32.shl(get(GRANULE), m.i32.const(GRANULE_SHIFT)),
        )),
      ),
      m.local.set(GRANULE, m.i32.add(get(GRANULE), m.i32.const(1))),
      m.br("granules", m.i32.le_u(get(GRANULE), get(END))),
    ])),
  ]);
  m.addFunction(NAME.range, binaryen.createType([i32, i32, i32]), binaryen.none, [i32, i32, i32, i32], body);
}

/**
 * Pushes the operands of an expression that is not a memory access: the expression kinds of
 * MVP, SIMD, atomics, bulk memory, reference types and exceptions. Through Binaryen's typed
 * getters: getExpressionInfo reads every field by reflection and costs ten times more.
 */
function pushChildren(expr: number, id: number, stack: number[]): void {
  const b = binaryen;
  const push = (ref: number): void => {
    if (ref !== 0) stack.push(ref);
  };
  const pushAll = (refs: readonly number[]): void => {
    for (const ref of refs) if (ref !== 0) stack.push(ref);
  };
  switch (id) {
    case b.BlockId: pushAll(ir.Block.getChildren(expr)); return;
    case b.IfId: push(ir.If.getCondition(expr)); push(ir.If.getIfTrue(expr)); push(ir.If.getIfFalse(expr)); return;
    case b.LoopId: push(ir.Loop.getBody(expr)); return;
    case b.BreakId: push(ir.Break.getCondition(expr)); push(ir.Break.getValue(expr)); return;
    case b.SwitchId: push(ir.Switch.getCondition(expr)); push(ir.Switch.getValue(expr)); return;
    case b.CallId: pushAll(ir.Call.getOperands(expr)); return;
    case b.CallIndirectId: push(ir.CallIndirect.getTarget(expr)); pushAll(ir.CallIndirect.getOperands(expr)); return;
    case b.LocalSetId: push(ir.LocalSet.getValue(expr)); return;
    case b.GlobalSetId: push(ir.GlobalSet.getValue(expr)); return;
    case b.UnaryId: push(ir.Unary.getValue(expr)); return;
    case b.DropId: push(ir.Drop.getValue(expr)); return;
    case b.ReturnId: push(ir.Return.getValue(expr)); return;
    case b.RefIsNullId: push(ir.RefIsNull.getValue(expr)); return;
    case b.RefAsId: push(ir.RefAs.getValue(expr)); return;
    case b.BinaryId: push(ir.Binary.getLeft(expr)); push(ir.Binary.getRight(expr)); return;
    case b.SIMDShuffleId: push(ir.SIMDShuffle.getLeft(expr)); push(ir.SIMDShuffle.getRight(expr)); return;
    case b.SelectId: push(ir.Select.getIfTrue(expr)); push(ir.Select.getIfFalse(expr)); push(ir.Select.getCondition(expr)); return;
    case b.MemoryGrowId: push(ir.MemoryGrow.getDelta(expr)); return;
    case b.SIMDExtractId: push(ir.SIMDExtract.getVec(expr)); return;
    case b.SIMDReplaceId: push(ir.SIMDReplace.getVec(expr)); push(ir.SIMDReplace.getValue(expr)); return;
    case b.SIMDTernaryId: push(ir.SIMDTernary.getA(expr)); push(ir.SIMDTernary.getB(expr)); push(ir.SIMDTernary.getC(expr)); return;
    case b.SIMDShiftId: push(ir.SIMDShift.getVec(expr)); push(ir.SIMDShift.getShift(expr)); return;
    case b.TableGetId: push(ir.TableGet.getIndex(expr)); return;
    case b.TableSetId: push(ir.TableSet.getIndex(expr)); push(ir.TableSet.getValue(expr)); return;
    case b.TableGrowId: push(ir.TableGrow.getValue(expr)); push(ir.TableGrow.getDelta(expr)); return;
    case b.TryId: push(ir.Try.getBody(expr)); pushAll(ir.Try.getCatchBodies(expr)); return;
    case b.ThrowId: pushAll(ir.Throw.getOperands(expr)); return;
    case b.TupleMakeId: pushAll(ir.TupleMake.getOperands(expr)); return;
    case b.TupleExtractId: push(ir.TupleExtract.getTuple(expr)); return;
    case b.NopId: case b.LocalGetId: case b.GlobalGetId: case b.ConstId: case b.MemorySizeId: case b.UnreachableId: case b.PopId:
    case b.RefNullId: case b.RefFuncId: case b.DataDropId: case b.AtomicFenceId: case b.TableSizeId: case b.RethrowId:
      return;
    default:
      // Unknown operands might hide a memory access: refuse rather than guard partly.
      throw new Error(`wasi-mman guard: cannot instrument expression id ${id} (a feature the guard does not know)`);
  }
}
