/**
 * Builds the C side of the project into .cache/build/c/, each output only when one of its
 * inputs changed (a content hash is kept beside every output):
 *
 *   lib/        libwasi-mman.a, libwasi-mman-brk.a, libmallocng.a, liboldmalloc.a (cli/cc.ts)
 *   fixtures/   fixtures/c/*.c, one .wasm per allocator: <name>.<malloc>.wasm
 *   sqlite/     SQLite 3.40.1 (Debian source package sqlite3) with fixtures/c/sqlite/:
 *               workload.<malloc>.wasm and the same program built natively with gcc
 *   sqlite-mmap/ the same SQLite on files with memory-mapped I/O (fixtures/c/coherence/)
 *   bench/      the mmap/munmap benchmark against our layer and wasi-libc's emulation
 *
 *   node --import tsx scripts/build-c.ts [libs|fixtures|sqlite|sqlite-mmap|bench|all]
 *
 * Tests and the benchmark import the functions below, so there is one build for everything.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { pathToFileURL } from "node:url";
import {
  buildLayerLibraries,
  cBuildDir,
  layerLinkFlags,
  CcError,
  compileProgram,
  fetchDebianSource,
  findToolchain,
  glueIncludeDir,
  MALLOC_CHOICES,
  packageRoot,
  type MallocChoice,
} from "../cli/cc.js";

const run = promisify(execFile);

/** The fixtures of fixtures/c, each built once per allocator. */
export const C_FIXTURES = ["tiers", "realloc", "brk-blocked", "calloc-zero", "madvise-freed", "many-small", "direct-mman"] as const;
export type CFixture = (typeof C_FIXTURES)[number];

/**
 * Whether C programs can be built here. When they cannot, the reason is one line naming what
 * is missing; tests print it loudly and skip.
 */
export function cToolchainStatus(): { ok: true } | { ok: false; reason: string } {
  try {
    findToolchain();
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

function hashOf(parts: (string | Buffer)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part).update("\0");
  return hash.digest("hex").slice(0, 16);
}

/** The cache key of everything the layer's libraries were built from. */
function librariesKey(): string {
  const libDir = join(cBuildDir(), "lib");
  return ["libwasi-mman.a", "libwasi-mman-brk.a", "libmallocng.a", "liboldmalloc.a"]
    .map((lib) => join(libDir, `${lib}.key`))
    .filter((file) => existsSync(file))
    .map((file) => readFileSync(file, "utf8"))
    .join(",");
}

/** Runs `build` unless `output` exists with the same key; writes the key afterwards. */
async function cached(output: string, key: string, build: () => Promise<void>): Promise<string> {
  const stamp = `${output}.key`;
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return output;
  await build();
  writeFileSync(stamp, key);
  return output;
}

async function buildAllLibraries(): Promise<void> {
  for (const malloc of MALLOC_CHOICES) await buildLayerLibraries(malloc);
}

/** Builds one fixture for one allocator; returns the .wasm path. */
export async function buildFixture(name: CFixture, malloc: MallocChoice): Promise<string> {
  const libraries = await buildLayerLibraries(malloc);
  const dir = join(packageRoot(), "fixtures", "c");
  const source = join(dir, `${name}.c`);
  const output = join(cBuildDir(), "fixtures", `${name}.${malloc}.wasm`);
  const flags = ["-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", source];
  const key = hashOf([readFileSync(source), readFileSync(join(dir, "fixture.h")), JSON.stringify(flags), JSON.stringify(layerLinkFlags(malloc, libraries)), librariesKey()]);
  return cached(output, key, () => compileProgram({ malloc, output, args: flags }));
}

/** Builds every fixture for every allocator; returns paths keyed `${name}.${malloc}`. */
export async function buildFixtures(): Promise<Map<string, string>> {
  const built = new Map<string, string>();
  for (const malloc of MALLOC_CHOICES) {
    for (const name of C_FIXTURES) built.set(`${name}.${malloc}`, await buildFixture(name, malloc));
  }
  return built;
}

// SQLite without threads, extensions or an operating system of its own (fixtures/c/sqlite/os.c
// is its VFS), temporary storage in memory: the same options for the wasm and native builds.
const SQLITE_DEFINES = [
  "-DSQLITE_OS_OTHER=1",
  "-DSQLITE_THREADSAFE=0",
  "-DSQLITE_TEMP_STORE=3",
  "-DSQLITE_OMIT_LOAD_EXTENSION",
  "-DSQLITE_DEFAULT_MEMSTATUS=0",
];

export interface SqliteBuild {
  readonly wasm: Record<MallocChoice, string>;
  readonly native: string;
}

/**
 * SQLite's amalgamation (sqlite3.c) from Debian's source package: its own build makes it with
 * `configure && make sqlite3.c`, which runs tclsh and the host's C compiler.
 */
async function sqliteAmalgamation(): Promise<string> {
  const source = fetchDebianSource("sqlite3");
  const dir = join(packageRoot(), ".cache", "sqlite-build");
  const amalgamation = join(dir, "sqlite3.c");
  if (existsSync(amalgamation) && existsSync(join(dir, "sqlite3.h"))) return dir;
  for (const tool of ["tclsh", "gcc", "make"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      throw new CcError(`building SQLite's amalgamation needs ${tool} (Debian: apt-get install tcl gcc make)`);
    }
  }
  mkdirSync(dir, { recursive: true });
  await run("sh", ["-c", `'${source}/configure' --disable-tcl --disable-readline > configure.log 2>&1 && make sqlite3.c > make.log 2>&1`], {
    cwd: dir,
  });
  return dir;
}

/** sqlite3.c compiled once to a wasm object with `flags` (linked into each program later). */
async function sqliteObject(object: string, key: string, amalgamation: string, flags: string[]): Promise<string> {
  const toolchain = findToolchain();
  return cached(object, key, async () => {
    await run(toolchain.cc, [
      "--target=wasm32-wasi",
      ...(toolchain.sysroot ? [`--sysroot=${toolchain.sysroot}`] : []),
      "-O2",
      "-I",
      glueIncludeDir(),
      ...flags,
      "-c",
      amalgamation,
      "-o",
      object,
    ]);
  });
}

export async function buildSqlite(): Promise<SqliteBuild> {
  const toolchain = findToolchain();
  const amalgamationDir = await sqliteAmalgamation();
  const fixtureDir = join(packageRoot(), "fixtures", "c", "sqlite");
  const outDir = join(cBuildDir(), "sqlite");
  mkdirSync(outDir, { recursive: true });
  const sources = [join(fixtureDir, "os.c"), join(fixtureDir, "workload.c")];
  const sourceKey = hashOf([...sources.map((file) => readFileSync(file)), readFileSync(join(amalgamationDir, "sqlite3.c")), JSON.stringify(SQLITE_DEFINES)]);

  // sqlite3.c once as a wasm object, linked three times.
  const object = await sqliteObject(join(outDir, "sqlite3.o"), hashOf([sourceKey, toolchain.cc]), join(amalgamationDir, "sqlite3.c"), SQLITE_DEFINES);
  const wasm = {} as Record<MallocChoice, string>;
  for (const malloc of MALLOC_CHOICES) {
    const libraries = await buildLayerLibraries(malloc);
    const output = join(outDir, `workload.${malloc}.wasm`);
    wasm[malloc] = await cached(output, hashOf([sourceKey, JSON.stringify(layerLinkFlags(malloc, libraries)), librariesKey()]), () =>
      compileProgram({ malloc, output, args: ["-O2", "-I", amalgamationDir, ...SQLITE_DEFINES, object, ...sources] }),
    );
  }
  const native = join(outDir, "workload.native");
  await cached(native, sourceKey, async () => {
    // -O0: the native build only provides the expected output, and compiles in a third of the time.
    await run("gcc", ["-O0", "-I", amalgamationDir, ...SQLITE_DEFINES, join(amalgamationDir, "sqlite3.c"), ...sources, "-o", native]);
  });
  return { wasm, native };
}

// SQLite on files, with its own Unix VFS and memory-mapped I/O (fixtures/c/coherence/): the
// database file mapped MAP_SHARED, read through the mapping, written with pwrite. The Unix VFS
// maps files only on the systems it names (SQLITE_MAX_MMAP_SIZE is 0 elsewhere, wasm included)
// and uses mremap only on Linux (HAVE_MREMAP): both are asked for here, for both builds.
const SQLITE_MMAP_DEFINES = [
  "-DSQLITE_OS_UNIX=1",
  "-DSQLITE_THREADSAFE=0",
  "-DSQLITE_TEMP_STORE=3",
  "-DSQLITE_OMIT_LOAD_EXTENSION",
  "-DSQLITE_OMIT_WAL",
  "-DSQLITE_DEFAULT_MEMSTATUS=0",
  "-DSQLITE_MAX_MMAP_SIZE=0x10000000",
  "-DHAVE_MREMAP=1",
  // WASI directories cannot be fsync'd.
  "-DSQLITE_DISABLE_DIRSYNC",
];

export interface SqliteMmapBuild {
  /** fixtures/c/coherence/sqlite-mmap.c under mallocng, with wasi-mman's mmap. */
  readonly wasm: string;
  /** The same program built natively (Linux's own mmap). */
  readonly native: string;
}

export async function buildSqliteMmap(): Promise<SqliteMmapBuild> {
  const toolchain = findToolchain();
  const amalgamationDir = await sqliteAmalgamation();
  const fixtureDir = join(packageRoot(), "fixtures", "c", "coherence");
  const outDir = join(cBuildDir(), "sqlite-mmap");
  mkdirSync(outDir, { recursive: true });
  const program = join(fixtureDir, "sqlite-mmap.c");
  const compat = join(fixtureDir, "sqlite-wasi.h");
  const amalgamation = join(amalgamationDir, "sqlite3.c");
  const sourceKey = hashOf([readFileSync(program), readFileSync(compat), readFileSync(amalgamation), JSON.stringify(SQLITE_MMAP_DEFINES)]);
  const wasmFlags = ["-include", compat, "-D_WASI_EMULATED_GETPID"];
  const object = await sqliteObject(join(outDir, "sqlite3.o"), hashOf([sourceKey, toolchain.cc]), amalgamation, [...SQLITE_MMAP_DEFINES, ...wasmFlags]);
  const libraries = await buildLayerLibraries("mallocng");
  const wasm = join(outDir, "sqlite-mmap.mallocng.wasm");
  await cached(wasm, hashOf([sourceKey, JSON.stringify(layerLinkFlags("mallocng", libraries)), librariesKey()]), () =>
    compileProgram({
      malloc: "mallocng",
      output: wasm,
      args: ["-O2", "-I", amalgamationDir, ...SQLITE_MMAP_DEFINES, ...wasmFlags, object, program, "-lwasi-emulated-getpid"],
    }),
  );
  const native = join(outDir, "sqlite-mmap.native");
  await cached(native, sourceKey, async () => {
    await run("gcc", ["-O0", "-I", amalgamationDir, ...SQLITE_MMAP_DEFINES, amalgamation, program, "-o", native, "-lm"]);
  });
  return { wasm, native };
}

/**
 * The C benchmark's programs (bench/c-mman.ts): fixtures/c/bench/mman-pairs.c against the
 * layer's mmap and against wasi-libc's emulated mman. Built here, not in bench/, so that
 * scripts never import a benchmark (bench/ imports scripts/, never the other way).
 */
export interface BenchPrograms {
  /** Against wasi-mman's mmap (the host's calls). */
  layer: string;
  /** Against wasi-libc's emulated mman. */
  emulated: string;
}

export async function buildBenchPrograms(): Promise<BenchPrograms> {
  const toolchain = findToolchain();
  const source = join(packageRoot(), "fixtures", "c", "bench", "mman-pairs.c");
  const outDir = join(cBuildDir(), "bench");
  const layer = join(outDir, "mman-pairs.layer.wasm");
  const emulated = join(outDir, "mman-pairs.emulated.wasm");
  // dlmalloc in both, so that the only difference is where mmap comes from.
  await compileProgram({ malloc: "dlmalloc", output: layer, args: ["-O2", source] });
  await run(toolchain.cc, [
    "--target=wasm32-wasi",
    ...(toolchain.sysroot ? [`--sysroot=${toolchain.sysroot}`] : []),
    "-O2",
    "-D_WASI_EMULATED_MMAN",
    source,
    "-lwasi-emulated-mman",
    "-Wl,--export=__heap_base",
    "-o",
    emulated,
  ]);
  return { layer, emulated };
}

/** Builds everything named (default: all). */
export async function buildC(what: string[] = ["all"]): Promise<void> {
  const all = what.includes("all");
  if (all || what.includes("libs")) await buildAllLibraries();
  if (all || what.includes("fixtures")) await buildFixtures();
  if (all || what.includes("sqlite")) await buildSqlite();
  if (all || what.includes("sqlite-mmap")) await buildSqliteMmap();
  if (all || what.includes("bench")) await buildBenchPrograms();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const started = performance.now();
  try {
    await buildC(process.argv.slice(2).length ? process.argv.slice(2) : ["all"]);
    console.log(`C builds ready in ${cBuildDir()} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } catch (error) {
    console.error(error instanceof CcError ? error.message : error);
    process.exitCode = error instanceof CcError ? 2 : 1;
  }
}
