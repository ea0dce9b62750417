/**
 * Builds the real programs of bench/real-programs.ts (and test/real-programs.test.ts) into
 * .cache/build/c/real/<program>/, each output only when one of its inputs changed:
 *
 *   <program>.mallocng.wasm, <program>.oldmalloc.wasm   `wasi-mman cc` (musl's allocators on the layer)
 *   <program>.plain.wasm                                 clang-16 and wasi-libc alone: dlmalloc grows
 *                                                        memory itself, no mman imports
 *
 * A program is a Debian source package (fetched by scripts/fetch-debian-source.sh into .cache/,
 * never committed), the library files of it that the workload needs, and a driver of ours in
 * fixtures/c/real/<program>/workload.c. The library files are compiled once into wasm objects
 * with the same flags for every build, so the builds differ only in what they are linked with.
 * The benchmark programs of fixtures/c/bench are built the same way, without a library.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { digest, unlessBuilt } from "../scripts/build-cache.js";
import { buildLayerLibraries, cBuildDir, CcError, compileProgram, findToolchain, layerLinkFlags, packageRoot, type MallocChoice } from "../cli/cc.js";

const execFileAsync = promisify(execFile);

/** How a program is linked: one of `wasi-mman cc`'s allocators, or wasi-libc alone. */
export type BuildKind = MallocChoice | "plain";

export interface RealProgram {
  /** Its folder under fixtures/c/real. */
  readonly name: string;
  readonly debianPackage: string;
  /** Checked against what Debian serves, so figures are never measured on another release. */
  readonly upstreamVersion: string;
  /** The library's C files, relative to the unpacked source folder. */
  readonly librarySources: readonly string[];
  /** Include folders, relative to the unpacked source folder. */
  readonly includeDirs: readonly string[];
  /** Flags for the library files and the driver; `{fixture}` is the program's fixture folder. */
  readonly flags: readonly string[];
  readonly args?: readonly string[];
  /** A file of the fixture folder that the run gets as its stdin. */
  readonly stdin?: string;
}

// The liblzma files the .xz format with LZMA2 and CRC32/CRC64 needs, following the lists of
// src/liblzma/*/Makefile.inc for a build without threads, other filters or other formats.
const LZMA_FILES: Record<string, string[]> = {
  check: ["check.c", "crc32_fast.c", "crc32_table.c", "crc64_fast.c", "crc64_table.c"],
  common: [
    "block_decoder.c", "block_encoder.c", "block_header_decoder.c", "block_header_encoder.c", "block_util.c",
    "common.c", "easy_encoder.c", "easy_encoder_memusage.c", "easy_preset.c", "filter_common.c",
    "filter_decoder.c", "filter_encoder.c", "filter_flags_decoder.c", "filter_flags_encoder.c", "index.c",
    "index_decoder.c", "index_encoder.c", "index_hash.c", "stream_decoder.c", "stream_encoder.c",
    "stream_flags_common.c", "stream_flags_decoder.c", "stream_flags_encoder.c", "vli_decoder.c",
    "vli_encoder.c", "vli_size.c",
  ],
  lz: ["lz_decoder.c", "lz_encoder.c", "lz_encoder_mf.c"],
  lzma: [
    "fastpos_table.c", "lzma2_decoder.c", "lzma2_encoder.c", "lzma_decoder.c", "lzma_encoder.c",
    "lzma_encoder_optimum_fast.c", "lzma_encoder_optimum_normal.c", "lzma_encoder_presets.c",
  ],
  rangecoder: ["price_table.c"],
};

// Lua's core and the libraries the workload opens (base, table, string, math, utf8): not the
// interpreters (lua.c, luac.c), linit.c (the driver opens its own list), nor the io, os,
// package, debug and coroutine libraries (files, processes, dynamic loading, and yields, which
// need longjmp: fixtures/c/real/lua/include/lua-wasi.h).
const LUA_FILES = [
  "lapi.c", "lauxlib.c", "lbaselib.c", "lcode.c", "lctype.c", "ldebug.c", "ldo.c", "ldump.c", "lfunc.c",
  "lgc.c", "llex.c", "lmathlib.c", "lmem.c", "lobject.c", "lopcodes.c", "lparser.c", "lstate.c",
  "lstring.c", "lstrlib.c", "ltable.c", "ltablib.c", "ltm.c", "lundump.c", "lutf8lib.c", "lvm.c", "lzio.c",
];

export const REAL_PROGRAMS: readonly RealProgram[] = [
  {
    name: "cjson",
    debianPackage: "cjson",
    upstreamVersion: "1.7.15",
    librarySources: ["cJSON.c"],
    includeDirs: ["."],
    flags: [],
  },
  {
    name: "xz",
    debianPackage: "xz-utils",
    upstreamVersion: "5.4.1",
    librarySources: Object.entries(LZMA_FILES).flatMap(([dir, files]) => files.map((file) => `src/liblzma/${dir}/${file}`)),
    includeDirs: ["api", "common", "check", "lz", "rangecoder", "lzma", "simple", "delta"].map((dir) => `src/liblzma/${dir}`).concat("src/common"),
    flags: ["-DHAVE_CONFIG_H", "-I", "{fixture}"],
  },
  {
    name: "lua",
    debianPackage: "lua5.4",
    upstreamVersion: "5.4.4",
    librarySources: LUA_FILES.map((file) => `src/${file}`),
    includeDirs: ["src"],
    flags: ["-std=c99", "-include", "{fixture}/include/lua-wasi.h", "-I", "{fixture}/include"],
    stdin: "workload.lua",
  },
];

export function realFixtureDir(name = ""): string {
  return join(packageRoot(), "fixtures", "c", "real", name);
}

function outputDir(name: string): string {
  return join(cBuildDir(), "real", name);
}

/** Every file below `dir` (the fixture folder: drivers, headers, scripts), as hash input. */
function folderContents(dir: string): Buffer[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
    .flatMap((file) => [Buffer.from(file), readFileSync(file)]);
}

let compilerIdentity: string | undefined;
function compilerKey(): string {
  compilerIdentity ??= execFileSync(findToolchain().cc, ["--version"], { encoding: "utf8" });
  return compilerIdentity;
}

function wasmTarget(): string[] {
  const { sysroot } = findToolchain();
  return ["--target=wasm32-wasi", ...(sysroot ? [`--sysroot=${sysroot}`] : [])];
}

async function clang(args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(findToolchain().cc, [...wasmTarget(), ...args], { maxBuffer: 64 << 20 });
  } catch (error) {
    throw new CcError(`${findToolchain().cc} ${args.join(" ")} failed:\n${String((error as { stderr?: unknown }).stderr ?? error)}`);
  }
}

/** Debian's archive did not give the source (no network, say): a reason to skip, not a bug. */
export class SourceUnavailable extends CcError {
  override name = "SourceUnavailable";
}

export interface FetchedSource {
  readonly dir: string;
  /** The Debian version fetched, e.g. "5.4.1-1+deb12u1". */
  readonly debianVersion: string;
}

/** scripts/fetch-debian-source.sh: the unpacked folder and the Debian version, or SourceUnavailable. */
export function fetchSource(program: RealProgram): FetchedSource {
  const script = join(packageRoot(), "scripts", "fetch-debian-source.sh");
  const result = spawnSync("bash", [script, program.debianPackage, program.upstreamVersion], { encoding: "utf8" });
  if (result.status !== 0) {
    const reason = (result.stderr || String(result.error ?? "")).trim().split("\n").pop();
    throw new SourceUnavailable(`cannot fetch Debian source package ${program.debianPackage}: ${reason}`);
  }
  // The script names the version on stderr: "fetch-debian-source.sh: PACKAGE VERSION".
  const version = /fetch-debian-source\.sh: \S+ (\S+)$/m.exec(result.stderr)?.[1] ?? "unknown";
  return { dir: result.stdout.trim().split("\n").pop() ?? "", debianVersion: version };
}

/** How a driver is linked for one build kind, with the extra sources and flags it needs. */
export interface LinkSpec {
  readonly output: string;
  /** Objects and C files, in order. */
  readonly inputs: readonly string[];
  readonly flags: readonly string[];
  /** Flags for the plain build only (e.g. wasi-libc's emulated mman). */
  readonly plainFlags?: readonly string[];
  /** What else the output depends on (source versions, fixture files). */
  readonly key: readonly (string | Buffer)[];
}

/**
 * Links one build. Layer builds go through `wasi-mman cc` (compileProgram). The plain build is
 * clang and wasi-libc alone, plus fixtures/c/real/sbrk-count.c behind --wrap=sbrk, which only
 * counts the memory.grow calls of wasi-libc's sbrk.
 */
export async function linkBuild(kind: BuildKind, spec: LinkSpec): Promise<string> {
  const common = ["-O2", "-I", realFixtureDir(), ...spec.flags];
  const inputKey = [...spec.key, compilerKey(), JSON.stringify([kind, common, spec.inputs, spec.plainFlags ?? []])];
  for (const input of spec.inputs) inputKey.push(readFileSync(input));
  inputKey.push(readFileSync(realFixtureDir("workload.h")));
  if (kind === "plain") {
    const counter = realFixtureDir("sbrk-count.c");
    const key = digest([...inputKey, readFileSync(counter)]);
    return unlessBuilt(spec.output, key, () =>
      clang([...common, ...spec.inputs, counter, ...(spec.plainFlags ?? []), "-Wl,--wrap=sbrk", "-o", spec.output]),
    );
  }
  const libraries = await buildLayerLibraries(kind);
  const libraryFiles = [libraries.malloc, libraries.brk, libraries.mman].filter((file): file is string => file !== undefined);
  const key = digest([...inputKey, JSON.stringify(layerLinkFlags(kind, libraries)), ...libraryFiles.map((file) => readFileSync(file))]);
  return unlessBuilt(spec.output, key, () => compileProgram({ malloc: kind, output: spec.output, args: [...common, ...spec.inputs] }));
}

/** Runs jobs two at a time (this machine has two cores), failing on the first failure. */
async function twoAtATime<T>(items: readonly T[], job: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await job(item);
  };
  await Promise.all([worker(), worker()]);
}

function expandFlags(program: RealProgram): string[] {
  return program.flags.map((flag) => flag.replaceAll("{fixture}", realFixtureDir(program.name)));
}

/** The library's files as wasm objects: compiled once, with the same flags for every build. */
async function libraryObjects(program: RealProgram, source: FetchedSource): Promise<string[]> {
  const dir = join(outputDir(program.name), "obj");
  const includes = program.includeDirs.flatMap((include) => ["-I", join(source.dir, include)]);
  // Warnings in third-party code are not ours to fix.
  const flags = ["-O2", "-w", ...expandFlags(program), ...includes];
  const key = digest([compilerKey(), source.debianVersion, JSON.stringify([flags, program.librarySources]), ...folderContents(realFixtureDir(program.name))]);
  const objects = program.librarySources.map((file) => join(dir, file.replaceAll("/", "_").replace(/\.c$/, ".o")));
  const stamp = join(dir, "objects");
  await unlessBuilt(stamp, key, async () => {
    mkdirSync(dir, { recursive: true });
    await twoAtATime(program.librarySources.map((file, index) => ({ file, object: objects[index] })), ({ file, object }) =>
      clang([...flags, "-c", join(source.dir, file), "-o", object]),
    );
    writeFileSync(stamp, objects.join("\n"));
  });
  return objects;
}

export interface ProgramBuild {
  readonly program: RealProgram;
  readonly debianVersion: string;
  readonly wasm: Partial<Record<BuildKind, string>>;
  /** The stdin file of its runs, if any. */
  readonly stdin?: string;
}

/** Builds one program for the kinds asked (default: mallocng, oldmalloc and plain). */
export async function buildRealProgram(program: RealProgram, kinds: readonly BuildKind[] = ["mallocng", "oldmalloc", "plain"]): Promise<ProgramBuild> {
  const source = fetchSource(program);
  const objects = await libraryObjects(program, source);
  const fixture = realFixtureDir(program.name);
  const includes = program.includeDirs.flatMap((include) => ["-I", join(source.dir, include)]);
  const wasm: Partial<Record<BuildKind, string>> = {};
  for (const kind of kinds) {
    wasm[kind] = await linkBuild(kind, {
      output: join(outputDir(program.name), `${program.name}.${kind}.wasm`),
      inputs: [...objects, join(fixture, "workload.c")],
      flags: ["-Wall", "-Wextra", ...expandFlags(program), ...includes],
      key: [source.debianVersion, ...folderContents(fixture)],
    });
  }
  return { program, debianVersion: source.debianVersion, wasm, ...(program.stdin ? { stdin: join(fixture, program.stdin) } : {}) };
}

/** A benchmark program of fixtures/c/bench (one C file, no library) for the kinds asked. */
export async function buildBenchProgram(file: string, kinds: readonly BuildKind[], plainFlags: readonly string[] = []): Promise<Partial<Record<BuildKind, string>>> {
  const source = join(packageRoot(), "fixtures", "c", "bench", file);
  const wasm: Partial<Record<BuildKind, string>> = {};
  for (const kind of kinds) {
    wasm[kind] = await linkBuild(kind, {
      output: join(outputDir("bench"), `${file.replace(/\.c$/, "")}.${kind}.wasm`),
      inputs: [source],
      flags: ["-Wall", "-Wextra"],
      plainFlags,
      key: [],
    });
  }
  return wasm;
}
