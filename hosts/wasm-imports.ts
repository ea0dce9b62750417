/**
 * A small reader for the parts of a wasm binary that a host needs before instantiating it:
 * the import section with each function import's signature, and each imported memory's
 * limits. `WebAssembly.Module.imports()` names the imports but gives no signatures and no
 * limits, so a wrong `mman.mmap` signature would otherwise surface only as a LinkError (or,
 * worse, as a guest that calls with the wrong argument types never compiles at all).
 *
 * Binary layout (WebAssembly core spec 2.0, section 5 "Binary Format"):
 *
 *   module   = magic "\0asm" | version 1 (u32 LE) | section*
 *   section  = id (byte) | size (u32 LEB128) | contents (size bytes)
 *   type     (id 1) = vec(functype),  functype = 0x60 vec(valtype) vec(valtype)
 *   import   (id 2) = vec(import),    import   = name name importdesc
 *   importdesc = 0x00 typeidx | 0x01 tabletype | 0x02 limits | 0x03 globaltype | 0x04 tag
 *   memory   (id 5) = vec(limits)
 *   limits   = 0x00 min | 0x01 min max       (0x02/0x03: shared, threads proposal;
 *                                             0x04..0x07: the same with 64-bit indices)
 *
 * Sections other than type, import and memory are skipped by their size, so newer proposals in the
 * rest of the module never confuse the reader. Type sections that use the GC proposal's
 * recursive or sub types are not decoded: signatures are then reported as unknown, and the
 * caller falls back to the engine's LinkError.
 */

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref" | "ref";

export interface FuncSignature {
  params: ValType[];
  results: ValType[];
}

export interface MemoryLimits {
  /** In 64 KiB wasm pages. */
  minPages: number;
  /** In 64 KiB wasm pages; null when the memory declares no maximum. */
  maxPages: number | null;
  shared: boolean;
  memory64: boolean;
}

export type ImportInfo =
  | { module: string; name: string; kind: "function"; signature: FuncSignature | null }
  | { module: string; name: string; kind: "memory"; limits: MemoryLimits }
  | { module: string; name: string; kind: "table" | "global" | "tag" };

export interface ModuleInfo {
  imports: ImportInfo[];
  /** Limits of the memories the module defines itself (memory section), in order. */
  memories: MemoryLimits[];
  /** True when the module has a start section (a function run inside instantiation). */
  hasStartSection: boolean;
}

const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_MEMORY = 5;
const SECTION_START = 8;

const VALTYPES: Record<number, ValType> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

/** Thrown for bytes that are not a wasm module this reader understands. */
export class WasmFormatError extends Error {}

/** Thrown inside the type reader for encodings it does not decode (GC proposal types). */
class UnsupportedTypeEncoding extends Error {}

class Reader {
  offset: number;
  constructor(
    readonly bytes: Uint8Array,
    offset: number,
    readonly end: number,
  ) {
    this.offset = offset;
  }

  byte(): number {
    if (this.offset >= this.end) throw new WasmFormatError("unexpected end of wasm section");
    return this.bytes[this.offset++];
  }

  /** Unsigned LEB128, up to 64 bits, as a JS number (exact below 2^53, which covers every size here). */
  leb(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new WasmFormatError("malformed LEB128 integer");
  }

  /** Signed LEB128 (heap types in reference types are s33); only skipped, value unused. */
  skipSignedLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new WasmFormatError("malformed LEB128 integer");
  }

  name(): string {
    const length = this.leb();
    if (length > this.end - this.offset) throw new WasmFormatError("name runs past its section");
    const text = new TextDecoder("utf-8", { fatal: true }).decode(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return text;
  }

  valType(): ValType {
    const code = this.byte();
    const known = VALTYPES[code];
    if (known !== undefined) return known;
    // (ref null? heaptype): function-references / GC proposals.
    if (code === 0x63 || code === 0x64) {
      this.skipSignedLeb();
      return "ref";
    }
    throw new UnsupportedTypeEncoding(`value type 0x${code.toString(16)}`);
  }

  limits(): { min: number; max: number | null; shared: boolean; is64: boolean } {
    const flags = this.byte();
    if (flags > 0x07) throw new WasmFormatError(`unknown limits flags 0x${flags.toString(16)}`);
    const min = this.leb();
    const max = flags & 0x01 ? this.leb() : null;
    return { min, max, shared: (flags & 0x02) !== 0, is64: (flags & 0x04) !== 0 };
  }
}

function readTypeSection(reader: Reader): FuncSignature[] | null {
  const types: FuncSignature[] = [];
  try {
    const count = reader.leb();
    for (let i = 0; i < count; i++) {
      const form = reader.byte();
      if (form !== 0x60) throw new UnsupportedTypeEncoding(`type form 0x${form.toString(16)}`);
      const params: ValType[] = [];
      for (let n = reader.leb(); n > 0; n--) params.push(reader.valType());
      const results: ValType[] = [];
      for (let n = reader.leb(); n > 0; n--) results.push(reader.valType());
      types.push({ params, results });
    }
    return types;
  } catch (error) {
    if (error instanceof UnsupportedTypeEncoding) return null;
    throw error;
  }
}

function readImportSection(reader: Reader, types: FuncSignature[] | null): ImportInfo[] {
  const imports: ImportInfo[] = [];
  const count = reader.leb();
  for (let i = 0; i < count; i++) {
    const module = reader.name();
    const name = reader.name();
    const kind = reader.byte();
    switch (kind) {
      case 0x00: {
        const typeIndex = reader.leb();
        imports.push({ module, name, kind: "function", signature: types?.[typeIndex] ?? null });
        break;
      }
      case 0x01: {
        reader.valType();
        reader.limits();
        imports.push({ module, name, kind: "table" });
        break;
      }
      case 0x02: {
        const { min, max, shared, is64 } = reader.limits();
        imports.push({ module, name, kind: "memory", limits: { minPages: min, maxPages: max, shared, memory64: is64 } });
        break;
      }
      case 0x03: {
        reader.valType();
        reader.byte(); // mutability
        imports.push({ module, name, kind: "global" });
        break;
      }
      case 0x04: {
        reader.byte(); // tag attribute (0 = exception)
        reader.leb(); // type index
        imports.push({ module, name, kind: "tag" });
        break;
      }
      default:
        throw new WasmFormatError(`unknown import kind 0x${kind.toString(16)} for ${module}.${name}`);
    }
  }
  return imports;
}

/**
 * Reads the imports (with signatures and memory limits) of a wasm binary. Throws
 * WasmFormatError for bytes that are not a version-1 wasm module.
 */
export function readModuleInfo(bytes: Uint8Array): ModuleInfo {
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new WasmFormatError("not a WebAssembly binary (no \\0asm magic)");
  }
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  if (version !== 1) {
    throw new WasmFormatError(`unsupported wasm binary version ${version} (a component, or not a core module)`);
  }
  let types: FuncSignature[] | null = [];
  let imports: ImportInfo[] = [];
  let hasStartSection = false;
  const memories: MemoryLimits[] = [];
  const header = new Reader(bytes, 8, bytes.length);
  while (header.offset < bytes.length) {
    const id = header.byte();
    const size = header.leb();
    const start = header.offset;
    if (size > bytes.length - start) throw new WasmFormatError(`section ${id} runs past the end of the module`);
    const section = new Reader(bytes, start, start + size);
    if (id === SECTION_TYPE) types = readTypeSection(section);
    else if (id === SECTION_IMPORT) imports = readImportSection(section, types);
    else if (id === SECTION_MEMORY) {
      for (let n = section.leb(); n > 0; n--) {
        const { min, max, shared, is64 } = section.limits();
        memories.push({ minPages: min, maxPages: max, shared, memory64: is64 });
      }
    } else if (id === SECTION_START) hasStartSection = true;
    header.offset = start + size;
  }
  return { imports, memories, hasStartSection };
}

/** `(i32, i64) -> i32`, as error messages show a signature. */
export function formatSignature(signature: FuncSignature): string {
  const results = signature.results.length === 1 ? signature.results[0] : `(${signature.results.join(", ")})`;
  return `(${signature.params.join(", ")}) -> ${results}`;
}
