/**
 * What `wasi-mman cc -pthread` adds to a build: the thread-capable wasi-libc sysroot, built once
 * from Debian's wasi-libc source package, and the link flags of a wasi-threads module.
 *
 *   .cache/build/c/wasi-libc-posix/
 *     sysroot/include, sysroot/lib/wasm32-wasi/{crt1-command.o, libc.a, libpthread.a, ...}
 *       (crt1-command.o is guest/c/threads/crt/crt1-command.c's, libpthread.a is empty)
 *     sysroot.key     hash of the inputs; a different one rebuilds
 *     obj/            the objects make leaves behind
 *
 * Debian's installed wasi-libc is single-threaded: its objects lack the atomics and
 * bulk-memory features that wasm-ld's --shared-memory requires. Its source package
 * (0.0~git20220510) builds with THREAD_MODEL=posix once guest/c/threads/wasi-libc-posix.mk
 * adjusts a few per-object flags (that file says which and why). That libc has no pthread
 * functions at all; guest/c/threads provides them over wasi-threads' `thread-spawn`, and
 * libpthread.a, which clang's -pthread names on the link line, stays empty.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The Debian source package and the release the .mk was written for. */
export const WASI_LIBC_PACKAGE = "wasi-libc";

/**
 * 1 GiB: the shared memory's maximum. wasi-threads memories must be shared, and a shared
 * memory must declare a maximum (threads proposal, "Shared memory"); the host reserves it up
 * front, so it is a limit, not a cost.
 */
export const THREADS_MAX_MEMORY = 1 << 30;

/**
 * The link flags of a wasi-threads command:
 * - the memory is shared and imported (every thread's instance gets the same one);
 * - wasi_thread_start is exported, the entry thread-spawn's threads run (guest/c/threads/
 *   thread-start.s); -u pulls it out of the library even before pthread_create needs it, so a
 *   -pthread program is always a wasi-threads module and runs on runThreaded;
 * - __heap_base is exported, where the host starts the break (docs/abi.md).
 */
export function threadLinkFlags(): string[] {
  return [
    `-Wl,--shared-memory,--import-memory,--max-memory=${THREADS_MAX_MEMORY}`,
    "-Wl,-u,wasi_thread_start,--export=wasi_thread_start",
  ];
}

export interface SysrootBuild {
  readonly cc: string;
  readonly ar: string;
  /** The unpacked wasi-libc source folder (scripts/fetch-musl.sh wasi-libc). */
  readonly source: string;
  /** Where the sysroot, its key and the objects go. */
  readonly outDir: string;
  /** guest/c/threads/wasi-libc-posix.mk. */
  readonly makefile: string;
  /** guest/c/threads/crt/crt1-command.c, compiled over the sysroot's own crt1-command.o. */
  readonly startFile: string;
  readonly progress: ((line: string) => void) | null;
}

function sysrootKey(build: SysrootBuild): string {
  const hash = createHash("sha256");
  hash.update(execFileSync(build.cc, ["--version"], { encoding: "utf8" }));
  hash.update(JSON.stringify([build.cc, build.ar, build.source]));
  hash.update(readFileSync(build.makefile));
  hash.update(readFileSync(build.startFile));
  // The Debian version of the source (its .dsc sits beside the unpacked folder).
  const parent = join(build.source, "..");
  for (const file of readdirSync(parent).filter((name) => name.endsWith(".dsc")).sort()) hash.update(file);
  return hash.digest("hex").slice(0, 16);
}

/** The sibling tool of the toolchain's clang or llvm-ar (llvm-nm), else the one on PATH. */
function llvmNm(ar: string): string {
  const beside = ar.replace(/llvm-ar(-\d+)?$/, "llvm-nm$1");
  return beside !== ar && existsSync(beside) ? beside : "llvm-nm";
}

/** A lock older than this is taken to be left by a process that died while building. */
const STALE_LOCK_MS = 15 * 60 * 1000;

/**
 * Runs `build` while holding a lock folder (mkdir is atomic), so that several processes
 * sharing one cache (parallel test files, two terminals) never build into the same folders at
 * once; each waits for the one building. `ready` is asked again once the lock is held: the
 * build may have been done meanwhile.
 */
export async function underCacheLock<T>(lock: string, ready: () => T | null, build: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released between the two calls
      }
      if (age > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return ready() ?? (await build());
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Builds (or finds cached) the posix-model sysroot and returns its folder. Throws an Error with
 * make's last lines when the build fails; the caller turns it into its own message.
 */
export async function buildPosixSysroot(build: SysrootBuild): Promise<string> {
  const sysroot = join(build.outDir, "sysroot");
  const stamp = join(build.outDir, "sysroot.key");
  const key = sysrootKey(build);
  const ready = (): string | null =>
    existsSync(join(sysroot, "lib", "wasm32-wasi", "libc.a")) && existsSync(stamp) && readFileSync(stamp, "utf8") === key ? sysroot : null;
  if (ready() !== null) return sysroot;
  mkdirSync(build.outDir, { recursive: true });
  return underCacheLock(join(build.outDir, "build.lock"), ready, () => makeSysroot(build, key));
}

async function makeSysroot(build: SysrootBuild, key: string): Promise<string> {
  const sysroot = join(build.outDir, "sysroot");
  const stamp = join(build.outDir, "sysroot.key");
  build.progress?.(`wasi-mman cc: building wasi-libc with THREAD_MODEL=posix into ${sysroot} (once, about a minute; later builds reuse it)`);
  const staging = join(build.outDir, "sysroot.tmp");
  const objects = join(build.outDir, "obj");
  rmSync(staging, { recursive: true, force: true });
  rmSync(objects, { recursive: true, force: true });
  // The Makefile's phony steps leave stamp files named after themselves in the source folder;
  // left from an earlier build they would skip installing the headers into this sysroot.
  for (const step of ["include_dirs", "startup_files", "libc"]) rmSync(join(build.source, step), { force: true });
  try {
    await run(
      "make",
      [
        `-j${availableParallelism()}`,
        "-f",
        "Makefile",
        "-f",
        build.makefile,
        "THREAD_MODEL=posix",
        `CC=${build.cc}`,
        `AR=${build.ar}`,
        `NM=${llvmNm(build.ar)}`,
        `SYSROOT=${staging}`,
        `OBJDIR=${objects}`,
        "startup_files",
        "libc",
      ],
      { cwd: build.source, maxBuffer: 256 << 20 },
    );
  } catch (error) {
    const output = String((error as { stderr?: unknown }).stderr ?? (error as Error).message).trim().split("\n");
    throw new Error(`building wasi-libc (THREAD_MODEL=posix) in ${build.source} failed:\n${output.slice(-15).join("\n")}`);
  }
  const libDir = join(staging, "lib", "wasm32-wasi");
  // clang -pthread links -lpthread; every pthread function is in guest/c/threads' library.
  execFileSync(build.ar, ["rcs", join(libDir, "libpthread.a")]);
  // A _start that calls the constructors itself, so that wasm-ld does not wrap
  // wasi_thread_start in constructor and destructor calls (crt1-command.c says why).
  execFileSync(build.cc, ["--target=wasm32-wasi", "-pthread", `--sysroot=${staging}`, "-O2", "-c", build.startFile, "-o", join(libDir, "crt1-command.o")]);
  rmSync(sysroot, { recursive: true, force: true });
  renameSync(staging, sysroot);
  writeFileSync(stamp, key);
  return sysroot;
}
