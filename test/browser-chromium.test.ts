// The layer in a real browser: Debian's headless Chromium, driven over the DevTools protocol
// on a pipe (--remote-debugging-pipe; no npm package, no downloaded browser).
//
//   1. selftest.html: the library's checks in the page (browser_wasi_shim runs a command,
//      mappings read as zeros also when reused, MAP_SHARED/MAP_PRIVATE over the shim's files);
//   2. the demo page, run with ?autorun: the map on the canvas, its legend and the statistics
//      table show what the engine reports, and the same program run in Node gives the same map;
//      a screenshot goes to test-output/.
//
// Skips with one loud line when Chromium is missing (CI installs it: .ci/run).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleStdout, File, OpenFile, WASI } from "@bjorn3/browser_wasi_shim";
import { instantiateWithMman } from "../hosts/instantiate.js";
import { runWithShim } from "../hosts/shim.js";
import { createMman } from "../syscalls/create-mman.js";
import { buildDemo } from "../scripts/build-demo.js";
import { serveDemo, type DemoServer } from "../scripts/serve-demo.js";
import { available, Chromium, CHROMIUM } from "./helpers/chromium.js";

const root = join(import.meta.dirname, "..");
if (!available) console.warn(`\n*** SKIPPED browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH) ***\n`);

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const KIND_NAMES = ["IMAGE", "BRK", "MAPPED", "FREE_CLEAN", "FREE_DIRTY", "FOREIGN"];

interface DemoResult {
  status: string;
  message?: string;
  fixture: string;
  pageSize: number;
  exitCode: number | null;
  error: string | null;
  invariantError: string | null;
  calls: number;
  steps: number;
  /** Whether the program ran in the page's worker (the default) or in the page's thread. */
  inWorker: boolean;
  layout: { pages: number; groupSize: number; cells: number; cellPx: number; cols: number; rows: number };
  engineKindCounts: Record<string, number>;
  engineKinds: string;
  canvasCellCounts: Record<string, number>;
  stats: {
    pageSize: number;
    mappedBytes: number;
    requestedBytes: number;
    linearMemoryBytes: number;
    foreignBytes: number;
    liveMappings: number;
    wastage: number;
    peak: { mappedBytes: number; linearMemoryBytes: number };
    cumulative: { mappedBytes: number; requestedBytes: number; wastage: number };
    calls: Record<string, number>;
  };
  sweep: { pageSize: number; wastage: number; peakMemoryBytes: number; problem: string | null }[];
}

/** What the page shows: legend counts, statistics cells, call-log lines, chart lines. */
interface Shown {
  legend: Record<string, string>;
  stats: Record<string, string>;
  logLines: number;
  polylines: number;
  status: string;
}

const SHOWN = `(() => ({
  legend: Object.fromEntries([...document.querySelectorAll("#legend li")].map((li) => [li.dataset.kind, li.querySelector(".count").textContent])),
  stats: Object.fromEntries([...document.querySelectorAll("#stats tr[data-stat]")].map((tr) => [tr.dataset.stat, tr.querySelector("td").textContent])),
  logLines: document.querySelectorAll("#log .line").length,
  polylines: document.querySelectorAll("#chart svg polyline").length,
  status: document.getElementById("status").textContent,
}))()`;

/** The first whole number in a cell such as "1,572,864 (1.50 MiB)". */
function firstNumber(text: string): number {
  const match = /-?[\d,]+/.exec(text);
  if (match === null) throw new Error(`no number in ${JSON.stringify(text)}`);
  return Number(match[0].replaceAll(",", ""));
}

function countDigits(kinds: string): Record<string, number> {
  const counts = Object.fromEntries(KIND_NAMES.map((name) => [name, 0]));
  for (const digit of kinds) counts[KIND_NAMES[Number(digit)]]++;
  return counts;
}

/** The same program run in Node with the same page size: its final map as a digit string. */
async function nodeRun(fixture: string, pageSize: number): Promise<{ kinds: string; stats: ReturnType<Awaited<ReturnType<typeof runWithShim>>["mman"]["stats"]> }> {
  const bytes = new Uint8Array(readFileSync(join(demoDir, "fixtures", `${fixture}.wasm`)));
  const { mman, exitCode } = await runWithShim(bytes, {
    args: [fixture],
    fds: [new OpenFile(new File([])), ConsoleStdout.lineBuffered(() => {}), ConsoleStdout.lineBuffered(() => {})],
    mman: { pageSize },
  });
  expect(exitCode).toBe(0);
  return { kinds: Array.from(mman.space.pageKinds()).join(""), stats: mman.stats() };
}

/** The map after attach and after every call, in Node: one digit string per step ("-" past the end). */
async function nodeSteps(fixture: string, pageSize: number, pages: number): Promise<string[]> {
  const bytes = new Uint8Array(readFileSync(join(demoDir, "fixtures", `${fixture}.wasm`)));
  const wasi = new WASI([fixture], [], [new OpenFile(new File([])), ConsoleStdout.lineBuffered(() => {}), ConsoleStdout.lineBuffered(() => {})], { debug: false });
  const steps: string[] = [];
  const take = (): void => {
    steps.push(Array.from(mman.space.pageKinds()).join("").padEnd(pages, "-"));
  };
  const mman = createMman({ pageSize, trace: take });
  const { wasiView } = await instantiateWithMman(bytes, { wasi_snapshot_preview1: wasi.wasiImport as WebAssembly.ModuleImports }, { mman });
  steps.unshift(Array.from(mman.space.pageKinds()).join("").padEnd(pages, "-"));
  expect(wasi.start(wasiView as unknown as Parameters<WASI["start"]>[0])).toBe(0);
  return steps;
}

/** The page's map at every step, as the step controls replay it. */
const PAGE_STEPS = `(() => {
  const timeline = wasiMmanDemo.outcome.timeline;
  const steps = [];
  for (let s = 0; s < timeline.steps.length; s++) steps.push(Array.from(timeline.at(s), (k) => (k === 255 ? "-" : String(k))).join(""));
  return steps;
})()`;

/** Clicks a step control and returns the legend's counts. */
function clickAndCount(selector: string): string {
  return `(() => {
    document.querySelector(${JSON.stringify(selector)}).click();
    return Object.fromEntries([...document.querySelectorAll("#legend li")].map((li) => [li.dataset.kind, Number(li.querySelector(".count").textContent)]));
  })()`;
}

const demoDir = join(root, ".cache", "browser-test", "demo");
const outputDir = join(root, "test-output");
let server: DemoServer;
let browser: Chromium;

describe.skipIf(!available)("in headless Chromium", () => {
  beforeAll(async () => {
    await buildDemo(demoDir, { assemblyScript: false });
    server = await serveDemo(demoDir, 0);
    browser = await Chromium.launch();
    mkdirSync(outputDir, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("the library's checks pass in the page (shim command, zeroed mappings, file mappings)", async () => {
    const result = await browser.runPage<{ status: string; userAgent: string; checks: Check[] }>(`${server.url}selftest.html`);
    expect(result.status).toBe("done");
    expect(result.userAgent).toContain("HeadlessChrome");
    const names = result.checks.map((c) => c.name);
    expect(names).toEqual([
      "command runs with browser_wasi_shim",
      "the page map agrees with the statistics",
      "mappings read as zeros, also when reused (4 KiB pages)",
      "mappings read as zeros, also when reused (64 KiB pages)",
      "MAP_SHARED file mapping writes back to the shim's in-memory File",
      "MAP_PRIVATE file mapping reads the File and never writes it",
    ]);
    for (const check of result.checks) expect({ name: check.name, ok: check.ok, detail: check.ok ? "" : check.detail }).toEqual({ name: check.name, ok: true, detail: "" });
  });

  it("the demo page shows the engine's map and statistics for churn at 16 KiB pages, and a page-size chart", async () => {
    const pageSize = 16384;
    const result = await browser.runPage<DemoResult>(`${server.url}?autorun=churn&page=${pageSize}`);
    expect(result.status, result.message).toBe("done");
    expect([result.exitCode, result.error, result.invariantError]).toEqual([0, null, null]);
    expect(result.inWorker).toBe(true);
    const png = await browser.screenshot(join(outputDir, "demo-churn.png"));
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    const shown = await browser.evaluate<Shown>(SHOWN);

    // One cell per page; the canvas, the legend and the engine agree page for page.
    const engine = countDigits(result.engineKinds);
    expect(result.engineKindCounts).toEqual(engine);
    expect(result.layout.groupSize).toBe(1);
    expect(result.layout.cells).toBe(result.engineKinds.length);
    expect(result.canvasCellCounts).toEqual({ ...engine, OUTSIDE: 0, FAULT: 0, UNKNOWN: 0 });
    expect(Object.fromEntries(Object.entries(shown.legend).map(([kind, text]) => [kind, Number(text)]))).toEqual(engine);
    // churn leaves every kind but the brk heap on the map at this page size (its break
    // shrinks back inside the module image's last page).
    for (const kind of ["IMAGE", "MAPPED", "FREE_CLEAN", "FREE_DIRTY", "FOREIGN"]) expect(engine[kind], kind).toBeGreaterThan(0);
    expect(engine.MAPPED * pageSize).toBe(result.stats.mappedBytes);
    expect(engine.FOREIGN * pageSize).toBe(result.stats.foreignBytes);
    expect(result.engineKinds.length * pageSize).toBe(result.stats.linearMemoryBytes);

    // The statistics table shows the engine's figures.
    for (const key of ["mappedBytes", "requestedBytes", "linearMemoryBytes", "liveMappings", "peak.mappedBytes", "cumulative.requestedBytes"]) {
      const value = key.split(".").reduce<unknown>((object, part) => (object as Record<string, unknown>)[part], result.stats);
      expect(firstNumber(shown.stats[key]), key).toBe(value);
    }
    expect(shown.stats["cumulative.wastage"]).toBe(`${(result.stats.cumulative.wastage * 100).toFixed(2)} %`);
    expect(shown.logLines).toBe(result.calls);
    expect(result.calls).toBe(Object.values(result.stats.calls).reduce((a, b) => a + b, 0));
    expect(result.steps).toBe(result.calls + 1);

    // The same program in Node, same page size: the same map and the same figures.
    const node = await nodeRun("churn", pageSize);
    expect(result.engineKinds).toBe(node.kinds);
    expect([result.stats.mappedBytes, result.stats.requestedBytes, result.stats.linearMemoryBytes]).toEqual([node.stats.mappedBytes, node.stats.requestedBytes, node.stats.linearMemoryBytes]);

    // Step by step: the page's map after every call is the engine's map after that call.
    const pageSteps = await browser.evaluate<string[]>(PAGE_STEPS);
    expect(pageSteps).toEqual(await nodeSteps("churn", pageSize, result.engineKinds.length));
    const atStart = await browser.evaluate<Record<string, number>>(clickAndCount("#first"));
    // Before the first call: the image, and the rest of the memory the module started with
    // (free; the engine counts those pages as dirty, since the module may have written them).
    expect([atStart.MAPPED, atStart.BRK, atStart.FOREIGN]).toEqual([0, 0, 0]);
    expect(atStart.IMAGE).toBe(engine.IMAGE);
    expect(await browser.evaluate<Record<string, number>>(clickAndCount("#last"))).toEqual(engine);

    // The chart: one run per page size. churn asks for byte sizes, so larger pages waste more.
    expect(result.sweep.map((p) => p.pageSize)).toEqual([4096, 8192, 16384, 32768, 65536]);
    expect(result.sweep.every((p) => p.problem === null)).toBe(true);
    expect(result.sweep[4].wastage).toBeGreaterThan(result.sweep[0].wastage);
    expect(result.sweep[2].wastage).toBeCloseTo(result.stats.cumulative.wastage, 12);
    expect(result.sweep[2].peakMemoryBytes).toBe(result.stats.peak.linearMemoryBytes);
    expect(shown.polylines).toBe(2);
  });

  it("every program the page lists runs in it at 8 KiB pages, in the page's own thread too, map drawn as the engine holds it", async () => {
    const listed = (JSON.parse(readFileSync(join(demoDir, "fixtures.json"), "utf8")) as { id: string; hidden?: boolean; exitCode?: number }[]).filter(
      (fixture) => fixture.hidden !== true && fixture.id !== "big",
    );
    expect(listed.map((fixture) => fixture.id)).toEqual(expect.arrayContaining(["churn", "hello", "upcase"]));
    for (const fixture of listed) {
      const result = await browser.runPage<DemoResult>(`${server.url}?autorun=${fixture.id}&page=8192&sweep=0&worker=0`);
      expect(result.inWorker).toBe(false);
      expect({ id: fixture.id, status: result.status, error: result.error, invariantError: result.invariantError }).toEqual({
        id: fixture.id,
        status: "done",
        error: null,
        invariantError: null,
      });
      if (fixture.exitCode !== undefined) expect(result.exitCode, fixture.id).toBe(fixture.exitCode);
      expect(result.calls, fixture.id).toBe(Object.values(result.stats.calls).reduce((a, b) => a + b, 0));
      if (result.layout.groupSize === 1) expect(result.canvasCellCounts, fixture.id).toEqual({ ...countDigits(result.engineKinds), OUTSIDE: 0, FAULT: 0, UNKNOWN: 0 });
    }
  });

  it("groups pages into cells above 20,000 pages: big at 4 KiB (about 100,000 pages)", async () => {
    const result = await browser.runPage<DemoResult>(`${server.url}?autorun=big&page=4096&sweep=0`);
    expect(result.status, result.message).toBe("done");
    expect([result.exitCode, result.error, result.invariantError]).toEqual([0, null, null]);
    await browser.screenshot(join(outputDir, "demo-big.png"));
    const { pages, groupSize, cells } = result.layout;
    expect(pages).toBeGreaterThanOrEqual(100_000);
    expect(groupSize).toBe(Math.ceil(pages / 20_000));
    expect(cells).toBeLessThanOrEqual(20_000);
    // Each cell shows the commonest kind of its pages (ties to the lower PageKind).
    const expected = Object.fromEntries([...KIND_NAMES, "OUTSIDE", "FAULT", "UNKNOWN"].map((name) => [name, 0]));
    for (let cell = 0; cell < cells; cell++) {
      const counts = new Array<number>(6).fill(0);
      for (const digit of result.engineKinds.slice(cell * groupSize, (cell + 1) * groupSize)) counts[Number(digit)]++;
      expected[KIND_NAMES[counts.indexOf(Math.max(...counts))]]++;
    }
    expect(result.canvasCellCounts).toEqual(expected);
    const node = await nodeRun("big", 4096);
    expect(result.engineKinds).toBe(node.kinds);
    // Seeking back past keyframes and forward again lands on the same map.
    const seek = (step: number): string => `(() => {
      const input = document.getElementById("step");
      input.value = "${step}";
      input.dispatchEvent(new Event("input"));
      return Object.fromEntries([...document.querySelectorAll("#legend li")].map((li) => [li.dataset.kind, Number(li.querySelector(".count").textContent)]));
    })()`;
    const middle = await browser.evaluate<Record<string, number>>(seek(300));
    expect(middle.MAPPED).toBeGreaterThan(0);
    expect(middle.MAPPED).toBeLessThan(result.engineKindCounts.MAPPED);
    await browser.evaluate(seek(5));
    expect(await browser.evaluate<Record<string, number>>(seek(300))).toEqual(middle);
    expect(await browser.evaluate<Record<string, number>>(seek(result.steps - 1))).toEqual(result.engineKindCounts);
  });
});
