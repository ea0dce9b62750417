/**
 * `wasi-mman cc`: compiles and links a C program for wasm32-wasi against the mman layer.
 *
 *   wasi-mman cc --malloc=mallocng|oldmalloc|dlmalloc [-pthread] -o prog.wasm prog.c [clang options]
 *
 * - mallocng, oldmalloc: musl 1.2.3's allocators, built from Debian's unmodified musl source
 *   (fetched into .cache/musl by scripts/fetch-musl.sh) with the glue of guest/c/musl, replace
 *   wasi-libc's dlmalloc; their brk and mmap calls go to the host.
 * - dlmalloc: wasi-libc's own allocator (it grows memory itself through its own sbrk); the
 *   POSIX mmap family is still linked for the program's direct calls.
 * -pthread (clang's option, also passed on) builds against the posix-model wasi-libc and links
 * guest/c/threads' pthread (cli/cc-threads.ts); the output is a wasi-threads module.
 * mallocng and oldmalloc outputs export `__heap_base`, where the host starts the break
 * (docs/abi.md). dlmalloc outputs do not: wasi-libc's dlmalloc claims the memory above
 * __heap_base for itself, so the host must start above the initial memory instead.
 *
 * The pieces (toolchain discovery, library builds with caching, the link line) are exported for
 * scripts/build-c.ts, the tests and the benchmark, so everything is built the same one way.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildNoteSection } from "../hosts/instantiate.js";
import { WASI_LIBC_PACKAGE, buildPosixSysroot, threadLinkFlags, underCacheLock } from "./cc-threads.js";

const run = promisify(execFile);

export const MALLOC_CHOICES = ["mallocng", "oldmalloc", "dlmalloc"] as const;
export type MallocChoice = (typeof MALLOC_CHOICES)[number];

/** A problem the user can fix (missing toolchain, bad option): one line, exit status 2. */
export class CcError extends Error {
  override name = "CcError";
}

export interface Toolchain {
  /** clang targeting wasm32-wasi. */
  readonly cc: string;
  readonly ar: string;
  /** wasi-libc's sysroot, or "" when the compiler finds it itself (Debian's clang-16). */
  readonly sysroot: string;
  readonly kind: string;
}

/** The package's root folder: the nearest parent holding package.json named wasi-mman. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name;
      if (name === "wasi-mman") return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("wasi-mman: cannot find the package root from " + import.meta.url);
    dir = parent;
  }
}

/**
 * The cache folder for everything cc builds or fetches (musl's source, the libraries, apt's
 * private lists), never the package folder, which may be read-only (a global install):
 *
 *   $WASI_MMAN_CACHE                      when set
 *   <checkout>/.cache                     in a git checkout (the package folder holds .git)
 *   $XDG_CACHE_HOME/wasi-mman             otherwise (XDG Base Directory Specification),
 *   ~/.cache/wasi-mman                    when XDG_CACHE_HOME is unset or not absolute
 */
export function cacheRoot(): string {
  const chosen = process.env.WASI_MMAN_CACHE;
  if (chosen) return resolve(chosen);
  const root = packageRoot();
  if (existsSync(join(root, ".git"))) return join(root, ".cache");
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), ".cache"), "wasi-mman");
}

/** Where C build outputs go: build/c under the cache folder. */
export function cBuildDir(): string {
  return join(cacheRoot(), "build", "c");
}

/** Creates a folder in the cache, or says in one line why it cannot and what to do. */
function makeCacheDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "EACCES" || code === "EPERM" ? "permission denied" : code === "EROFS" ? "read-only file system" : String(code ?? error);
    throw new CcError(`wasi-mman cc: cannot create its cache folder ${dir}: ${reason} (set WASI_MMAN_CACHE or XDG_CACHE_HOME to a writable folder)`);
  }
}

/** Where progress lines go (fetching or building musl, which takes a while once); null: nowhere. */
let progress: ((line: string) => void) | null = null;

/** Sets where progress lines go; `wasi-mman cc` sends them to stderr. */
export function setCcProgress(sink: ((line: string) => void) | null): void {
  progress = sink;
}

let toolchainCache: Toolchain | CcError | undefined;

/**
 * Runs scripts/toolchain.sh (the one place that knows where clang, llvm-ar and wasi-libc are)
 * and reads its KEY=VALUE lines. Throws CcError with the script's own one-line reason.
 */
export function findToolchain(): Toolchain {
  if (toolchainCache instanceof CcError) throw toolchainCache;
  if (toolchainCache) return toolchainCache;
  const script = join(packageRoot(), "scripts", "toolchain.sh");
  try {
    const out = execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const values = new Map(
      out
        .split("\n")
        .filter((line) => line.includes("="))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
    );
    toolchainCache = {
      cc: values.get("WASI_CC") ?? "",
      ar: values.get("WASI_AR") ?? "",
      sysroot: values.get("WASI_SYSROOT") ?? "",
      kind: values.get("WASI_TOOLCHAIN") ?? "",
    };
    if (!toolchainCache.cc) throw new Error("toolchain.sh printed no WASI_CC");
    return toolchainCache;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    const reason = stderr.split("\n").filter(Boolean).pop() ?? (error as Error).message;
    toolchainCache = new CcError(`wasi-mman cc: ${reason}`);
    throw toolchainCache;
  }
}

/** Runs scripts/fetch-musl.sh and returns musl 1.2.3's unpacked source folder. */
export function fetchMuslSource(): string {
  return fetchDebianSource("musl");
}

/** Fetches a Debian source package into <cache>/<package> (scripts/fetch-musl.sh), once. */
export function fetchDebianSource(sourcePackage: string): string {
  const script = join(packageRoot(), "scripts", "fetch-musl.sh");
  const cache = cacheRoot();
  makeCacheDir(cache);
  if (!existsSync(join(cache, sourcePackage, ".fetched"))) {
    progress?.(`wasi-mman cc: fetching ${sourcePackage}'s source from Debian into ${join(cache, sourcePackage)} (once)`);
  }
  try {
    const out = execFileSync("bash", [script, sourcePackage], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WASI_MMAN_CACHE: cache } });
    return out.trim().split("\n").pop() ?? "";
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new CcError(
      `wasi-mman cc: cannot fetch Debian source package ${sourcePackage}: ${stderr.split("\n").pop() ?? ""} ` +
        (sourcePackage === "musl" ? "(this needs apt-get and the network once; or --malloc=dlmalloc, which needs no musl)" : "(this needs apt-get and the network once)"),
    );
  }
}

function targetFlags(toolchain: Toolchain): string[] {
  return ["--target=wasm32-wasi", ...(toolchain.sysroot ? [`--sysroot=${toolchain.sysroot}`] : [])];
}

/** guest/c's public headers (sys/mman.h, unistd.h, wasi-mman.h): first on every include path. */
export function glueIncludeDir(): string {
  return join(packageRoot(), "guest", "c", "include");
}

/** The static libraries one link needs, in link order. */
export interface LayerLibraries {
  /** libmallocng.a / liboldmalloc.a; absent for dlmalloc. */
  readonly malloc?: string;
  /** brk and sbrk over the host (absent for dlmalloc, whose sbrk is wasi-libc's). */
  readonly brk?: string;
  /** The POSIX mmap family, getpagesize, sysconf(_SC_PAGESIZE). */
  readonly mman: string;
  /** pthread over wasi-threads (guest/c/threads); only in a -pthread link. */
  readonly pthread?: string;
}

interface LibrarySpec {
  readonly name: string;
  readonly sources: string[];
  readonly flags: string[];
  /** Header folders besides guest/c/include and guest/c/musl whose bytes the build key covers. */
  readonly headerDirs?: string[];
}

// musl is compiled as its own build does (musl's configure: -std=c99 -ffreestanding), and
// without type-based alias analysis, which allocator code that reinterprets memory must not
// rely on. Warnings in third-party code are not ours to fix; ours build with -Wall -Wextra.
const MUSL_FLAGS = ["-O2", "-std=c99", "-ffreestanding", "-fno-strict-aliasing", "-D_XOPEN_SOURCE=700", "-w"];
const GLUE_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE"];

function muslSpec(malloc: "mallocng" | "oldmalloc", threads: ThreadBuild | null): LibrarySpec {
  const root = packageRoot();
  const mallocDir = join(fetchMuslSource(), "src", "malloc");
  const own = readdirSync(join(mallocDir, malloc))
    .filter((file) => file.endsWith(".c"))
    .map((file) => join(mallocDir, malloc, file));
  // The allocator-independent files of src/malloc, as musl's Makefile takes them for either
  // MALLOC_DIR. reallocarray.c is left to wasi-libc (identical behaviour, both call realloc).
  const common = ["calloc.c", "free.c", "realloc.c", "memalign.c", "posix_memalign.c", "libc_calloc.c", "replaced.c", "lite_malloc.c"].map((file) =>
    join(mallocDir, file),
  );
  return withThreads(
    {
      name: `lib${malloc}.a`,
      sources: [...own, ...common, join(root, "guest", "c", "musl", "musl-glue.c")],
      flags: [...MUSL_FLAGS, "-I", join(root, "guest", "c", "musl"), "-I", glueIncludeDir()],
    },
    threads,
  );
}

function glueSpec(name: string, files: string[], threads: ThreadBuild | null): LibrarySpec {
  const root = packageRoot();
  return withThreads(
    {
      name,
      sources: files.map((file) => join(root, "guest", "c", "src", file)),
      flags: [...GLUE_FLAGS, "-I", glueIncludeDir()],
    },
    threads,
  );
}

/** A -pthread build: the posix-model sysroot (cli/cc-threads.ts) it compiles against. */
export interface ThreadBuild {
  readonly sysroot: string;
}

/**
 * The same library for a -pthread link: compiled with -pthread against the posix sysroot
 * (wasm-ld's --shared-memory needs the atomics and bulk-memory features in every object, and
 * _REENTRANT selects guest/c/musl's real locks), under a name of its own so that the two
 * builds are cached side by side.
 */
function withThreads(spec: LibrarySpec, threads: ThreadBuild | null): LibrarySpec {
  if (threads === null) return spec;
  return { ...spec, name: spec.name.replace(/\.a$/, "-pthread.a"), flags: [...spec.flags, "-pthread", `--sysroot=${threads.sysroot}`] };
}

/** guest/c/threads: pthread over wasi-threads' thread-spawn, and wasi_thread_start. */
function pthreadSpec(threads: ThreadBuild): LibrarySpec {
  const dir = join(packageRoot(), "guest", "c", "threads");
  const sources = readdirSync(dir)
    .filter((file) => file.endsWith(".c") || file.endsWith(".s"))
    .sort()
    .map((file) => join(dir, file));
  return {
    name: "libwasi-mman-threads.a",
    sources,
    // -Wno-prio-ctor-dtor: the main thread's set-up is a constructor with a priority below 100,
    // the range clang keeps for the implementation, which this library is (pthread-create.c).
    // -Wno-unused-command-line-argument: the C flags also reach the one assembly file.
    flags: [...GLUE_FLAGS, "-Wno-unknown-warning-option", "-Wno-prio-ctor-dtor", "-Wno-unused-command-line-argument", "-pthread", `--sysroot=${threads.sysroot}`, "-I", glueIncludeDir()],
    headerDirs: [dir],
  };
}

/** Hash of everything a build's output depends on: compiler identity, flags, every input byte. */
function buildKey(toolchain: Toolchain, spec: LibrarySpec, headerDirs: string[]): string {
  const hash = createHash("sha256");
  hash.update(execFileSync(toolchain.cc, ["--version"], { encoding: "utf8" }));
  hash.update(JSON.stringify([toolchain, spec.flags]));
  for (const source of spec.sources) hash.update(source).update(readFileSync(source));
  for (const dir of headerDirs) {
    for (const file of readdirRecursive(dir).sort()) hash.update(file).update(readFileSync(file));
  }
  return hash.digest("hex").slice(0, 16);
}

function readdirRecursive(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? readdirRecursive(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** Runs jobs at most `limit` at a time (the machine's cores), failing on the first failure. */
async function inParallel<T>(items: T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await job(items[next++]);
  });
  await Promise.all(workers);
}

async function buildLibrary(toolchain: Toolchain, spec: LibrarySpec): Promise<string> {
  const root = packageRoot();
  const libDir = join(cBuildDir(), "lib");
  const output = join(libDir, spec.name);
  const stamp = `${output}.key`;
  const key = buildKey(toolchain, spec, [join(root, "guest", "c", "include"), join(root, "guest", "c", "musl"), ...(spec.headerDirs ?? [])]);
  const ready = (): string | null => (existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === key ? output : null);
  if (ready() !== null) return output;
  // Test files run in parallel processes over one cache: one builds, the others wait for it.
  return underCacheLock(`${output}.lock`, ready, () => compileLibrary(toolchain, spec, key));
}

async function compileLibrary(toolchain: Toolchain, spec: LibrarySpec, key: string): Promise<string> {
  const libDir = join(cBuildDir(), "lib");
  const output = join(libDir, spec.name);
  const stamp = `${output}.key`;
  progress?.(`wasi-mman cc: building ${spec.name} (${spec.sources.length} file${spec.sources.length === 1 ? "" : "s"}) into ${libDir} (once; later builds reuse it)`);
  const objDir = join(libDir, `${spec.name}.obj`);
  rmSync(objDir, { recursive: true, force: true });
  makeCacheDir(objDir);
  // Object names keep their folder (mallocng/malloc.c and oldmalloc/malloc.c both exist).
  const objects = spec.sources.map((source) => join(objDir, `${source.split("/").slice(-2).join("_").replace(/\.[cs]$/, "")}.o`));
  await inParallel(
    spec.sources.map((source, index) => ({ source, object: objects[index] })),
    4,
    async ({ source, object }) => {
      try {
        await run(toolchain.cc, [...targetFlags(toolchain), ...spec.flags, "-c", source, "-o", object]);
      } catch (error) {
        const stderr = String((error as { stderr?: unknown }).stderr ?? "");
        throw new CcError(`wasi-mman cc: compiling ${source} failed:\n${stderr}`);
      }
    },
  );
  const temporary = `${output}.tmp`;
  rmSync(temporary, { force: true });
  execFileSync(toolchain.ar, ["rcs", temporary, ...objects]);
  renameSync(temporary, output);
  writeFileSync(stamp, key);
  return output;
}

/**
 * Builds (or finds cached) the libraries a link with the given malloc needs; with `threads`,
 * their -pthread builds and the pthread library.
 */
export async function buildLayerLibraries(malloc: MallocChoice, toolchain = findToolchain(), threads: ThreadBuild | null = null): Promise<LayerLibraries> {
  // Before anything is said or built: a cache that cannot be made is the one error then.
  makeCacheDir(join(cBuildDir(), "lib"));
  const pthread = threads === null ? undefined : await buildLibrary(toolchain, pthreadSpec(threads));
  const mman = await buildLibrary(toolchain, glueSpec("libwasi-mman.a", ["mman.c", "sysconf.c"], threads));
  if (malloc === "dlmalloc") return { mman, pthread };
  const brk = await buildLibrary(toolchain, glueSpec("libwasi-mman-brk.a", ["brk.c"], threads));
  const mallocLib = await buildLibrary(toolchain, muslSpec(malloc, threads));
  return { malloc: mallocLib, brk, mman, pthread };
}

/**
 * Builds (or finds cached) the posix-model wasi-libc sysroot that -pthread links against
 * (cli/cc-threads.ts), fetching Debian's wasi-libc source the first time.
 */
export async function buildThreadSysroot(toolchain = findToolchain()): Promise<ThreadBuild> {
  const source = fetchDebianSource(WASI_LIBC_PACKAGE);
  const outDir = join(cBuildDir(), "wasi-libc-posix");
  makeCacheDir(outDir);
  try {
    const sysroot = await buildPosixSysroot({
      cc: toolchain.cc,
      ar: toolchain.ar,
      source,
      outDir,
      makefile: join(packageRoot(), "guest", "c", "threads", "wasi-libc-posix.mk"),
      startFile: join(packageRoot(), "guest", "c", "threads", "crt", "crt1-command.c"),
      progress,
    });
    return { sysroot };
  } catch (error) {
    throw new CcError(`wasi-mman cc: -pthread: ${(error as Error).message}`);
  }
}

/**
 * The flags a link against the layer adds after the user's own: libraries come before the
 * compiler's implicit -lc, so their malloc, sbrk and mmap are the definitions the linker takes
 * and wasi-libc's dlmalloc.o is never pulled in.
 */
export function layerLinkFlags(malloc: MallocChoice, libraries: LayerLibraries): string[] {
  return [
    ...(libraries.pthread === undefined ? [] : threadLinkFlags()),
    // wasi-libc's dlmalloc takes the memory from __heap_base to the end of the initial memory
    // as its first segment, without asking anyone. Without the export, the host starts above
    // the memory that exists when it attaches (docs/abi.md, "Heap base"), so the two never
    // hand out the same pages. The musl allocators own nothing they did not get from the host.
    ...(malloc === "dlmalloc" ? [] : ["-Wl,--export=__heap_base"]),
    // sysconf(_SC_PAGESIZE) must answer the host's page size (guest/c/src/sysconf.c).
    "-Wl,--wrap=sysconf",
    ...[libraries.pthread, libraries.malloc, libraries.brk, libraries.mman].filter((lib): lib is string => lib !== undefined),
  ];
}

export interface CompileOptions {
  readonly malloc: MallocChoice;
  readonly output: string;
  /** Everything else for clang: sources, -O2, -D..., -l... */
  readonly args: readonly string[];
}

/** C++ source files, by the suffixes clang and gcc take as C++. */
const CXX_SOURCE = /\.(cc|cp|cpp|cxx|c\+\+|C|CPP)$/;

/** Debian 12's libc++ for wasm32-wasi (libc++-16-dev-wasm32, libc++abi-16-dev-wasm32). */
const DEBIAN_LIBCXX_HEADERS = "/usr/include/wasm32-wasi/c++/v1";
const DEBIAN_LIBCXX = "/usr/lib/wasm32-wasi/libc++.a";

/**
 * What a build with C++ sources adds: clang's C++ driver (it links libc++ and libc++abi), no
 * exceptions (wasm32-wasi's libc++ is built without them), and for Debian's clang, which does
 * not find them itself, libc++'s headers. wasi-sdk's clang finds its own in its sysroot.
 */
function cxxFlags(toolchain: Toolchain): string[] {
  const flags = ["--driver-mode=g++", "-fno-exceptions"];
  if (toolchain.sysroot !== "") return flags;
  if (!existsSync(DEBIAN_LIBCXX_HEADERS) || !existsSync(DEBIAN_LIBCXX)) {
    throw new CcError(
      "wasi-mman cc: C++ needs libc++ for wasm32-wasi, which is not installed: apt-get install libc++-16-dev-wasm32 libc++abi-16-dev-wasm32 (or set WASI_SDK_PATH to a wasi-sdk)",
    );
  }
  return [...flags, "-isystem", DEBIAN_LIBCXX_HEADERS];
}

/** Compiles and links one program; throws CcError with clang's message on failure. */
export async function compileProgram(options: CompileOptions): Promise<void> {
  const toolchain = findToolchain();
  const cxx = options.args.some((arg) => !arg.startsWith("-") && CXX_SOURCE.test(arg)) ? cxxFlags(toolchain) : [];
  // clang's own -pthread selects the threaded build: the posix sysroot, the -pthread libraries.
  const threads = options.args.includes("-pthread") ? await buildThreadSysroot(toolchain) : null;
  const libraries = await buildLayerLibraries(options.malloc, toolchain, threads);
  mkdirSync(dirname(resolve(options.output)), { recursive: true });
  const args = [
    ...targetFlags(toolchain),
    ...(threads === null ? [] : [`--sysroot=${threads.sysroot}`]),
    ...cxx,
    "-I",
    glueIncludeDir(),
    ...options.args,
    "-o",
    options.output,
    ...layerLinkFlags(options.malloc, libraries),
  ];
  try {
    await run(toolchain.cc, args, { maxBuffer: 64 << 20 });
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
    throw new CcError(`wasi-mman cc: ${toolchain.cc} failed:\n${stderr}`);
  }
  // Only a linked module gets the note: in an object file (-c) wasm-ld would merge it with others.
  if (!options.args.some((arg) => arg === "-c" || arg === "-S" || arg === "-E")) writeBuildNote(options.output, options.malloc);
}

/**
 * Appends the build note (hosts/instantiate.ts, BUILD_NOTE_SECTION) to a linked module: a
 * custom section, which may stand anywhere in a module and changes nothing it does (wasm core
 * spec, "Custom Sections"). Hosts read it to know that a dlmalloc build leaves __heap_base out
 * on purpose, instead of advising the user to export it.
 */
export function writeBuildNote(output: string, malloc: MallocChoice): void {
  appendFileSync(output, buildNoteSection({ tool: "wasi-mman cc", malloc, heapBase: malloc === "dlmalloc" ? "memory-size" : "export" }));
}

const USAGE = "usage: wasi-mman cc [--malloc=mallocng|oldmalloc|dlmalloc] [-pthread] -o prog.wasm prog.c [clang options]";

export const CC_USAGE = `Usage: wasi-mman cc [--malloc=mallocng|oldmalloc|dlmalloc] [-pthread] -o prog.wasm prog.c [clang options]

Compiles and links C for wasm32-wasi with malloc on the memory calls (brk, mmap, munmap,
mremap, madvise), ready for wasi-mman run. C++ sources (.cpp, .cc, .cxx) are compiled as C++
against libc++ (Debian's libc++-16-dev-wasm32, or WASI_SDK_PATH's), without exceptions.

Options:
  --malloc NAME   the allocator (default mallocng):
                    mallocng   musl 1.2.3's malloc (musl's default since 1.2.1)
                    oldmalloc  musl's malloc before 1.2.1
                    dlmalloc   wasi-libc's own (grows memory itself; the mmap family is still
                               linked for the program's direct calls)
  -o FILE         the module to write
  -h, --help      show this help
  -pthread        POSIX threads for wasi-threads (clang's own option, passed on): links
                  against wasi-libc's posix model, built once from Debian's wasi-libc source,
                  and guest/c/threads' pthread; the module imports a shared memory and
                  wasi.thread-spawn and runs with runThreaded (docs/c.md, "Threads")
Every other argument goes to clang as it is (sources, -O2, -I, -D, -l, -Wl,...).

The first build fetches musl's source from Debian (apt-get, the network, once) and builds the
allocator, with a line saying so; later builds reuse them. They are kept in $WASI_MMAN_CACHE,
else $XDG_CACHE_HOME/wasi-mman (default ~/.cache/wasi-mman), or .cache/ in a git checkout;
the package folder itself is only read. The toolchain: $WASI_SDK_PATH, else Debian's clang-16
lld-16 wasi-libc libclang-rt-16-dev-wasm32 (scripts/toolchain.sh --install).

Example:
  wasi-mman cc -O2 -o prog.wasm prog.c && wasi-mman run --stats prog.wasm`;

/** The allocator when --malloc is not given: musl's own default allocator. */
export const DEFAULT_MALLOC: MallocChoice = "mallocng";

interface ParsedArgs {
  malloc: MallocChoice;
  output?: string;
  rest: string[];
  help: boolean;
}

/**
 * cc's own options, taken out of argv; everything else is clang's, passed on in order. Not
 * node:util's parseArgs: it cannot pass unknown options through (it does not know that clang's
 * `-I dir` takes the next argument while `-O2` does not), and cc must not reorder them.
 */
function parseCcArgs(argv: string[]): ParsedArgs {
  const parsed: ParsedArgs = { malloc: DEFAULT_MALLOC, rest: [], help: false };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    let mallocValue: string | undefined;
    if (arg === "--help" || arg === "-h") parsed.help = true;
    else if (arg.startsWith("--malloc=")) mallocValue = arg.slice("--malloc=".length);
    else if (arg === "--malloc") {
      mallocValue = argv[++index];
      if (mallocValue === undefined) throw new CcError("wasi-mman cc: --malloc needs a value (mallocng, oldmalloc or dlmalloc)");
    } else if (arg === "-o") {
      parsed.output = argv[++index];
      if (parsed.output === undefined) throw new CcError("wasi-mman cc: -o needs a file name");
    } else if (arg.startsWith("-o") && arg.length > 2) parsed.output = arg.slice(2);
    else parsed.rest.push(arg);
    if (mallocValue !== undefined) {
      if (!(MALLOC_CHOICES as readonly string[]).includes(mallocValue)) {
        throw new CcError(`wasi-mman cc: unknown --malloc=${mallocValue} (use mallocng, oldmalloc or dlmalloc)`);
      }
      parsed.malloc = mallocValue as MallocChoice;
    }
  }
  return parsed;
}

/** The `cc` subcommand. Returns the exit status: 0, 2 for a usage or toolchain problem, 1 when clang fails. */
export async function ccCommand(argv: string[]): Promise<number> {
  setCcProgress((line) => console.error(line));
  try {
    const parsed = parseCcArgs(argv);
    if (parsed.help) {
      console.log(CC_USAGE);
      return 0;
    }
    if (!parsed.output) throw new CcError(`wasi-mman cc: name the output with -o prog.wasm (${USAGE})`);
    if (!parsed.rest.some((arg) => !arg.startsWith("-"))) throw new CcError(`wasi-mman cc: no input files (${USAGE})`);
    findToolchain();
    try {
      await compileProgram({ malloc: parsed.malloc, output: parsed.output, args: parsed.rest });
    } catch (error) {
      // A failed compile of the user's code is the user's error output, not a usage problem.
      if (error instanceof CcError && error.message.includes(" failed:")) {
        console.error(error.message);
        return 1;
      }
      throw error;
    }
    return 0;
  } catch (error) {
    if (error instanceof CcError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  } finally {
    setCcProgress(null);
  }
}
