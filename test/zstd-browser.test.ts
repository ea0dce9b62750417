/**
 * The real multi-threaded program in the browser: zstd 1.5.4 with its multithreading
 * (scripts/build-zstd.ts, `wasi-mman cc -pthread`) on runThreadedInBrowser in headless
 * Chromium (Debian's, over the DevTools pipe: helpers/chromium.ts), one Web Worker per thread,
 * writes exactly the frame that zstd built natively from the same source writes, at 4 and
 * 64 KiB pages. The corpus is a preopened file (zstd then knows its size, as the native run
 * does); --no-asyncio keeps the file reads on the main thread, whose descriptor table holds it
 * (docs/threads.md, "Files"); the frame comes back through stdout as bytes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { serveDemo, type DemoServer } from "../cli/demo-server.js";
import { buildDemo } from "../scripts/build-demo.js";
import { buildZstd, nativeZstd, zstdCorpus, type NativeZstd, type ZstdBuild } from "../scripts/build-zstd.js";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";
import { repoRoot } from "./helpers/cli.js";
import { libraryPage } from "./helpers/library-page.js";
import { nativeFrame, zstdSkipReason } from "./helpers/zstd.js";

const reason = !available ? `no Chromium at ${CHROMIUM}` : zstdSkipReason();
if (reason) console.warn(`\n*** ZSTD IN CHROMIUM SKIPPED: ${reason} ***\n`);

const CORPUS_BYTES = 4 << 20;
/** Four 1 MiB jobs, so that -T2 and -T4 have jobs to run side by side. */
const JOB = "-B1048576";

const PAGE = libraryPage("zstd");

interface PageRun {
  exitCode: number;
  trap: string | null;
  threadsSpawned: number;
  stderr: string;
  /** The frame zstd wrote to stdout, base64. */
  frame: string;
  invariants: string;
  mmapCalls: number;
  ms: number;
}

/** Runs zstd in the page on the served corpus; the frame comes back as base64. */
function inPage(args: string[], pageSize: number): string {
  return `(async () => {
    const [bytes, corpus] = await Promise.all(["zstd.wasm", "corpus"].map(async (name) => new Uint8Array(await (await fetch(name)).arrayBuffer())));
    const started = performance.now();
    const r = await wasiMman.runThreadedInBrowser(bytes, { args: ${JSON.stringify(["zstd", "-q", "--no-asyncio", "-c", ...args, "/w/in"])}, preopens: { "/w": { in: corpus } }, mman: { pageSize: ${pageSize} } });
    const ms = performance.now() - started;
    let invariants = "ok";
    try { r.mman.checkInvariants(true); } catch (error) { invariants = String(error); }
    let binary = "";
    for (let at = 0; at < r.stdoutBytes.length; at += 0x8000) binary += String.fromCharCode(...r.stdoutBytes.subarray(at, at + 0x8000));
    return { exitCode: r.exitCode, trap: r.trap, threadsSpawned: r.threadsSpawned, stderr: r.stderr, frame: btoa(binary), invariants, mmapCalls: r.mman.stats().calls.mmap, ms };
  })()`;
}

describe.skipIf(reason !== "")("zstd with threads in Chromium: the native build's bytes", () => {
  let build: ZstdBuild;
  let native: NativeZstd;
  let work: string;
  let server: DemoServer;
  let browser: Chromium;
  const pageDir = join(repoRoot, ".cache", "browser-test", "zstd");

  beforeAll(async () => {
    build = await buildZstd("threads");
    native = await nativeZstd();
    work = mkdtempSync(join(tmpdir(), "wasi-mman-zstd-browser-"));
    const corpus = zstdCorpus(CORPUS_BYTES);
    writeFileSync(join(work, "in"), corpus);
    await buildDemo(pageDir, { assemblyScript: false });
    mkdirSync(pageDir, { recursive: true });
    writeFileSync(join(pageDir, "zstd.wasm"), readFileSync(build.wasm));
    writeFileSync(join(pageDir, "corpus"), corpus);
    writeFileSync(join(pageDir, "zstd.html"), PAGE);
    server = await serveDemo(pageDir, 0);
    browser = await Chromium.launch();
    const ready = await browser.runPage<{ status: string; isolated: boolean }>(`${server.url}zstd.html`);
    expect(ready).toEqual({ status: "ready", isolated: true });
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const [threads, pageSize] of [
    [2, 4096],
    [4, 65536],
  ] as const) {
    test(`-T${threads} at ${pageSize / 1024} KiB pages: ${threads} Web Workers besides _start's, the native frame`, async () => {
      const args = ["-3", `-T${threads}`, JOB];
      const expected = nativeFrame(native, work, args);
      const result = await browser.evaluate<PageRun>(inPage(args, pageSize));
      expect(browser.problems, "errors on the page").toEqual([]);
      expect([result.exitCode, result.trap, result.stderr, result.invariants]).toEqual([0, null, "", "ok"]);
      expect(result.threadsSpawned).toBe(threads);
      const frame = Buffer.from(result.frame, "base64");
      expect(frame.length).toBe(expected.length);
      expect(frame.equals(expected)).toBe(true);
      console.log(`Chromium: zstd -3 -T${threads} on ${CORPUS_BYTES >> 20} MiB at ${pageSize / 1024} KiB pages in ${result.ms.toFixed(0)} ms, ${result.mmapCalls} mmap calls, ${frame.length} bytes as native`);
    });
  }
});
