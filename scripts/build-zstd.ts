/**
 * Builds zstd's command-line program from Debian 12's source package (zstd 1.5.4+dfsg2, fetched
 * by scripts/fetch-debian-source.sh into .cache/zstd/, never committed) with `wasi-mman cc`
 * (musl's mallocng on the memory calls), into .cache/build/c/zstd/<variant>/:
 *
 *   single/zstd.wasm    without threads: ZSTD_MULTITHREAD off, as zstd's Makefile builds it
 *                       where it finds no pthread.h
 *   threads/zstd.wasm   -DZSTD_MULTITHREAD -pthread: wasm32-wasi-threads, for runThreaded
 *
 *   node --import tsx scripts/build-zstd.ts [single|threads|native|corpus FILE BYTES]...
 *
 * The files are the ones zstd's programs/Makefile links into `zstd`: lib/common, compress,
 * decompress and dictBuilder, and every programs/*.c; legacy formats are left out
 * (ZSTD_LEGACY_SUPPORT=0: they only decode frames of zstd before 0.8) and so is the x86-64
 * assembly. What WASI lacks is given by flags and guest/c/zstd/ (zstd-wasi.h says what and why).
 *
 * The reference is zstd built natively from the same source: Debian's installed `zstd` when
 * it is that version (the package is built from this very source), else a gcc build into
 * .cache/build/c/zstd/native/ (nativeZstd).
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { digest, unlessBuilt } from "./build-cache.js";
import { cBuildDir, CcError, compileProgram, findToolchain, packageRoot } from "../cli/cc.js";

const execFileAsync = promisify(execFile);

export const ZSTD_DEBIAN_PACKAGE = "zstd";
export const ZSTD_UPSTREAM_VERSION = "1.5.4";

/** With or without zstd's multithreading (ZSTD_MULTITHREAD, pthreads). */
export type ZstdVariant = "single" | "threads";

/** The source folder of the zstd library and CLI, relative to the unpacked package. */
const LIBRARY_DIRS = ["lib/common", "lib/compress", "lib/decompress", "lib/dictBuilder"];
const PROGRAM_DIR = "programs";

// The same options for the wasm and native builds, so that both compress with the same code.
const ZSTD_DEFINES = ["-DZSTD_LEGACY_SUPPORT=0", "-DZSTD_DISABLE_ASM", "-DBACKTRACE_ENABLE=0"];

/** What wasm32-wasi needs on top (guest/c/zstd/zstd-wasi.h explains each). */
function wasiFlags(): string[] {
  return [
    "-include",
    join(shimDir(), "zstd-wasi.h"),
    "-DPLATFORM_POSIX_VERSION=200809L",
    "-DZSTD_SETPRIORITY_SUPPORT=0",
    "-D_WASI_EMULATED_SIGNAL",
    // dictBuilder times its passes with clock().
    "-D_WASI_EMULATED_PROCESS_CLOCKS",
  ];
}

const WASI_LIBRARIES = ["-lwasi-emulated-signal", "-lwasi-emulated-process-clocks"];

function variantFlags(variant: ZstdVariant): string[] {
  return variant === "threads" ? ["-DZSTD_MULTITHREAD", "-pthread"] : [];
}

function shimDir(): string {
  return join(packageRoot(), "guest", "c", "zstd");
}

function outputDir(variant: ZstdVariant | "native"): string {
  return join(cBuildDir(), "zstd", variant);
}

/**
 * Compiles `files` in two lanes (this machine has two cores): the even-numbered ones in one,
 * the odd-numbered in the other, each in order; the first failure fails the whole.
 */
async function compileInTwoLanes(files: readonly string[], compile: (file: string, index: number) => Promise<void>): Promise<void> {
  await Promise.all(
    [0, 1].map(async (lane) => {
      for (let index = lane; index < files.length; index += 2) await compile(files[index], index);
    }),
  );
}

/** Debian's archive did not give the source (no network, say): a reason to skip, not a bug. */
export class ZstdSourceUnavailable extends CcError {
  override name = "ZstdSourceUnavailable";
}

export interface ZstdSource {
  readonly dir: string;
  /** The Debian version fetched, e.g. "1.5.4+dfsg2-5". */
  readonly debianVersion: string;
}

/** zstd's unpacked source (scripts/fetch-debian-source.sh checks the upstream version). */
export function fetchZstdSource(): ZstdSource {
  const script = join(packageRoot(), "scripts", "fetch-debian-source.sh");
  const result = spawnSync("bash", [script, ZSTD_DEBIAN_PACKAGE, ZSTD_UPSTREAM_VERSION], { encoding: "utf8" });
  if (result.status !== 0) {
    const reason = (result.stderr || String(result.error ?? "")).trim().split("\n").pop();
    throw new ZstdSourceUnavailable(`cannot fetch Debian source package ${ZSTD_DEBIAN_PACKAGE}: ${reason}`);
  }
  const version = /fetch-debian-source\.sh: \S+ (\S+)$/m.exec(result.stderr)?.[1] ?? "unknown";
  return { dir: result.stdout.trim().split("\n").pop() ?? "", debianVersion: version };
}

/** Every C file of the zstd program, relative to the source folder, in a fixed order. */
export function zstdSources(source: ZstdSource): string[] {
  return [...LIBRARY_DIRS, PROGRAM_DIR].flatMap((dir) =>
    readdirSync(join(source.dir, dir))
      .filter((file) => file.endsWith(".c"))
      .sort()
      .map((file) => `${dir}/${file}`),
  );
}

let compilerIdentity: string | undefined;
function compilerKey(): string {
  compilerIdentity ??= execFileSync(findToolchain().cc, ["--version"], { encoding: "utf8" });
  return compilerIdentity;
}

function shimContents(): Buffer[] {
  return readdirSync(shimDir())
    .sort()
    .flatMap((file) => [Buffer.from(file), readFileSync(join(shimDir(), file))]);
}

export interface ZstdBuild {
  readonly variant: ZstdVariant;
  readonly wasm: string;
  readonly debianVersion: string;
}

/**
 * Compiles every file once to a wasm object through `wasi-mman cc -c` (so a -pthread build
 * gets cc's threaded sysroot for its objects too), then links them with cc under mallocng.
 */
export async function buildZstd(variant: ZstdVariant): Promise<ZstdBuild> {
  const source = fetchZstdSource();
  const files = zstdSources(source);
  const dir = outputDir(variant);
  // Warnings in third-party code are not ours to fix.
  const flags = ["-O2", "-w", ...ZSTD_DEFINES, ...wasiFlags(), ...variantFlags(variant)];
  const objects = files.map((file) => join(dir, "obj", file.replaceAll("/", "_").replace(/\.c$/, ".o")));
  const compile = (file: string, index: number): Promise<void> =>
    compileProgram({ malloc: "mallocng", output: objects[index], args: [...flags, "-c", join(source.dir, file)] });
  // cc's own files: they decide the flags and, under -pthread, the sysroot every object gets.
  const ccSources = ["cc.ts", "cc-threads.ts"].map((file) => readFileSync(join(packageRoot(), "cli", file)));
  const key = digest([compilerKey(), source.debianVersion, JSON.stringify([flags, files]), ...shimContents(), ...ccSources]);
  await unlessBuilt(join(dir, "obj", "objects"), key, async () => {
    // The first file alone: cc builds what it needs (its libraries, the -pthread sysroot) once,
    // not in two compiles at the same time, which would build them into one folder together.
    await compile(files[0], 0);
    await compileInTwoLanes(files.slice(1), (file, index) => compile(file, index + 1));
    writeFileSync(join(dir, "obj", "objects"), objects.join("\n"));
  });
  // Linked every time (about a second): the layer's libraries may have been rebuilt since.
  const output = join(dir, "zstd.wasm");
  await compileProgram({ malloc: "mallocng", output, args: ["-O2", ...variantFlags(variant), ...objects, join(shimDir(), "zstd-wasi.c"), ...WASI_LIBRARIES] });
  return { variant, wasm: output, debianVersion: source.debianVersion };
}

export interface NativeZstd {
  readonly path: string;
  /** "installed": Debian's zstd package of this version; "built": gcc from the fetched source. */
  readonly how: "installed" | "built";
}

/** The version line of a zstd binary ("v1.5.4"), or null when it does not run. */
function zstdVersionOf(binary: string): string | null {
  const result = spawnSync(binary, ["-V"], { encoding: "utf8" });
  if (result.status !== 0) return null;
  return /\bv(\d+\.\d+\.\d+)\b/.exec(result.stdout)?.[1] ?? null;
}

/**
 * zstd built for this machine from the same source: the installed one when it is version
 * 1.5.4 (and `build` is not asked), else gcc -O2 with multithreading into the cache.
 */
export async function nativeZstd(options: { build?: boolean } = {}): Promise<NativeZstd> {
  if (!options.build) {
    const installed = spawnSync("sh", ["-c", "command -v zstd"], { encoding: "utf8" }).stdout.trim();
    if (installed && zstdVersionOf(installed) === ZSTD_UPSTREAM_VERSION) return { path: installed, how: "installed" };
  }
  if (spawnSync("sh", ["-c", "command -v gcc"]).status !== 0) throw new CcError("building zstd natively needs gcc (Debian: apt-get install gcc)");
  const source = fetchZstdSource();
  const files = zstdSources(source);
  const dir = outputDir("native");
  const flags = ["-O2", "-w", ...ZSTD_DEFINES, "-DZSTD_MULTITHREAD", "-pthread"];
  const objects = files.map((file) => join(dir, "obj", file.replaceAll("/", "_").replace(/\.c$/, ".o")));
  const gccIdentity = execFileSync("gcc", ["--version"], { encoding: "utf8" });
  const key = digest([gccIdentity, source.debianVersion, JSON.stringify([flags, files])]);
  const output = join(dir, "zstd");
  await unlessBuilt(output, key, async () => {
    mkdirSync(join(dir, "obj"), { recursive: true });
    await compileInTwoLanes(files, async (file, index) => {
      await execFileAsync("gcc", [...flags, "-c", join(source.dir, file), "-o", objects[index]]);
    });
    await execFileAsync("gcc", ["-pthread", ...objects, "-o", output]);
  });
  return { path: output, how: "built" };
}

/**
 * A deterministic text corpus of `bytes` bytes: lines of words from a fixed vocabulary picked by
 * a xorshift32 generator (Marsaglia, "Xorshift RNGs", 2003) with numbers between them. It
 * compresses to about a quarter at zstd's default level, so every match finder has work.
 */
export function zstdCorpus(bytes: number, seed = 0x2545f491): Uint8Array {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const syllables = ["ka", "lo", "mi", "ne", "ru", "sta", "ven", "dor", "ith", "qua", "zel", "om", "pra", "ti", "gur", "ael"];
  const words = Array.from({ length: 2048 }, () => {
    let word = "";
    for (let count = 1 + (next() % 4); count > 0; count--) word += syllables[next() % syllables.length];
    return word;
  });
  const out = new Uint8Array(bytes);
  const encoder = new TextEncoder();
  let offset = 0;
  while (offset < bytes) {
    let line = "";
    // Zipf-like choice: the square of a uniform number favours the first words.
    for (let count = 4 + (next() % 10); count > 0; count--) {
      const pick = next() / 0x100000000;
      line += `${words[Math.floor(pick * pick * words.length)]}${next() % 16 === 0 ? ` ${next() % 100000}` : ""} `;
    }
    const encoded = encoder.encode(`${line.trimEnd()}\n`);
    out.set(encoded.subarray(0, bytes - offset), offset);
    offset += encoded.length;
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const started = performance.now();
  const what = process.argv.slice(2);
  try {
    if (what[0] === "corpus") {
      writeFileSync(what[1] ?? "corpus.txt", zstdCorpus(Number(what[2] ?? 4 << 20)));
    } else {
      for (const variant of what.length ? what : ["single", "threads", "native"]) {
        if (variant === "native") console.log(`native: ${JSON.stringify(await nativeZstd({ build: true }))}`);
        else if (variant === "single" || variant === "threads") console.log(`${variant}: ${(await buildZstd(variant)).wasm}`);
        else throw new CcError(`build-zstd.ts: unknown ${variant} (use single, threads, native, corpus FILE BYTES)`);
      }
    }
    console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    console.error(error instanceof CcError ? error.message : error);
    process.exitCode = error instanceof CcError ? 2 : 1;
  }
}
