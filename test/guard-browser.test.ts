/**
 * Guard mode in a real browser (issue "Guard mode"): Debian's headless Chromium loads the
 * guard as one ES module (scripts/build-guard-browser.ts: Binaryen's JavaScript build, the
 * library, browser_wasi_shim), instruments each C fault fixture of fixtures/c/guard/ there,
 * runs it under createGuardedMman with browser_wasi_shim, and catches the trap. The report the
 * page gives must be the one Node gives for the same module: the same instrumented bytes, the
 * same access, page and function lines, the same wasm frames. A correct program runs with the
 * same output as in Node, and with the same table as the engine's state gives.
 *
 * Skips with one loud line when Chromium or the C toolchain is missing.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";
import { cBuildDir, compileProgram, type MallocChoice } from "../cli/cc.js";
import { serveDemo, type DemoServer } from "../cli/demo-server.js";
import { createGuardedMman, EXIT_SEGV } from "../guard/guard.js";
import { instrument } from "../guard/instrument.js";
import { runWithShim } from "../hosts/shim.js";
import { shimFileResolver } from "../hosts/shim-files.js";
import { buildFixture, cToolchainStatus, type CFixture } from "../scripts/build-c.js";
import { buildGuardBrowser, GUARD_BUNDLE_NAME } from "../scripts/build-guard-browser.js";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";
import { guardedRun, type GuardLibrary, type GuardOutcome } from "./helpers/guard-run.js";

const root = join(import.meta.dirname, "..");
const toolchain = cToolchainStatus();
if (!available) console.warn(`\n*** SKIPPED guard browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH) ***\n`);
if (!toolchain.ok) console.warn(`\n*** SKIPPED guard browser tests: ${toolchain.reason} ***\n`);

const NODE_LIBRARY: GuardLibrary = { instrument, createGuardedMman, runWithShim, shimFileResolver, WASI, File, OpenFile, ConsoleStdout };

/**
 * Each fixture and the phrase its page line must hold (test/guard.test.ts checks the whole
 * report in Node; here the browser's report is checked against Node's). A name with
 * ".dlmalloc" is that fixture built with wasi-libc's dlmalloc: no __heap_base, the table at
 * the end of the initial memory, the guest's memory.size rewritten (docs/guard.md).
 */
const FAULTS: [string, RegExp][] = [
  ["use-after-munmap", /unmapped by call #\d+ munmap/],
  ["write-readonly", /PROT_READ part of an anonymous mapping/],
  ["read-prot-none", /PROT_NONE reservation/],
  ["heap-underflow", /mallocng's guard page/],
  ["null-deref", /null pointer/],
  ["large-use-after-free", /unmapped by call #\d+ munmap/],
  ["use-after-munmap.dlmalloc", /unmapped by call #\d+ munmap/],
];
const CORRECT: CFixture[] = ["tiers", "direct-mman"];
const PAGE_SIZES = [4096, 65536];

/**
 * fixtures/c/guard/<source>.c with mallocng, or the allocator `name` gives after a dot, as
 * test/guard.test.ts builds it (into a folder of this test's own, so the two may run at
 * once): without node_modules/.bin on PATH, where clang would find binaryen's wasm-opt and
 * run it, dropping the name section.
 */
async function buildGuardFixture(name: string): Promise<Uint8Array> {
  const [source, malloc = "mallocng"] = name.split(".") as [string, MallocChoice?];
  const output = join(cBuildDir(), "guard-browser", `${name}.wasm`);
  const path = process.env.PATH;
  process.env.PATH = (path ?? "").split(":").filter((dir) => !dir.includes("node_modules")).join(":");
  try {
    await compileProgram({ malloc, output, args: ["-O2", "-Wall", "-Werror", join(root, "fixtures", "c", "guard", `${source}.c`)] });
  } finally {
    process.env.PATH = path;
  }
  return readFileSync(output);
}

/** guard-page.ts imports the library from the bundle file itself, not from a copy of its own. */
const bundleAsExternal: Plugin = {
  name: "guard-bundle-external",
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /(^|\/)guard\/browser\.js$/ }, () => ({ path: `./${GUARD_BUNDLE_NAME}`, external: true }));
  },
};

interface Frame {
  name: string;
  /** "wasm-function[9]:0x3f8": the function's index and the byte offset in the module. */
  position: string;
}

/** A report block in parts: the lines before the wasm stack, its frames, the lines after. */
function reportParts(report: string): { head: string[]; frames: Frame[]; tail: string[] } {
  const lines = report.split("\n");
  const stack = lines.indexOf("  wasm stack:");
  const frameLines = lines.slice(stack + 1).filter((line) => line.startsWith("    at "));
  const frames = frameLines.map((line) => {
    const match = /^ {4}at (\S+) \(wasm:\/\/wasm\/[0-9a-f]+:(wasm-function\[\d+\]:0x[0-9a-f]+)\)$/.exec(line);
    return match === null ? { name: line, position: "(unparsed)" } : { name: match[1], position: match[2] };
  });
  return { head: lines.slice(0, stack), frames, tail: lines.slice(stack + 1 + frameLines.length) };
}

const built = new Map<string, Uint8Array>();
let dir = "";
let server: DemoServer;
let browser: Chromium;
const timings: string[] = [];

/**
 * The fixture instrumented and run under the guard in Node, then in the page. Either way the
 * instrumented module must be the same bytes (Binaryen's wasm in Chromium writes what it
 * writes in Node), and the table the guard kept must be the engine's.
 */
async function inBoth(name: string, pageSize: number): Promise<{ node: GuardOutcome; page: GuardOutcome; where: string }> {
  const node = await guardedRun(NODE_LIBRARY, built.get(name) as Uint8Array, pageSize);
  const page = await browser.evaluate<GuardOutcome>(`guardRun(${JSON.stringify(name)}, ${pageSize})`);
  const ms = (value: number): string => `${Math.round(value)} ms`;
  const same = node.report === null ? "" : `, report ${page.report === node.report ? "identical" : "differs"} to the byte`;
  timings.push(`${name} at ${pageSize / 1024} KiB: instrument ${ms(node.instrumentMs)} Node / ${ms(page.instrumentMs)} Chromium, run ${ms(node.runMs)} / ${ms(page.runMs)}${same}`);
  const where = `${name} at ${pageSize} bytes`;
  expect(page.instrumentedDigest, where).toBe(node.instrumentedDigest);
  expect([node.tableAgrees, page.tableAgrees], where).toEqual([true, true]);
  return { node, page, where };
}

describe.skipIf(!available || !toolchain.ok)("guard mode in headless Chromium", () => {
  beforeAll(async () => {
    const started = performance.now();
    for (const [name] of FAULTS) built.set(name, await buildGuardFixture(name));
    for (const name of CORRECT) built.set(name, readFileSync(await buildFixture(name, "mallocng")));
    const builtMs = performance.now() - started;
    dir = mkdtempSync(join(tmpdir(), "wasi-mman-guard-page-"));
    mkdirSync(join(dir, "fixtures"));
    for (const [name, bytes] of built) writeFileSync(join(dir, "fixtures", `${name}.wasm`), bytes);
    await buildGuardBrowser(dir);
    await build({
      bundle: true,
      platform: "browser",
      format: "esm",
      target: "es2022",
      logLevel: "warning",
      absWorkingDir: root,
      entryPoints: [join(root, "test", "helpers", "guard-page.ts")],
      outfile: join(dir, "guard-page.js"),
      plugins: [bundleAsExternal],
    });
    writeFileSync(
      join(dir, "index.html"),
      '<!doctype html>\n<meta charset="utf-8">\n<title>wasi-mman guard</title>\n<pre id="result"></pre>\n<script type="module" src="./guard-page.js"></script>\n',
    );
    const bundledMs = performance.now() - started - builtMs;
    server = await serveDemo(dir, 0);
    browser = await Chromium.launch();
    const ready = await browser.runPage<{ status: string; userAgent: string; loadMs: number }>(`${server.url}index.html`);
    expect(ready.status).toBe("ready");
    expect(ready.userAgent).toContain("HeadlessChrome");
    timings.push(`fixtures built in ${Math.round(builtMs)} ms, bundles in ${Math.round(bundledMs)} ms, the page ready (Binaryen loaded) at ${ready.loadMs} ms`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
    if (timings.length > 0) console.log(`guard in Chromium:\n  ${timings.join("\n  ")}`);
  });

  for (const [name, pagePhrase] of FAULTS) {
    test(`${name}: trapped in Chromium with the report Node gives (4 and 64 KiB pages)`, async () => {
      for (const pageSize of PAGE_SIZES) {
        const { node, page, where } = await inBoth(name, pageSize);
        expect(node.report, where).toMatch(pagePhrase);
        expect(node.stdout, where).not.toBe("");
        expect([page.errorName, page.exitCode, page.stdout], where).toEqual(["RuntimeError", null, node.stdout]);
        expect(page.summary, where).toEqual(node.summary);
        // The block: every line the same; in the wasm stack the same functions at the same
        // places (the frames' module URL is a hash of the bytes, equal too, but not compared).
        const nodeParts = reportParts(node.report ?? "");
        const pageParts = reportParts(page.report ?? "");
        expect(pageParts.head, where).toEqual(nodeParts.head);
        expect(pageParts.head[2], where).toMatch(/^ {2}in \S+$/);
        expect(pageParts.frames.length, where).toBeGreaterThanOrEqual(2);
        expect(pageParts.frames, where).toEqual(nodeParts.frames);
        // wasm-ld names the exported wrapper of a command's _start "_start.command_export".
        expect(pageParts.frames.at(-1)?.name, where).toMatch(/^_start(\.command_export)?$/);
        expect(pageParts.tail, where).toEqual([`  (SIGSEGV: exit status ${EXIT_SEGV})`]);
      }
      expect(browser.problems).toEqual([]);
    });
  }

  for (const name of CORRECT) {
    test(`${name} (mallocng), a correct program, runs in Chromium under the guard as in Node`, async () => {
      for (const pageSize of PAGE_SIZES) {
        const { node, page, where } = await inBoth(name, pageSize);
        expect([page.exitCode, page.errorName, page.errorMessage, page.report], where).toEqual([0, null, null, null]);
        expect(node.exitCode, where).toBe(0);
        expect(page.stdout, where).toMatch(new RegExp(`^${name}: ok$`, "m"));
        expect(page.stdout, where).not.toMatch(/^FAIL /m);
        // Same module, same page size, same engine: even the printed addresses agree.
        expect(page.stdout, where).toBe(node.stdout);
      }
      expect(browser.problems).toEqual([]);
    });
  }
});
