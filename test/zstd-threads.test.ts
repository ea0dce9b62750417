/**
 * zstd 1.5.4 with its multithreading (ZSTD_MULTITHREAD, Debian source package zstd), built by
 * scripts/build-zstd.ts with `wasi-mman cc -pthread` for wasm32-wasi-threads, compresses a
 * deterministic 4 MiB corpus on runThreaded into exactly the bytes that zstd built natively from
 * the same source writes with the same -T, at 4 and 64 KiB pages, and decompresses it back.
 *
 * -B1MiB cuts the corpus into four 1 MiB jobs, so -T2 and -T4 have jobs to run side by side.
 * zstd's output does not depend on the number of workers once there is one (its frame is cut
 * into the same jobs), so -T1, -T2 and -T4 give the same bytes, and those differ from
 * --single-thread's, which the tests check too: equal bytes do come from the threaded path.
 *
 * Files: node:wasi with a preopened folder, and --no-asyncio. zstd's asynchronous I/O reads
 * and writes the files from pool threads of its own (programs/fileio_asyncio.c), and under
 * runThreaded every thread has a WASI host, and so a descriptor table, of its own
 * (hosts/threads.ts): a file the main thread opened is not open in those threads, and zstd
 * stops with "Read error". The last test runs the default (asynchronous I/O) through
 * `wasi-mman run` on stdin and stdout, which every thread has.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runThreaded } from "../hosts/threads.js";
import { buildZstd, nativeZstd, zstdCorpus, type NativeZstd, type ZstdBuild } from "../scripts/build-zstd.js";
import { nativeFrame, zstdSkipReason } from "./helpers/zstd.js";
import { repoRoot } from "./helpers/cli.js";

const reason = zstdSkipReason();
if (reason) console.warn(`\n*** ZSTD THREADS TEST SKIPPED: ${reason} ***\n`);

const CORPUS_BYTES = 4 << 20;
const JOB = ["-B1048576"];

describe.skipIf(reason !== "")("zstd with threads on runThreaded: the native build's bytes at -T1, -T2, -T4", () => {
  let build: ZstdBuild;
  let native: NativeZstd;
  let work: string;
  const corpus = zstdCorpus(CORPUS_BYTES);
  const nativeOutputs = new Map<string, Buffer>();
  /** Native zstd's frame for `args`, once per set of arguments. */
  const nativeCompress = (args: string[]): Buffer => {
    const key = args.join(" ");
    const frame = nativeOutputs.get(key) ?? nativeFrame(native, work, args);
    nativeOutputs.set(key, frame);
    return frame;
  };
  /** The wasm zstd on runThreaded with /w preopened as the work folder. */
  const runWasm = async (args: string[], pageSize: number) => {
    const started = performance.now();
    const result = await runThreaded(readFileSync(build.wasm), {
      host: "node-wasi",
      args: ["zstd", "-q", "--no-asyncio", ...args],
      preopens: { "/w": work },
      mman: { pageSize },
    });
    return { ...result, milliseconds: performance.now() - started };
  };

  beforeAll(async () => {
    build = await buildZstd("threads");
    native = await nativeZstd();
    work = mkdtempSync(join(tmpdir(), "wasi-mman-zstd-threads-"));
    writeFileSync(join(work, "in"), corpus);
    console.log(`zstd ${build.debianVersion} -pthread: reference is the ${native.how} ${native.path}`);
  }, 600_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the reference: -T1, -T2 and -T4 write one frame, which --single-thread does not", () => {
    const one = nativeCompress(["-3", "-T1", ...JOB]);
    expect(nativeCompress(["-3", "-T2", ...JOB]).equals(one)).toBe(true);
    expect(nativeCompress(["-3", "-T4", ...JOB]).equals(one)).toBe(true);
    expect(nativeCompress(["-3", "--single-thread", ...JOB]).equals(one)).toBe(false);
    expect(one.length).toBeGreaterThan(CORPUS_BYTES / 8);
    expect(one.length).toBeLessThan(CORPUS_BYTES / 2);
  });

  for (const pageSize of [4096, 65536]) {
    for (const workers of [1, 2, 4]) {
      test(`-T${workers} at ${pageSize / 1024} KiB pages: the native bytes, from ${workers} spawned thread${workers > 1 ? "s" : ""}`, async () => {
        const args = ["-3", `-T${workers}`, ...JOB];
        const name = `T${workers}-${pageSize}.zst`;
        const run = await runWasm([...args, "-f", "/w/in", "-o", `/w/${name}`], pageSize);
        console.log(`zstd -3 -T${workers} -B1MiB, 4 MiB, ${pageSize / 1024} KiB pages: ${run.milliseconds.toFixed(0)} ms, ${run.threadsSpawned} threads`);
        expect(run.trap).toBeNull();
        expect(run.exitCode).toBe(0);
        // zstd's pool starts one thread per worker (programs/fileio_asyncio.c starts none here).
        expect(run.threadsSpawned).toBe(workers);
        expect(readFileSync(join(work, name)).equals(nativeCompress(args))).toBe(true);
        run.mman?.checkInvariants();
        expect(run.mman?.stats().calls.mmap).toBeGreaterThan(workers);
      }, 60_000);
    }
  }

  test("the threaded build decompresses its frame back to the corpus", async () => {
    writeFileSync(join(work, "frame.zst"), nativeCompress(["-3", "-T2", ...JOB]));
    const run = await runWasm(["-d", "-f", "/w/frame.zst", "-o", "/w/back"], 4096);
    expect(run.exitCode).toBe(0);
    expect(readFileSync(join(work, "back")).equals(Buffer.from(corpus))).toBe(true);
  }, 60_000);

  test("wasi-mman run, asynchronous I/O on stdin and stdout (-T2): the native bytes", async () => {
    const input = openSync(join(work, "in"), "r");
    const output = openSync(join(work, "stdout.zst"), "w");
    const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", "run", "--page-size", "4k", build.wasm, "--", "-q", "-f", "-3", "-T2", ...JOB, "-c"], {
      cwd: repoRoot,
      stdio: [input, output, "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    closeSync(input);
    closeSync(output);
    expect(stderr.replace(/^.*ExperimentalWarning.*\n.*--trace-warnings.*\n/gm, "")).toBe("");
    expect(code).toBe(0);
    // Read from a pipe-like stdin, zstd does not know the size: its frame is the native one for stdin too.
    const expected = spawnSync(native.path, ["-q", "-3", "-T2", ...JOB, "-c"], { input: corpus, maxBuffer: 64 << 20 }).stdout;
    expect(readFileSync(join(work, "stdout.zst")).equals(expected)).toBe(true);
  }, 60_000);
});
