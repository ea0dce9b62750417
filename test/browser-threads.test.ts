// Threads in the browser.
//
//   1. The demo server (cli/demo-server.ts) sends COOP same-origin, COEP require-corp and CORP
//      same-origin on every response, 404s and /user/<name> included (plain HTTP, no browser).
//   2. In headless Chromium (Debian's, over the DevTools pipe, test/helpers/chromium.ts): the
//      page is crossOriginIsolated, and runThreadedInBrowser (hosts/threads-browser.ts, from the
//      built wasi-mman.js, its workers from the built thread-worker.js) runs the fixtures of
//      fixtures/threads/, compiled here with wabt and served next to the page:
//        spawn-join.wat      4 threads, tids unique and positive, "joined 4" collected from fd 1
//        exit-in-thread.wat  proc_exit(7) in a thread ends the process with 7
//        trap-in-thread.wat  a trap in a thread ends it with 134
//        wait-loop.wat       100,000 waits counted in locals (Node 20's Liftoff lost them; Chromium
//                            runs every tier as it is)
//        stdio-in-thread.wat a thread reads the run's stdin and a preopened file, writes fd 1 and 2
//        mmap-threads.wat    4 threads map and unmap at once through the `mman` imports, at
//                            4 KiB and 64 KiB pages: the page checks that no two live mappings
//                            overlap, every byte kept its thread's tag, the engine's invariants;
//                            "thread N done" from every thread reaches the page
//        mman-churn.wat      mmap, munmap, mremap and brk from 4 threads, checked in Node by
//                            test/helpers/mman-churn.ts (the oracle of the Node test,
//                            threads-abi.test.ts) on the state the page sends back
//      while a timer on the page keeps ticking (the page thread is never blocked);
//   3. C: fixtures/c-threads/pthread-alloc.c (4 and 64 KiB pages) and pthread-api.c, built with
//      `wasi-mman cc -pthread`, print in the page exactly what runThreaded prints for them in
//      Node (test/c-threads-runner.ts); their wasi_thread_start is not wasm-ld's wrapper;
//   4. the same page served without COOP and COEP: runThreadedInBrowser refuses with the reason.
//
// Skips the Chromium part with one loud line when Chromium is missing.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISOLATION_HEADERS, serveDemo, type DemoServer } from "../cli/demo-server.js";
import { libraryPage } from "./helpers/library-page.js";
import { compileProgram } from "../cli/cc.js";
import { compileWat } from "../cli/wat.js";
import { cToolchainStatus } from "../scripts/build-c.js";
import { buildDemo } from "../scripts/build-demo.js";
import type { Mman } from "../syscalls/create-mman.js";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";
import { RESULT_MARK, type RunnerResult } from "./c-threads-runner.js";
import { checkChurn, churnFailure } from "./helpers/mman-churn.js";

const root = join(import.meta.dirname, "..");
if (!available) console.warn(`\n*** SKIPPED Chromium thread tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH) ***\n`);

/** One GET: status and headers. */
function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    request(url, (response) => {
      response.resume();
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    })
      .on("error", reject)
      .end();
  });
}

describe("the demo server", () => {
  let dir: string;
  let server: DemoServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wasi-mman-serve-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(join(dir, "a.js"), "export {};");
    server = await serveDemo(dir, 0, { name: "prog.wasm", bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends COOP, COEP and CORP with every response (page, script, user module, 404)", async () => {
    expect(ISOLATION_HEADERS).toEqual({
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cross-origin-resource-policy": "same-origin",
    });
    const seen: Record<string, number> = {};
    for (const path of ["", "a.js", "user/prog.wasm", "missing.js"]) {
      const { status, headers } = await get(`${server.url}${path}`);
      seen[path] = status;
      expect(headers["cross-origin-opener-policy"], path).toBe("same-origin");
      expect(headers["cross-origin-embedder-policy"], path).toBe("require-corp");
      expect(headers["cross-origin-resource-policy"], path).toBe("same-origin");
    }
    expect(seen).toEqual({ "": 200, "a.js": 200, "user/prog.wasm": 200, "missing.js": 404 });
  });
});

const THREAD_FEATURES = { bulk_memory: true, mutable_globals: true, sign_extension: true, multi_value: true, threads: true };
const FIXTURES = ["spawn-join", "exit-in-thread", "trap-in-thread", "wait-loop", "stdio-in-thread", "mmap-threads", "mman-churn"];

/** The page: the built library as window.wasiMman, then a status for Chromium.runPage. */
const PAGE = libraryPage("threads");

interface PageRun {
  exitCode: number;
  trap: string | null;
  threadsSpawned: number;
  stdout: string;
  stderr: string;
  /** What onStdout and onStderr were called with, joined. */
  streamed: { stdout: string; stderr: string };
  /** The first 1024 i32 words of the shared memory after the run. */
  words: number[];
  ms: number;
  /** Ticks of a 10 ms timer on the page during the run, and the longest gap between two. */
  ticks: number;
  longestGapMs: number;
  /** For a module that imports `mman`: the engine's deep invariant check ("ok" or the error) and its call tallies. */
  invariants?: string;
  calls?: Record<string, number>;
  /** mmap-threads only: what the page found in the memory and the engine. */
  mappings?: { live: number; overlaps: number; kept: number; outsideEngine: number; invariantError: string | null; pageSize: number };
  /** mman-churn only: the engine's view and the memory it covers, for the oracle in Node. */
  snapshot?: Snapshot;
}

/**
 * What the page sends back for a check in Node: the engine's mappings and statistics, its deep
 * invariant check, and the 32-bit words of memory below the break and in every mapping, as
 * runs of equal words (a mapping whose every word is one tag is one run).
 */
interface Snapshot {
  linearMemoryBytes: number;
  mappings: ReturnType<Mman["mappings"]>;
  stats: ReturnType<Mman["stats"]>;
  invariantError: string | null;
  ranges: { start: number; runs: [number, number][] }[];
}

/** The memory and an engine with the page's answers, in the shape checkChurn reads. */
function fromSnapshot(snapshot: Snapshot): { memory: WebAssembly.Memory; mman: Mman } {
  const buffer = new ArrayBuffer(snapshot.linearMemoryBytes);
  const words = new Uint32Array(buffer);
  for (const { start, runs } of snapshot.ranges) {
    let at = start >>> 2;
    for (const [value, count] of runs) {
      words.fill(value, at, at + count);
      at += count;
    }
  }
  const mman = {
    mappings: () => snapshot.mappings,
    stats: () => snapshot.stats,
    checkInvariants: () => {
      if (snapshot.invariantError !== null) throw new Error(snapshot.invariantError);
    },
  };
  return { memory: { buffer } as WebAssembly.Memory, mman: mman as unknown as Mman };
}

/** Runs threads/<name>.wasm in the page with runThreadedInBrowser; the checks of the mappings are made there. */
function inPage(name: string, options: Record<string, unknown>): string {
  return `(async () => {
    const bytes = await (await fetch("threads/${name}.wasm")).arrayBuffer();
    let ticks = 0, last = performance.now(), longestGapMs = 0;
    const timer = setInterval(() => { const now = performance.now(); longestGapMs = Math.max(longestGapMs, now - last); last = now; ticks++; }, 10);
    const started = performance.now();
    const streamed = { stdout: "", stderr: "" };
    const options = { ...${JSON.stringify(options)}, onStdout: (text) => (streamed.stdout += text), onStderr: (text) => (streamed.stderr += text) };
    const r = await wasiMman.runThreadedInBrowser(bytes, options);
    const ms = performance.now() - started;
    clearInterval(timer);
    const w = new Int32Array(r.memory.buffer);
    const out = { exitCode: r.exitCode, trap: r.trap, threadsSpawned: r.threadsSpawned, stdout: r.stdout, stderr: r.stderr, streamed, words: Array.from(w.subarray(0, 1024)), ms, ticks, longestGapMs };
    if (r.mman !== null) {
      out.calls = r.mman.stats().calls;
      try { r.mman.checkInvariants(true); out.invariants = "ok"; } catch (error) { out.invariants = String(error); }
    }
    if (${JSON.stringify(name)} === "mmap-threads") {
      // Each thread's ring: 8 slots of (address, length, tag) at 1024 + 128 * thread.
      const bytes8 = new Uint8Array(r.memory.buffer);
      const pageSize = r.mman.pageSize;
      const live = [];
      for (let t = 0; t < 4; t++) for (let s = 0; s < 8; s++) {
        const at = (1024 + 128 * t + 16 * s) / 4;
        if (w[at + 1] !== 0) live.push({ address: w[at] >>> 0, length: w[at + 1], tag: w[at + 2] });
      }
      live.sort((a, b) => a.address - b.address);
      let overlaps = 0;
      for (let i = 1; i < live.length; i++) {
        const before = live[i - 1];
        if (before.address + Math.ceil(before.length / pageSize) * pageSize > live[i].address) overlaps++;
      }
      const kept = live.filter((m) => bytes8.subarray(m.address, m.address + m.length).every((b) => b === m.tag)).length;
      const engine = r.mman.mappings();
      const outsideEngine = live.filter((m) => !engine.some((e) => e.address <= m.address && m.address + m.length <= e.address + e.length)).length;
      let invariantError = null;
      try { r.mman.checkInvariants(true); } catch (error) { invariantError = String(error); }
      out.mappings = { live: live.length, overlaps, kept, outsideEngine, invariantError, pageSize };
    }
    if (${JSON.stringify(name)} === "mman-churn") {
      const words = new Uint32Array(r.memory.buffer);
      const stats = r.mman.stats();
      const mappings = r.mman.mappings();
      const runsOf = (start, end) => {
        const runs = [];
        for (let at = start >>> 2; at < end >>> 2; ) {
          let next = at + 1;
          while (next < end >>> 2 && words[next] === words[at]) next++;
          runs.push([words[at], next - at]);
          at = next;
        }
        return { start, runs };
      };
      let invariantError = null;
      try { r.mman.checkInvariants(true); } catch (error) { invariantError = String(error); }
      out.snapshot = { linearMemoryBytes: stats.linearMemoryBytes, mappings, stats, invariantError, ranges: [runsOf(0, stats.brk), ...mappings.map((m) => runsOf(m.address, m.address + m.length))] };
    }
    return out;
  })()`;
}

const pageDir = join(root, ".cache", "browser-test", "threads");

const toolchain = cToolchainStatus();
if (available && !toolchain.ok) console.warn(`\n*** SKIPPED Chromium C thread tests: ${toolchain.reason} ***\n`);

/**
 * True when the module's wasi_thread_start calls something before it sets the thread's stack
 * pointer. thread-start.s begins by loading the stack top into __stack_pointer; wasm-ld's
 * wrapper of a command's exports (LLVM D81689), or the wrapper inlined, calls
 * __wasm_call_ctors first and __wasm_call_dtors (__stdio_exit) after. With Debian's
 * crt1-command.o, which calls no constructors itself, every -pthread build had that wrapper,
 * and an ending thread flushed main's stdout while main wrote to it (text printed twice in
 * about half of the Chromium runs of pthread-api.c); guest/c/threads/crt/crt1-command.c
 * ended it. `bytes` must own its ArrayBuffer: wabt reads all of it, so a pooled Buffer from
 * readFileSync would hand it other files' bytes too.
 */
async function threadStartIsWrapped(bytes: Uint8Array): Promise<boolean> {
  const wabt = await (await import("wabt")).default();
  const module = wabt.readWasm(bytes, { readDebugNames: true, ...THREAD_FEATURES });
  try {
    module.generateNames();
    module.applyNames();
    const text = module.toText({});
    const exported = /\(export "wasi_thread_start" \(func (\S+)\)\)/.exec(text)?.[1];
    if (exported === undefined) throw new Error("the module exports no wasi_thread_start");
    const body = text.slice(text.indexOf(`(func ${exported} `)).split("\n").slice(1).map((line) => line.trim());
    const first = body.find((line) => !line.startsWith("(local"));
    return first?.startsWith("call ") ?? false;
  } finally {
    module.destroy();
  }
}

/** The C programs of fixtures/c-threads/ the page runs, each at these page sizes, and a line each must print. */
const C_PROGRAMS: { name: string; pageSizes: number[]; line: RegExp }[] = [
  { name: "pthread-alloc", pageSizes: [4096, 65536], line: /^counter=250 expected=250$/m },
  { name: "pthread-api", pageSizes: [4096], line: /^last thread: done after main's pthread_exit$/m },
];

/** The program's stdout under runThreaded in Node, from a child process (the workers write fd 1 themselves). */
async function nodeStdout(wasm: string, pageSize: number): Promise<{ stdout: string; result: RunnerResult }> {
  const outPath = `${wasm}.${pageSize}.node-stdout`;
  const out = openSync(outPath, "w");
  let stderr = "";
  try {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "test", "c-threads-runner.ts"), "shim", String(pageSize), wasm], { stdio: ["ignore", out, "pipe"], timeout: 60_000 });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    await new Promise((resolve, reject) => child.on("error", reject).on("close", resolve));
  } finally {
    closeSync(out);
  }
  const mark = stderr.split("\n").find((line) => line.startsWith(RESULT_MARK));
  if (mark === undefined) throw new Error(`c-threads-runner reported nothing: ${stderr}`);
  return { stdout: readFileSync(outPath, "utf8"), result: JSON.parse(mark.slice(RESULT_MARK.length)) as RunnerResult };
}
let pageServer: DemoServer;
let browser: Chromium;

/** The built library and worker, the page and the compiled fixtures, in pageDir. */
async function buildPage(): Promise<void> {
  await buildDemo(pageDir, { assemblyScript: false });
  mkdirSync(join(pageDir, "threads"), { recursive: true });
  for (const name of FIXTURES) {
    const text = readFileSync(join(root, "fixtures", "threads", `${name}.wat`), "utf8");
    writeFileSync(join(pageDir, "threads", `${name}.wasm`), await compileWat(text, `${name}.wat`, THREAD_FEATURES));
  }
  writeFileSync(join(pageDir, "threads.html"), PAGE);
}

describe.skipIf(!available)("in headless Chromium", () => {
  beforeAll(async () => {
    await buildPage();
    pageServer = await serveDemo(pageDir, 0);
    browser = await Chromium.launch();
    const ready = await browser.runPage<{ status: string; isolated: boolean }>(`${pageServer.url}threads.html`);
    expect(ready).toEqual({ status: "ready", isolated: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await pageServer?.close();
  });

  const run = async (name: string, options: Record<string, unknown> = {}): Promise<PageRun> => {
    const result = await browser.evaluate<PageRun>(inPage(name, options));
    expect(browser.problems, "errors on the page").toEqual([]);
    // onStdout and onStderr saw every write the result holds, in the same order.
    expect(result.streamed).toEqual({ stdout: result.stdout, stderr: result.stderr });
    // The page's timer kept running while the guest threads worked (generous: the machine is shared).
    expect(result.longestGapMs, `the page thread stalled (${result.ticks} ticks in ${result.ms.toFixed(0)} ms)`).toBeLessThan(500);
    return result;
  };

  describe("runThreadedInBrowser, cross-origin isolated", () => {

    it("spawn-join.wat: 4 threads in Web Workers, each with the tid thread-spawn returned, unique and positive; fd 1 reaches the page", async () => {
      const result = await run("spawn-join", { args: ["spawn-join"] });
      expect([result.exitCode, result.trap, result.threadsSpawned]).toEqual([0, null, 4]);
      const returned = result.words.slice(4, 8);
      expect(result.words.slice(16, 20)).toEqual(returned);
      expect(new Set(returned).size).toBe(4);
      for (const tid of returned) expect(tid).toBeGreaterThan(0);
      expect([result.stdout, result.stderr]).toEqual(["joined 4\n", ""]);
      console.log(`Chromium: 4 threads spawned and joined in ${result.ms.toFixed(0)} ms (workers included)`);
    });

    it("exit-in-thread.wat: proc_exit(7) in a thread ends every thread with 7", async () => {
      const result = await run("exit-in-thread");
      expect([result.exitCode, result.trap, result.threadsSpawned]).toEqual([7, null, 1]);
    });

    it("trap-in-thread.wat: a trap in a thread ends every thread with 134", async () => {
      const result = await run("trap-in-thread");
      expect(result.exitCode).toBe(134);
      expect(result.trap).toMatch(/RuntimeError: unreachable/);
    });

    it("wait-loop.wat: locals live across memory.atomic.wait32 in a loop keep their values, in _start and in a thread", async () => {
      const result = await run("wait-loop");
      expect(result.exitCode).toBe(0);
      expect(result.words.slice(1, 4)).toEqual([100000, 100000, 1]);
    });

    it("a worker script that does not load ends the process with 134, saying which script", async () => {
      const result = await run("spawn-join", { workerUrl: "/no-such-worker.js" });
      expect([result.exitCode, result.threadsSpawned]).toEqual([134, 0]);
      expect(result.trap).toContain("no-such-worker.js");
    });

    it("stdio-in-thread.wat: a spawned thread reads stdin and a preopened file of its own; its fd 1 and fd 2 reach the page", async () => {
      const result = await run("stdio-in-thread", { stdin: "from stdin\n", preopens: { "/data": { "in.txt": "from in.txt\n" } } });
      expect([result.exitCode, result.trap, result.threadsSpawned]).toEqual([0, null, 1]);
      expect([result.stdout, result.stderr]).toEqual(["from stdin\nfrom in.txt\n", "err\n"]);
      // Without the file the thread's path_open fails, and the thread traps.
      const without = await run("stdio-in-thread", { stdin: "x" });
      expect([without.exitCode, without.trap?.split(":")[0]]).toEqual([134, "RuntimeError"]);
    });

    it.each([4096, 65536])("mmap-threads.wat at %i-byte pages: 4 threads map and unmap at once; no mapping overlaps another, every byte is kept", async (pageSize) => {
      const result = await run("mmap-threads", { args: ["mmap-threads"], mman: { pageSize } });
      expect([result.exitCode, result.trap, result.threadsSpawned]).toEqual([0, null, 4]);
      // words[0]: threads done; words[1]: errors the threads saw (a failed call, a fresh mapping
      // not zero, a mapping that lost its tag before it was unmapped).
      expect(result.words.slice(0, 2)).toEqual([4, 0]);
      expect(result.mappings).toEqual({ live: 32, overlaps: 0, kept: 32, outsideEngine: 0, invariantError: null, pageSize });
      expect(result.stdout.split("\n").sort()).toEqual(["", "all done", "thread 0 done", "thread 1 done", "thread 2 done", "thread 3 done"]);
      console.log(`Chromium: mmap-threads at ${pageSize / 1024} KiB pages in ${result.ms.toFixed(0)} ms; page timer ${result.ticks} ticks, longest gap ${result.longestGapMs.toFixed(0)} ms`);
    });

    it.each([4096, 65536])("mman-churn.wat at %i-byte pages: mmap, munmap, mremap and brk from 4 threads pass the Node test's checks", async (pageSize) => {
      const result = await run("mman-churn", { args: ["mman-churn"], mman: { pageSize } });
      const { memory, mman } = fromSnapshot(result.snapshot as Snapshot);
      expect(churnFailure(memory)).toBeNull();
      expect([result.exitCode, result.trap, result.threadsSpawned]).toEqual([0, null, 4]);
      const figures = checkChurn(memory, mman);
      expect(figures.calls.mmap).toBeGreaterThan(1000);
      expect(figures.calls.mremap).toBeGreaterThan(1000);
      console.log(
        `Chromium, ${pageSize / 1024} KiB pages: ${figures.calls.mmap} mmap, ${figures.calls.munmap} munmap, ${figures.calls.mremap} mremap, ${figures.calls.brk} brk ` +
          `from 4 threads in ${result.ms.toFixed(0)} ms, ${figures.mostRunning} at once; ${figures.mappings} mappings live; page timer's longest gap ${result.longestGapMs.toFixed(0)} ms`,
      );
    });
  });

  describe.skipIf(!toolchain.ok)("C pthread programs (wasi-mman cc -pthread)", () => {
    const node = new Map<string, { stdout: string; result: RunnerResult }>();
    beforeAll(async () => {
      // The first -pthread build anywhere builds the posix wasi-libc (a minute or two, once).
      for (const { name } of C_PROGRAMS) {
        const wasm = join(pageDir, "threads", `${name}.wasm`);
        await compileProgram({ malloc: "mallocng", output: wasm, args: ["-pthread", "-O2", join(root, "fixtures", "c-threads", `${name}.c`)] });
      }
      const runs = C_PROGRAMS.flatMap(({ name, pageSizes }) => pageSizes.map((pageSize) => ({ key: `${name} ${pageSize}`, wasm: join(pageDir, "threads", `${name}.wasm`), pageSize })));
      const outputs = await Promise.all(runs.map(({ wasm, pageSize }) => nodeStdout(wasm, pageSize)));
      runs.forEach(({ key }, i) => node.set(key, outputs[i]));
    }, 600_000);

    it("the build's wasi_thread_start is not wrapped in constructor and destructor calls", async () => {
      // The check itself: a hand-written wasi_thread_start is not taken for a wrapper.
      expect(await threadStartIsWrapped(new Uint8Array(readFileSync(join(pageDir, "threads", "spawn-join.wasm"))))).toBe(false);
      for (const { name } of C_PROGRAMS) expect(await threadStartIsWrapped(new Uint8Array(readFileSync(join(pageDir, "threads", `${name}.wasm`)))), name).toBe(false);
    });

    for (const { name, pageSizes, line } of C_PROGRAMS) {
      it.each(pageSizes)(`${name}.c at %i-byte pages prints in the page exactly what runThreaded prints for it in Node`, async (pageSize) => {
        const reference = node.get(`${name} ${pageSize}`) as { stdout: string; result: RunnerResult };
        const threads = reference.result.threadsSpawned;
        expect([reference.result.exitCode, reference.result.invariants]).toEqual([0, "ok"]);
        expect(threads).toBeGreaterThanOrEqual(4);
        const result = await run(name, { args: [`${name}.wasm`], mman: { pageSize } });
        expect([result.exitCode, result.trap, result.threadsSpawned, result.invariants, result.stderr]).toEqual([0, null, threads, "ok", ""]);
        expect(result.stdout).toMatch(line);
        expect(result.stdout).toBe(reference.stdout);
        // Every thread's stack, TLS and struct is one mapping (pthread-alloc also maps musl's
        // blocks of 128 KiB and more).
        expect(result.calls?.mmap).toBeGreaterThanOrEqual(threads);
        console.log(`Chromium: ${name}.c at ${pageSize / 1024} KiB pages in ${result.ms.toFixed(0)} ms, ${threads} threads, ${result.calls?.mmap} mmap, output as in Node (${result.stdout.length} bytes)`);
      });
    }
  });

  describe("a page that is not cross-origin isolated", () => {
    let plain: Server;
    let plainUrl: string;
    let other: Chromium;
    beforeAll(async () => {
      // The same built page, served with no headers at all.
      plain = createServer((req, res) => {
        const name = new URL(req.url ?? "/", "http://localhost").pathname.slice(1);
        const type = name.endsWith(".html") ? "text/html" : "text/javascript";
        let body: Buffer;
        try {
          body = readFileSync(join(pageDir, name));
        } catch {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": type }).end(body);
      });
      await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
      const address = plain.address();
      plainUrl = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/`;
      other = await Chromium.launch();
    }, 60_000);
    afterAll(async () => {
      await other?.close();
      await new Promise((resolve) => plain?.close(resolve));
    });

    it("runThreadedInBrowser refuses with an Error naming the two headers", async () => {
      const ready = await other.runPage<{ status: string; isolated: boolean }>(`${plainUrl}threads.html`);
      expect(ready).toEqual({ status: "ready", isolated: false });
      const message = await other.evaluate<string>(`wasiMman.runThreadedInBrowser(new Uint8Array(8)).then(() => "resolved", (error) => String(error))`);
      expect(message).toMatch(/cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
    });
  });
});
