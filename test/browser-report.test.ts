// Your own program's memory map (issue 13, item 1): `wasi-mman run --html FILE` writes a
// self-contained report, and `wasi-mman demo [module]` serves the packaged page with the
// module preloaded, or opened in the page. Both are opened in headless Chromium (Debian's,
// over the DevTools pipe: helpers/chromium.ts) and screenshotted into test-output/.
// Fixtures: demo/fixtures/churn.wat (every kind of page, 40 calls), fixtures/hosts/hello.wat.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";
import { cli, errLines, repoRoot, startNode, type Running } from "./helpers/cli.js";
import { ensureBuilt } from "./helpers/package.js";
import { watToWasm } from "./helpers/wat.js";

if (!available) console.warn(`\n*** SKIPPED report browser tests: no Chromium at ${CHROMIUM} ***\n`);

const scratch = mkdtempSync(join(tmpdir(), "wasi-mman-report-"));
const outputDir = join(repoRoot, "test-output");
beforeAll(() => {
  // The report inlines the viewer that `npm run build` bundles (dist/demo/report.js), and
  // `demo` serves dist/demo.
  ensureBuilt();
  mkdirSync(outputDir, { recursive: true });
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The kinds with at least one page (or cell). */
function positive(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([, count]) => count > 0));
}

interface ReportResult {
  status: string;
  message?: string;
  steps: number;
  calls: number;
  shownStep: number;
  layout: { pages: number; groupSize: number };
  shownKindCounts: Record<string, number>;
  canvasCellCounts: Record<string, number>;
}

describe("wasi-mman run --html", () => {
  it("writes one self-contained file: the data, the viewer, the statistics and the timeline; nothing from outside", async () => {
    const report = join(scratch, "churn.html");
    const run = await cli("run", "--html", report, "demo/fixtures/churn.wat");
    expect(run.code).toBe(0);
    const html = readFileSync(report, "utf8");
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html).not.toMatch(/https?:\/\/|<link|\bsrc=|sourceMappingURL|@import/i);
    expect(html).toContain('<script type="application/json" id="report-data">');
    expect(html).toMatch(/<pre id="stats-text">statistic\s+value\n/);
    expect(html).toContain("Mapped and requested bytes, and linear memory, over the run");
    expect(html).toContain("40 memory calls");
  });

  it("a file that cannot be written is a usage error before the module runs", async () => {
    const run = await cli("run", "--html", join(scratch, "no", "such", "dir.html"), "fixtures/hosts/hello.wat");
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(errLines(run)).toEqual([expect.stringMatching(/^wasi-mman run: --html: cannot write .*: ENOENT$/)]);
  });
});

/** Reads a running command's stdout until its first line. */
function firstLine(running: Running): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const stdout = running.child.stdout as Readable;
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const end = text.indexOf("\n");
      if (end >= 0) {
        stdout.off("data", onData);
        resolve(text.slice(0, end));
      }
    };
    stdout.on("data", onData);
    running.child.once("exit", (code) => reject(new Error(`the command exited (${code}) before printing its address`)));
  });
}

/** Polls <pre id="result"> of the page already open until it holds a status. */
async function waitForResult<T extends { status: string }>(browser: Chromium, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await browser.evaluate<string | null>(`document.getElementById("result")?.textContent || null`);
    if (text !== null) return JSON.parse(text) as T;
    if (Date.now() > deadline) throw new Error(`no result after ${timeoutMs} ms; page problems: ${browser.problems.join("\n") || "none"}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface DemoResult {
  status: string;
  message?: string;
  fixture: string;
  exitCode: number | null;
  error: string | null;
  stdout: string;
  calls: number;
  steps: number;
  engineKindCounts: Record<string, number>;
  canvasCellCounts: Record<string, number>;
}

describe.skipIf(!available)("in headless Chromium", () => {
  let browser: Chromium;
  const servers: Running[] = [];
  beforeAll(async () => {
    browser = await Chromium.launch();
  });
  afterAll(async () => {
    await browser?.close();
    for (const server of servers) server.child.kill("SIGTERM");
  });

  it("the run --html report shows the map stepped through the calls, as the run left it", async () => {
    const report = join(scratch, "churn-16k.html");
    expect((await cli("run", "--page-size", "16k", "--html", report, "demo/fixtures/churn.wat")).code).toBe(0);
    const result = await browser.runPage<ReportResult>(pathToFileURL(report).href);
    expect(result.status, result.message).toBe("done");
    expect(browser.problems).toEqual([]);
    // One step per call, plus the map before the first call (churn also grows memory itself
    // after its last call: one more step for the end).
    expect(result.calls).toBe(40);
    expect(result.steps).toBeGreaterThanOrEqual(41);
    expect(result.shownStep).toBe(result.steps - 1);
    // One cell per page: the canvas shows exactly the pages of each kind the legend counts.
    expect(result.layout.groupSize).toBe(1);
    expect(positive(result.canvasCellCounts)).toEqual(positive(result.shownKindCounts));
    expect(result.shownKindCounts.MAPPED).toBeGreaterThan(0);
    const png = await browser.screenshot(join(outputDir, "run-report.png"));
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    // Stepping back to the start: before the first call nothing is mapped.
    const first = await browser.evaluate<Record<string, number>>(`(() => {
      document.getElementById("first").click();
      return Object.fromEntries([...document.querySelectorAll("#legend li")].map((li) => [li.dataset.kind, Number(li.querySelector(".count").textContent)]));
    })()`);
    expect(first.MAPPED).toBe(0);
    expect(await browser.evaluate<string>(`document.getElementById("step-call").textContent`)).toMatch(/^before the first call/);
  });

  it("wasi-mman demo serves the packaged page with the module given on the command line, preloaded and run", async () => {
    const server = startNode(["--import", "tsx", "cli/main.ts", "demo", "--port", "0", "fixtures/hosts/hello.wat"]);
    servers.push(server);
    const url = await firstLine(server);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?module=%2Fuser%2Fhello\.wasm$/);
    const result = await browser.runPage<DemoResult>(`${url}&sweep=0`);
    expect(result.status, result.message).toBe("done");
    expect(result.fixture).toBe("user:hello.wasm");
    expect([result.exitCode, result.error]).toEqual([0, null]);
    expect(result.stdout).toBe("hello from mapped memory\n");
    expect(result.calls).toBe(6);
    expect(positive(result.canvasCellCounts)).toEqual(positive(result.engineKindCounts));
    const png = await browser.screenshot(join(outputDir, "demo-user-module.png"));
    expect(png.subarray(1, 4).toString()).toBe("PNG");
  });

  it("the page's 'Open a module' picker runs a module from the user's disk", async () => {
    const server = startNode(["--import", "tsx", "cli/main.ts", "demo", "--port", "0"]);
    servers.push(server);
    const url = await firstLine(server);
    const module = join(scratch, "mine.wasm");
    writeFileSync(module, await watToWasm(readFileSync(join(repoRoot, "fixtures", "hosts", "hello.wat"), "utf8")));
    await browser.runPage<{ status: string }>(`${url}?autorun=churn&sweep=0`);
    await browser.evaluate(`document.getElementById("result").textContent = ""`);
    const { root } = (await browser.send("DOM.getDocument")) as { root: { nodeId: number } };
    const { nodeId } = (await browser.send("DOM.querySelector", { nodeId: root.nodeId, selector: "#open" })) as { nodeId: number };
    await browser.send("DOM.setFileInputFiles", { nodeId, files: [module] });
    const result = await waitForResult<DemoResult>(browser);
    expect(result.status, result.message).toBe("done");
    expect(result.fixture).toBe("user:mine.wasm");
    expect(result.stdout).toBe("hello from mapped memory\n");
    expect(await browser.evaluate<string>(`document.getElementById("fixture").selectedOptions[0].textContent`)).toBe("mine.wasm (your module)");
    await browser.screenshot(join(outputDir, "demo-opened-module.png"));
  });
});
