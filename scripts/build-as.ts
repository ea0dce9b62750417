// Compiles the AssemblyScript guests (guest/as) and fixtures (fixtures/as) with the
// compiler's JS API, into .cache/build/as/<target>-<hash>.wasm. The hash covers the
// sources, the options and the compiler version, so an unchanged target is never rebuilt.
//
//   node --import tsx scripts/build-as.ts            # every target
//   node --import tsx scripts/build-as.ts alloc rt   # some targets
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import asc from "assemblyscript/asc";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, ".cache", "build", "as");

// `--exportStart _initialize`: the start function must not run inside instantiate(), before
// the host has attached to the memory (an early brk would get -ENOSYS/0). Hosts call
// `_initialize` after `mman.attach(instance)`.
const common = ["-O3", "--noAssert", "--exportStart", "_initialize"];
const debug = ["--use", "MMAN_DEBUG=1"];
// The threaded allocator (docs/guest-as.md "Threads"): atomics, and an imported shared memory
// that may grow to the whole 4 GiB, since the host decides its maximum. The data starts at
// 4096 so that the allocator's shared state (1024..2352) lies in no data segment. The table
// is exported so that the lock's slow path stays an indirect call (guest/as/alloc.ts says why).
const threads = [
  "--use", "MMAN_THREADS=1", "--enable", "threads", "--importMemory", "--sharedMemory", "--maximumMemory", "65536",
  "--memoryBase", "4096", "--exportTable",
];

export interface AsTarget {
  /** Entry file, relative to the repository root. */
  readonly entry: string;
  readonly args: readonly string[];
  readonly description: string;
}

export const AS_TARGETS = {
  alloc: {
    entry: "guest/as/index.ts",
    args: [...common, "--runtime", "stub"],
    description: "the allocator as a module exporting malloc/free/...",
  },
  "alloc-debug": {
    entry: "guest/as/index.ts",
    args: [...common, ...debug, "--runtime", "stub"],
    description: "the allocator reporting every allocation to mman_debug.*",
  },
  "alloc-threads": {
    entry: "guest/as/threads.ts",
    args: [...common, ...threads, "--runtime", "stub"],
    description: "the allocator for several instances on one shared memory (a lock in memory)",
  },
  "alloc-threads-unlocked": {
    entry: "guest/as/threads.ts",
    args: [...common, ...threads, "--use", "MMAN_THREADS_UNLOCKED=1", "--runtime", "stub"],
    description: "test only: the threaded allocator without its lock",
  },
  scenarios: {
    entry: "fixtures/as/scenarios.ts",
    args: [...common, "--runtime", "stub"],
    description: "threshold fixtures (brk growth, mmap fallback, tier moves)",
  },
  strings: {
    entry: "fixtures/as/strings.ts",
    args: [...common, "--runtime", "./guest/as/rt"],
    description: "an AS program with strings/arrays on the runtime variant",
  },
  "strings-debug": {
    entry: "fixtures/as/strings.ts",
    args: [...common, ...debug, "--runtime", "./guest/as/rt"],
    description: "the same, reporting to the checker",
  },
  "bench-ours": {
    entry: "fixtures/as/bench-driver.ts",
    args: [...common, "--runtime", "stub"],
    description: "benchmark trace on the two-tier allocator",
  },
  "bench-tlsf": {
    entry: "fixtures/as/bench-driver.ts",
    args: [...common, "--use", "USE_TLSF=1", "--runtime", "minimal"],
    description: "benchmark trace on AssemblyScript's TLSF (heap.alloc/free)",
  },
} satisfies Record<string, AsTarget>;

export type AsTargetName = keyof typeof AS_TARGETS;

function sourcesOf(target: AsTarget): string[] {
  // Every guest file can be reached from any entry; hashing them all is cheap and safe.
  const files = readdirSync(join(root, "guest", "as"))
    .filter((name) => name.endsWith(".ts") && name !== "checker.ts" && name !== "host.ts")
    .map((name) => join("guest", "as", name));
  return [...new Set([...files, target.entry])].sort();
}

function hashOf(target: AsTarget): string {
  const hash = createHash("sha256");
  hash.update(asc.version);
  hash.update(JSON.stringify(target.args));
  for (const file of sourcesOf(target)) {
    hash.update(file);
    hash.update(readFileSync(join(root, file)));
  }
  return hash.digest("hex").slice(0, 16);
}

/** Path of the built target, compiling it first unless a build of the same sources exists. */
export async function buildAs(name: AsTargetName): Promise<string> {
  const target: AsTarget = AS_TARGETS[name];
  const output = join(outDir, `${name}-${hashOf(target)}.wasm`);
  if (existsSync(output)) return output;
  mkdirSync(outDir, { recursive: true });
  let binary: Uint8Array | null = null;
  let diagnostics = "";
  const { error } = await asc.main([target.entry, ...target.args, "--baseDir", root, "--outFile", "out.wasm"], {
    writeFile(fileName: string, contents: Uint8Array | string) {
      if (fileName.endsWith(".wasm") && typeof contents !== "string") binary = contents;
    },
    stderr: { write: (text: string) => { diagnostics += text; return true; } } as never,
    stdout: { write: () => true } as never,
  });
  if (error || !binary) throw new Error(`asc failed for ${name}: ${error?.message ?? "no output"}\n${diagnostics}`);
  // Write then rename, so a concurrent reader never sees half a file.
  const partial = `${output}.${process.pid}.partial`;
  writeFileSync(partial, binary);
  renameSync(partial, output);
  return output;
}

/** The built target's bytes, typed so that WebAssembly.instantiate picks the bytes overload. */
export async function loadAs(name: AsTargetName): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = readFileSync(await buildAs(name));
  return new Uint8Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const names = process.argv.slice(2);
  const chosen = (names.length ? names : Object.keys(AS_TARGETS)) as AsTargetName[];
  for (const name of chosen) {
    if (!(name in AS_TARGETS)) {
      console.error(`build-as: unknown target "${name}" (known: ${Object.keys(AS_TARGETS).join(", ")})`);
      process.exit(2);
    }
    console.log(`${name}: ${await buildAs(name)}`);
  }
}
