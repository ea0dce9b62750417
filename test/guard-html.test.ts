// `wasi-mman run --guard --html FILE` (issue 15, item 3): the report of a run the guard stopped
// carries the fault (the block run printed, the page, the access) and its memory map draws the
// faulting page in red; so does the demo page (`wasi-mman demo --guard prog.wasm`), which runs
// the guard in the browser. fixtures/c/guard/use-after-munmap.c writes into a page it unmapped.
// The page is checked from the data in Node, and as drawn in headless Chromium (Debian's, over
// the DevTools pipe: helpers/chromium.ts), which is skipped with one loud line when missing.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cBuildDir, compileProgram } from "../cli/cc.js";
import type { RunReportData } from "../cli/run-report-data.js";
import { cToolchainStatus } from "../scripts/build-c.js";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";
import type { Readable } from "node:stream";
import { cli, startNode, type Running } from "./helpers/cli.js";
import { ensureBuilt } from "./helpers/package.js";

const toolchain = cToolchainStatus();
if (!toolchain.ok) console.warn(`\n*** GUARD REPORT TESTS SKIPPED: ${toolchain.reason} ***\n`);
if (toolchain.ok && !available) console.warn(`\n*** SKIPPED the guard report in Chromium: no Chromium at ${CHROMIUM} ***\n`);

const scratch = mkdtempSync(join(tmpdir(), "wasi-mman-guard-html-"));
let program = "";
beforeAll(async () => {
  if (!toolchain.ok) return;
  ensureBuilt();
  program = join(cBuildDir(), "guard", "use-after-munmap.wasm");
  // As test/guard.test.ts builds it: without node_modules/.bin on PATH, where clang would find
  // binaryen's wasm-opt and drop the name section the report takes function names from.
  const path = process.env.PATH;
  process.env.PATH = (path ?? "").split(":").filter((dir) => !dir.includes("node_modules")).join(":");
  try {
    await compileProgram({ malloc: "mallocng", output: program, args: ["-O2", "-Wall", "-Werror", join("fixtures", "c", "guard", "use-after-munmap.c")] });
  } finally {
    process.env.PATH = path;
  }
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The JSON the report's page carries. */
function reportData(html: string): RunReportData {
  const match = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
  if (match === null) throw new Error("no report data in the page");
  return JSON.parse(match[1]) as RunReportData;
}

/** The block run printed on stderr: from its first line to the SIGSEGV line. */
function printedBlock(stderr: string): string {
  const start = stderr.indexOf("wasi-mman guard: ");
  const end = stderr.indexOf("(SIGSEGV: exit status 139)");
  expect(start, stderr).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return stderr.slice(start, end + "(SIGSEGV: exit status 139)".length);
}

/** The address `wasi-mman demo` prints as its first line. */
function firstLine(running: Running): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const stdout = running.child.stdout as Readable;
    stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes("\n")) resolve(text.slice(0, text.indexOf("\n")));
    });
    running.child.once("exit", (code) => reject(new Error(`demo exited (${code}) before printing its address: ${text}`)));
  });
}

interface ReportResult {
  status: string;
  message?: string;
  layout: { pages: number; groupSize: number };
  faultCell: number;
  shownKindCounts: Record<string, number>;
  canvasCellCounts: Record<string, number>;
}

describe.skipIf(!toolchain.ok)("run --guard --html", () => {
  const reports = new Map<number, { html: string; block: string; path: string }>();

  for (const [pageSize, flag] of [
    [4096, "4k"],
    [65536, "64k"],
  ] as const) {
    it(`${flag} pages: the report holds the fault run printed, its page is the one the access hit`, async () => {
      const path = join(scratch, `use-after-munmap-${flag}.html`);
      const run = await cli("run", "--guard", "--page-size", flag, "--html", path, program);
      expect(run.code, run.stderr).toBe(139);
      const block = printedBlock(run.stderr);
      const html = readFileSync(path, "utf8");
      const { fault, pageSize: shownPageSize, pages } = reportData(html);
      expect(shownPageSize).toBe(pageSize);
      expect(fault).not.toBeNull();
      if (fault === null) return;
      expect(fault.text).toBe(block);
      expect(fault.access).toBe("write");
      expect(fault.size).toBe(1);
      expect(fault.page).toBe(Math.floor(fault.address / pageSize));
      expect(fault.page).toBeLessThan(pages);
      // The block's first line names the address; its page line names the page and what it was.
      expect(block).toContain(`at 0x${fault.address.toString(16)}`);
      expect(block).toContain(`page 0x${(fault.page * pageSize).toString(16)} (${pageSize} bytes): ${fault.what}`);
      expect(fault.what).toMatch(/^unmapped by call #\d+ munmap\(0x[0-9a-f]+, \d+\) = 0/);
      expect(html).toContain(`stopped by --guard at a write of page ${fault.page} (exit code 139)`);
      expect(html).toContain('<pre id="fault-text">wasi-mman guard: invalid write of 1 byte at ');
      reports.set(pageSize, { html, block, path });
    });
  }

  it("the bundled example runs as without the guard, and its report has no fault", async () => {
    const path = join(scratch, "hello.html");
    const run = await cli("run", "--guard", "--html", path, "fixtures/hosts/hello.wat", "a", "b");
    const plain = await cli("run", "fixtures/hosts/hello.wat", "a", "b");
    expect([run.code, run.stdout, run.stderr]).toEqual([plain.code, plain.stdout, plain.stderr]);
    expect([run.code, run.stdout]).toEqual([2, "hello from mapped memory\n"]);
    const html = readFileSync(path, "utf8");
    expect(reportData(html).fault).toBeNull();
    expect(html).not.toContain('id="fault-panel"');
  });

  describe.skipIf(!available)("in headless Chromium", () => {
    let browser: Chromium;
    beforeAll(async () => {
      browser = await Chromium.launch();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("wasi-mman demo --guard: the page runs the program under the guard in the browser, shows the block and draws the page red", async () => {
      const report = reports.get(4096);
      expect(report, "the report of the run above").toBeDefined();
      if (report === undefined) return;
      const server = startNode(["--import", "tsx", "cli/main.ts", "demo", "--port", "0", "--guard", program]);
      try {
        const url = await firstLine(server);
        expect(url).toMatch(/\?module=%2Fuser%2Fuse-after-munmap\.wasm&guard=1$/);
        const result = await browser.runPage<ReportResult & { exitCode: number; stdout: string; fault: NonNullable<RunReportData["fault"]> | null }>(`${url}&sweep=0`, 120_000);
        expect(result.status, result.message).toBe("done");
        expect(result.exitCode).toBe(139);
        expect(result.stdout).toMatch(/^mapped 16384 bytes\n/);
        const expected = reportData(report.html).fault as NonNullable<RunReportData["fault"]>;
        expect(result.fault).not.toBeNull();
        // The same fault as run --guard found, and the same block up to the wasm frames' module URLs.
        expect([result.fault?.address, result.fault?.page, result.fault?.what]).toEqual([expected.address, expected.page, expected.what]);
        const unframed = (text: string): string => text.replace(/\(wasm:\/\/wasm\/[0-9a-f]+:/g, "(");
        expect(unframed(result.fault?.text ?? "")).toBe(unframed(report.block));
        expect(result.faultCell).toBe(Math.floor(expected.page / result.layout.groupSize));
        expect(result.canvasCellCounts.FAULT).toBe(1);
        expect(await browser.evaluate<string>(`document.getElementById("status").textContent`)).toMatch(/stopped by the guard: invalid write of 1 byte/);
      } finally {
        server.child.kill("SIGTERM");
      }
    });

    it("the map draws the faulting page's cell in red, every other cell in its kind's colour; the legend names the page", async () => {
      for (const pageSize of [4096, 65536]) {
        const report = reports.get(pageSize);
        expect(report, "the report of the run above").toBeDefined();
        if (report === undefined) return;
        const fault = reportData(report.html).fault as NonNullable<RunReportData["fault"]>;
        const result = await browser.runPage<ReportResult>(pathToFileURL(report.path).href);
        expect(result.status, result.message).toBe("done");
        expect(browser.problems).toEqual([]);
        expect(result.faultCell).toBe(Math.floor(fault.page / result.layout.groupSize));
        expect(result.canvasCellCounts.FAULT).toBe(1);
        expect(result.canvasCellCounts.UNKNOWN).toBe(0);
        // The cells the fault did not take show the kinds the legend counts.
        const drawn = Object.values(result.canvasCellCounts).reduce((sum, count) => sum + count, 0);
        expect(drawn).toBe(Math.ceil(result.layout.pages / result.layout.groupSize));
        const legend = await browser.evaluate<string>(`document.querySelector('#legend li[data-kind="FAULT"]')?.textContent ?? ""`);
        expect(legend).toBe(`guard fault page ${fault.page}`);
        expect(await browser.evaluate<string>(`document.getElementById("fault-text").textContent`)).toBe(report.block);
      }
    });
  });
});
