/**
 * Guard mode, host side: createGuardedMman(options) is createMman(options) whose attach()
 * places the protection table and whose every memory call keeps it in step, through the trace
 * hook (each record's arguments and result say which pages the call touched). The module must
 * have been through instrument() (guard/instrument.ts).
 *
 * createMman itself does not know the guard (syscalls/ stays as it is): this wrapper is the
 * `guard: true` path. It returns an Mman, so runWithShim and the CLI take it as they are.
 */
import { createMman, type AttachInfo, type Mman, type MmanOptions } from "../syscalls/create-mman.js";
import type { TraceHook, TraceRecord } from "../syscalls/calls.js";
import { GRANULE_SHIFT, GuardExport } from "./protection.js";
import { summarizeFault, type Fault, type FaultSummary, type PageChange } from "./report.js";
import { ADDRESS_LIMIT, refreshPages, tableLayout, writeFixedPart, type TableLayout } from "./table.js";

/** As a shell reports a process killed by SIGSEGV: 128 + 11. */
export const EXIT_SEGV = 139;

export interface Guard {
  /** Where the table is, once attached. */
  readonly layout: TableLayout | null;
  /** The fault the guest trapped on, or null when the trap (if any) was something else. */
  fault(error?: unknown): Fault | null;
  /** The report block for `error` (a trap out of the guest), or null when it was not a guard fault. */
  report(error: unknown): string | null;
  /** The same fault as data (address, page, access, what the page is, the block). */
  summary(error?: unknown): FaultSummary | null;
  /**
   * The summary report() or summary() gave last, with the stack of the error they were given:
   * what a host that printed the report shows again afterwards (run --html).
   */
  readonly lastSummary: FaultSummary | null;
  /** Rewrites the whole table from the engine's state (tests compare it with the kept one). */
  expectedTable(): Uint8Array;
  /** The table as the guest sees it. */
  currentTable(): Uint8Array;
}

export interface GuardedMman extends Mman {
  readonly guard: Guard;
}

export function isGuarded(mman: Mman): mman is GuardedMman {
  return (mman as Partial<GuardedMman>).guard !== undefined;
}

interface GuardGlobals {
  table: WebAssembly.Global;
  fastLength: WebAssembly.Global;
  knownGranules: WebAssembly.Global;
  nullLimit: WebAssembly.Global;
  faultAddress: WebAssembly.Global;
  faultInfo: WebAssembly.Global;
  faultBase: WebAssembly.Global;
  faultLength: WebAssembly.Global;
  shownPages: WebAssembly.Global;
  tableEndPages: WebAssembly.Global;
}

/**
 * What the guarded attach() takes: the instance (or `{ exports }`, with `memory` for an
 * imported one), or `{ memory, heapBase, instance }` where the heap base comes from elsewhere
 * (hosts/instantiate.ts passes that for a module without `__heap_base`).
 */
export type GuardAttachTarget =
  | WebAssembly.Instance
  | { exports: WebAssembly.Exports; memory?: WebAssembly.Memory; heapBase?: number }
  | { memory: WebAssembly.Memory; heapBase?: number; instance: WebAssembly.Instance };

/**
 * The module cannot be guarded as given (not instrumented, no instance, no memory): a kind
 * of TypeError, so hosts can tell it from a trap; run --guard reports it as a usage error.
 */
export class GuardAttachError extends TypeError {
  constructor(message: string) {
    super(`wasi-mman guard: ${message}`);
    this.name = "GuardAttachError";
  }
}

function guardGlobals(exports: Record<string, unknown>): GuardGlobals {
  const global = (name: string): WebAssembly.Global => {
    const value = exports[name];
    if (!(value instanceof WebAssembly.Global)) {
      throw new GuardAttachError(`the module exports no ${name}: pass its bytes through instrument() first`);
    }
    return value;
  };
  return {
    table: global(GuardExport.TABLE),
    fastLength: global(GuardExport.FAST_LENGTH),
    knownGranules: global(GuardExport.KNOWN_GRANULES),
    nullLimit: global(GuardExport.NULL_LIMIT),
    faultAddress: global(GuardExport.FAULT_ADDRESS),
    faultInfo: global(GuardExport.FAULT_INFO),
    faultBase: global(GuardExport.FAULT_BASE),
    faultLength: global(GuardExport.FAULT_LENGTH),
    shownPages: global(GuardExport.SHOWN_PAGES),
    tableEndPages: global(GuardExport.TABLE_END_PAGES),
  };
}

/**
 * createMman(options) with the guard. attach() needs the instance (or `{ exports }`), since
 * the table's globals are exports; for an imported memory pass `{ exports, memory }`.
 */
export function createGuardedMman(options: MmanOptions = {}): GuardedMman {
  let userTrace: TraceHook | null = options.trace ?? null;
  let state: AttachedState | null = null;
  const inner = createMman({
    ...options,
    trace: (record) => {
      state?.observe(record);
      if (userTrace !== null) userTrace(record);
    },
  });
  const limitBytes = Math.min(options.maxMemoryBytes ?? ADDRESS_LIMIT, ADDRESS_LIMIT);

  function attach(target: GuardAttachTarget): AttachInfo {
    const instance = typeof target === "object" && target !== null ? ("exports" in target ? target : "instance" in target ? target.instance : undefined) : undefined;
    if (instance === undefined || typeof instance !== "object" || instance === null || !("exports" in instance)) {
      throw new GuardAttachError("attach() needs the instance: the guard's globals are its exports");
    }
    const exports = instance.exports as Record<string, unknown>;
    const memory = ("memory" in target ? target.memory : undefined) ?? exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new GuardAttachError("no memory: pass { exports, memory } for an imported one");
    const globals = guardGlobals(exports);
    // The heap base: the caller's (a module without __heap_base: a dlmalloc build, whose
    // break starts at the end of its memory), else the module's export, else the memory's size.
    const given = "heapBase" in target && typeof target.heapBase === "number" ? target.heapBase : undefined;
    const base = exports.__heap_base;
    const exported = base instanceof WebAssembly.Global ? Number(base.value) >>> 0 : null;
    const heapBase = given ?? exported;
    const layout = tableLayout(heapBase, memory.buffer.byteLength, limitBytes, inner.pageSize);
    const pagesBefore = memory.buffer.byteLength / 65536;
    const missing = layout.heapBase - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    if (layout.start >= pagesBefore * 65536) {
      // The table ends the memory (a break that starts at the memory's end): the guest's
      // memory.size leaves it out until the memory grows again (guard/instrument.ts).
      globals.shownPages.value = pagesBefore;
      globals.tableEndPages.value = memory.buffer.byteLength / 65536;
    }
    const info = inner.attach({ memory, heapBase: layout.heapBase });
    state = new AttachedState(inner, memory, globals, layout);
    return { heapBase: info.heapBase, heapBaseSource: given !== undefined ? "option" : exported === null ? "memory-size" : "export" };
  }

  let lastSummary: FaultSummary | null = null;
  const summary = (error?: unknown): FaultSummary | null => {
    const fault = state?.fault(error) ?? null;
    if (fault === null) return null;
    lastSummary = summarizeFault(fault, inner.space, (page) => state?.changeOf(page) ?? null);
    return lastSummary;
  };
  const guard: Guard = {
    get layout() {
      return state?.layout ?? null;
    },
    fault: (error) => state?.fault(error) ?? null,
    report: (error) => summary(error)?.text ?? null,
    summary,
    get lastSummary() {
      return lastSummary;
    },
    expectedTable: () => (state as AttachedState).expected(),
    currentTable: () => (state as AttachedState).current(),
  };
  return {
    ...inner,
    // Takes what Mman's attach takes, and { memory, heapBase, instance } besides.
    attach: attach as Mman["attach"],
    setTrace: (hook) => {
      if (hook !== null && typeof hook !== "function") throw new TypeError("wasi-mman: setTrace() needs a function or null");
      userTrace = hook;
    },
    guard,
  };
}

/** The guard once attached: the table's place, the globals, and each page's last change. */
class AttachedState {
  /** Per libc page, 1 + the index in `changes` of the last call that changed it (0: none). */
  private lastChange = new Int32Array(0);
  private readonly changes: PageChange[] = [];
  private knownBytes = 0;
  private brkEndPage: number;

  constructor(
    private readonly mman: Mman,
    private readonly memory: WebAssembly.Memory,
    private readonly globals: GuardGlobals,
    readonly layout: TableLayout,
  ) {
    const space = mman.space;
    this.brkEndPage = space.brk.brkEndPage;
    const table = this.view();
    writeFixedPart(table, layout.start, layout);
    this.refresh(table, space.brk.regionStartPage, Math.ceil(memory.buffer.byteLength / space.pageSize));
    this.syncKnown();
    globals.table.value = layout.start;
    globals.fastLength.value = (layout.start - (globals.nullLimit.value as number)) | 0;
  }

  private view(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  private refresh(table: Uint8Array, from: number, to: number): void {
    refreshPages(this.mman.space, table, this.layout.start, from, to, this.memory.buffer.byteLength);
  }

  /** Every byte of growth since the last call is in the table now; the guest's miss handler relies on it. */
  private syncKnown(): void {
    const bytes = this.memory.buffer.byteLength;
    if (bytes > this.knownBytes) {
      const pageSize = this.mman.pageSize;
      this.refresh(this.view(), Math.floor(this.knownBytes / pageSize), Math.ceil(bytes / pageSize));
      this.knownBytes = bytes;
    }
    this.globals.knownGranules.value = bytes >>> GRANULE_SHIFT;
  }

  /** After each memory call: the pages it touched, then any growth. */
  observe(record: TraceRecord): void {
    const space = this.mman.space;
    const pageSize = space.pageSize;
    const pages = (address: number, length: number): [number, number] => [Math.floor(address / pageSize), Math.ceil((address + length) / pageSize)];
    const ranges: [number, number][] = [];
    const [a0, a1, a2] = record.args;
    const ok = record.result >= 0;
    switch (record.call) {
      case "brk": {
        const end = space.brk.brkEndPage;
        if (end !== this.brkEndPage) ranges.push([Math.min(end, this.brkEndPage), Math.max(end, this.brkEndPage)]);
        this.brkEndPage = end;
        break;
      }
      case "mmap":
        if (ok) ranges.push(pages(record.result, a1));
        break;
      case "munmap":
      case "mprotect":
        if (ok) ranges.push(pages(a0, a1));
        break;
      case "mremap":
        if (ok) ranges.push(pages(a0, a1), pages(record.result, a2));
        break;
      default:
        // madvise, msync and pagesize change no protection.
        break;
    }
    if (ranges.length > 0) {
      const table = this.view();
      const change = this.changes.length + 1;
      this.changes.push(record);
      for (const [from, to] of ranges) {
        this.refresh(table, from, to);
        this.note(from, to, change);
      }
    }
    this.syncKnown();
  }

  private note(from: number, to: number, change: number): void {
    if (to > this.lastChange.length) {
      const grown = new Int32Array(Math.max(to, this.lastChange.length * 2));
      grown.set(this.lastChange);
      this.lastChange = grown;
    }
    this.lastChange.fill(change, from, to);
  }

  changeOf(page: number): PageChange | null {
    const index = page < this.lastChange.length ? this.lastChange[page] : 0;
    return index === 0 ? null : this.changes[index - 1];
  }

  fault(error: unknown): Fault | null {
    const info = this.globals.faultInfo.value as number;
    if (info === 0) return null;
    return {
      address: (this.globals.faultAddress.value as number) >>> 0,
      info,
      base: (this.globals.faultBase.value as number) >>> 0,
      length: (this.globals.faultLength.value as number) >>> 0,
      nullLimit: (this.globals.nullLimit.value as number) >>> 0,
      tableStart: this.layout.start,
      tableEnd: this.layout.heapBase,
      tableByte: this.view()[this.layout.start + (((this.globals.faultAddress.value as number) >>> 0) >>> GRANULE_SHIFT)],
      memoryBytes: this.memory.buffer.byteLength,
      stack: error instanceof Error ? (error.stack ?? "") : "",
    };
  }

  expected(): Uint8Array {
    const copy = this.current().slice();
    const space = this.mman.space;
    writeFixedPart(copy, 0, this.layout);
    refreshPages(space, copy, 0, space.brk.regionStartPage, Math.ceil(this.memory.buffer.byteLength / space.pageSize), this.memory.buffer.byteLength);
    return copy;
  }

  current(): Uint8Array {
    const granules = this.memory.buffer.byteLength >>> GRANULE_SHIFT;
    return this.view().slice(this.layout.start, this.layout.start + granules);
  }
}
