/**
 * zstd 1.5.4's command-line program (Debian source package zstd), built without threads by
 * scripts/build-zstd.ts with `wasi-mman cc` (mallocng on the memory calls), compresses a
 * deterministic 4 MiB corpus under browser_wasi_shim into exactly the bytes that zstd built
 * natively from the same source writes, and decompresses it back, at 4 and 64 KiB pages.
 *
 * The native reference runs with --single-thread: a build without ZSTD_MULTITHREAD always
 * compresses in one pass (nbWorkers 0), and a multithreaded zstd cuts its frame differently
 * even with one worker, so -T1 is not the same bytes (test/zstd-threads.test.ts compares those).
 * Files are in memory (the shim's PreopenDirectory): node:wasi in Node 20 can crash at exit
 * after many memory.grow calls (docs/c.md, "Known limits").
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleStdout, File, OpenFile, PreopenDirectory } from "@bjorn3/browser_wasi_shim";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { runWithShim } from "../hosts/shim.js";
import type { Mman } from "../syscalls/create-mman.js";
import { buildZstd, nativeZstd, zstdCorpus, type NativeZstd, type ZstdBuild } from "../scripts/build-zstd.js";
import { nativeFrame, zstdSkipReason } from "./helpers/zstd.js";

const reason = zstdSkipReason();
if (reason) console.warn(`\n*** ZSTD TEST SKIPPED: ${reason} ***\n`);

const CORPUS_BYTES = 4 << 20;

interface ZstdRun {
  exitCode: number | null;
  stderr: string;
  /** The files of the preopened /w after the run. */
  files: Map<string, Uint8Array>;
  mman: Mman;
}

/** Runs the wasm zstd with `args` on /w, a preopened directory holding `files`. */
async function runWasmZstd(wasm: string, args: string[], files: Record<string, Uint8Array>, pageSize: number): Promise<ZstdRun> {
  const dir = new PreopenDirectory("/w", new Map(Object.entries(files).map(([name, data]) => [name, new File(data)])));
  let stderr = "";
  const result = await runWithShim(readFileSync(wasm), {
    args: ["zstd", ...args],
    fds: [new OpenFile(new File([])), ConsoleStdout.lineBuffered((line) => console.log(line)), ConsoleStdout.lineBuffered((line) => (stderr += `${line}\n`)), dir],
    mman: { pageSize },
  });
  const out = new Map<string, Uint8Array>();
  for (const [name, inode] of dir.dir.contents) if (inode instanceof File) out.set(name, inode.data);
  return { exitCode: result.exitCode, stderr, files: out, mman: result.mman };
}

describe.skipIf(reason !== "")("zstd without threads: the wasm build writes the native build's bytes", () => {
  let build: ZstdBuild;
  let native: NativeZstd;
  let work: string;
  const corpus = zstdCorpus(CORPUS_BYTES);
  const nativeCompress = (args: string[]): Buffer => nativeFrame(native, work, args);

  beforeAll(async () => {
    build = await buildZstd("single");
    native = await nativeZstd();
    console.log(`zstd ${build.debianVersion}: reference is the ${native.how} ${native.path}`);
    work = mkdtempSync(join(tmpdir(), "wasi-mman-zstd-"));
    writeFileSync(join(work, "in"), corpus);
  }, 600_000);
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the corpus is what it claims: 4 MiB of text that compresses, the same every time", () => {
    expect(corpus.length).toBe(CORPUS_BYTES);
    expect(Buffer.from(zstdCorpus(CORPUS_BYTES)).equals(Buffer.from(corpus))).toBe(true);
    expect(new TextDecoder().decode(corpus.subarray(0, 200))).toMatch(/^[a-z0-9 \n]+$/);
  });

  for (const pageSize of [4096, 65536]) {
    test(`level 3 at ${pageSize / 1024} KiB pages: the same bytes as native zstd, and back`, async () => {
      const expected = nativeCompress(["--single-thread", "-3"]);
      // A frame of this corpus, not an empty or stored one.
      expect(expected.length).toBeGreaterThan(CORPUS_BYTES / 8);
      expect(expected.length).toBeLessThan(CORPUS_BYTES / 2);

      const packed = await runWasmZstd(build.wasm, ["-q", "-3", "/w/in", "-o", "/w/in.zst"], { in: corpus }, pageSize);
      expect(packed.stderr).toBe("");
      expect(packed.exitCode).toBe(0);
      expect(Buffer.from(packed.files.get("in.zst") ?? []).equals(expected)).toBe(true);
      // zstd's buffers came from mallocng on the layer's mmap, and were given back.
      packed.mman.checkInvariants();
      const { calls } = packed.mman.stats();
      expect(calls.mmap).toBeGreaterThan(3);
      expect(calls.munmap).toBeGreaterThan(3);

      const unpacked = await runWasmZstd(build.wasm, ["-q", "-d", "/w/in.zst", "-o", "/w/back"], { "in.zst": expected }, pageSize);
      expect(unpacked.exitCode).toBe(0);
      expect(Buffer.from(unpacked.files.get("back") ?? []).equals(Buffer.from(corpus))).toBe(true);
      unpacked.mman.checkInvariants();
    }, 60_000);
  }

  test("level 12 (lazy2 over a binary tree, a larger window): the same bytes as native zstd", async () => {
    const expected = nativeCompress(["--single-thread", "-12"]);
    const packed = await runWasmZstd(build.wasm, ["-q", "-12", "/w/in", "-o", "/w/in.zst"], { in: corpus }, 4096);
    expect(packed.exitCode).toBe(0);
    expect(Buffer.from(packed.files.get("in.zst") ?? []).equals(expected)).toBe(true);
    packed.mman.checkInvariants();
  }, 60_000);

  test("a frame written by native zstd decompresses to the corpus; a damaged one is an error, not a crash", async () => {
    const frame = nativeCompress(["--single-thread", "-1"]);
    const good = await runWasmZstd(build.wasm, ["-q", "-d", "/w/in.zst", "-o", "/w/back"], { "in.zst": frame }, 4096);
    expect(good.exitCode).toBe(0);
    expect(Buffer.from(good.files.get("back") ?? []).equals(Buffer.from(corpus))).toBe(true);

    const damaged = Uint8Array.from(frame);
    damaged[damaged.length >> 1] ^= 0xff;
    const bad = await runWasmZstd(build.wasm, ["-q", "-d", "/w/in.zst", "-o", "/w/back"], { "in.zst": damaged }, 4096);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/in\.zst/);
    bad.mman.checkInvariants();
  }, 60_000);
});
