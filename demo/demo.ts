/**
 * The demo page: runs a fixture with browser_wasi_shim and the memory calls, then shows its
 * memory map (step by step through the trace), the calls, the statistics and a chart across
 * page sizes.
 *
 * `?autorun=<fixture>&page=<size>` runs a fixture as soon as the page loads (add `&sweep=0`
 * to skip the page-size chart) and writes what the page showed and what the engine reported
 * into <pre id="result"> as JSON, with "status": "done" once everything is drawn. The browser
 * tests read it (test/browser-chromium.test.ts). `&guard=1` ticks "guard": the run is made as
 * `run --guard` makes it, and a fault's page is drawn red in the map (test/guard-html.test.ts).
 */
import type { MmanStats, TraceRecord } from "../browser.js";
import { PAGE_SIZES, type DemoFixture } from "./catalogue.js";
import { sweepChart, type SweepPoint } from "./chart.js";
import { countKinds, readBackCells } from "./map.js";
import { escapeHtml, hex, MapView } from "./map-view.js";
import { fromReply, OUTSIDE, runFixture, type RunOutcome, type WorkerReply } from "./run.js";
import type { WorkerRequest } from "./worker.js";

function $<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`demo: no element #${id}`);
  return element as T;
}

const ui = {
  fixture: $<HTMLSelectElement>("fixture"),
  pageSize: $<HTMLSelectElement>("page-size"),
  guard: $<HTMLInputElement>("guard"),
  run: $<HTMLButtonElement>("run"),
  open: $<HTMLInputElement>("open"),
  controls: $<HTMLFormElement>("controls"),
  status: $("status"),
  description: $("description"),
  stdout: $("stdout"),
  logCaption: $("log-caption"),
  stats: $<HTMLTableElement>("stats"),
  statsCaption: $("stats-caption"),
  chart: $("chart"),
  chartCaption: $("chart-caption"),
  sweep: $<HTMLTableElement>("sweep"),
  result: $("result"),
};

let fixtures: DemoFixture[] = [];
let outcome: RunOutcome | null = null;
let useWorker = typeof Worker === "function";
const view = new MapView();

function setStatus(text: string, bad = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle("bad", bad);
}

const bytesCache = new Map<string, Uint8Array<ArrayBuffer>>();
async function fixtureBytes(fixture: DemoFixture): Promise<Uint8Array<ArrayBuffer>> {
  let bytes = bytesCache.get(fixture.file);
  if (bytes === undefined) {
    const response = await fetch(fixture.file);
    if (!response.ok) throw new Error(`could not load ${fixture.file}: HTTP ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
    bytesCache.set(fixture.file, bytes);
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Formatting

function bytesText(value: number): string {
  const human =
    value >= 2 ** 20 ? `${(value / 2 ** 20).toFixed(2)} MiB` : value >= 1024 ? `${(value / 1024).toFixed(1)} KiB` : `${value} B`;
  return `${value.toLocaleString("en-US")} (${human})`;
}

const percent = (ratio: number): string => `${(ratio * 100).toFixed(2)} %`;

/** The statistics table: [key in the stats object, label, how to show it]. */
const STAT_ROWS: [string, string, (value: number) => string][] = [
  ["pageSize", "page size", bytesText],
  ["heapBase", "heap base", hex],
  ["brk", "program break", hex],
  ["brkBytes", "brk heap", bytesText],
  ["liveMappings", "live mappings", String],
  ["mappedBytes", "mapped", bytesText],
  ["requestedBytes", "requested", bytesText],
  ["wastage", "wastage (now)", percent],
  ["linearMemoryBytes", "linear memory", bytesText],
  ["growCalls", "memory.grow calls", String],
  ["foreignBytes", "grown by the program", bytesText],
  ["clearedBytes", "cleared for reuse", bytesText],
  ["bookkeepingBytes", "bookkeeping (JS)", bytesText],
  ["peak.mappedBytes", "peak mapped", bytesText],
  ["peak.wastage", "wastage at peak", percent],
  ["peak.brkBytes", "peak brk heap", bytesText],
  ["peak.linearMemoryBytes", "peak linear memory", bytesText],
  ["peak.liveMappings", "peak live mappings", String],
  ["cumulative.mappedBytes", "mapped, all time", bytesText],
  ["cumulative.requestedBytes", "requested, all time", bytesText],
  ["cumulative.wastage", "wastage, all time", percent],
];

function statValue(stats: MmanStats, key: string): number {
  let value: unknown = stats;
  for (const part of key.split(".")) value = (value as Record<string, unknown>)[part];
  return value as number;
}

// ---------------------------------------------------------------------------------------
// Drawing (the map, its stepper and the call log: map-view.ts)

function renderStats(stats: MmanStats): void {
  const rows = STAT_ROWS.map(
    ([key, label, show]) => `<tr data-stat="${key}"><th>${label}</th><td>${escapeHtml(show(statValue(stats, key)))}</td></tr>`,
  );
  const calls = Object.entries(stats.calls)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `<tr data-stat="calls.${name}"><th>${name} calls (failed)</th><td>${count} (${stats.errors[name as keyof MmanStats["errors"]]})</td></tr>`);
  ui.stats.innerHTML = `<tbody>${[...rows, ...calls].join("")}</tbody>`;
}

function problemOf(run: RunOutcome): string | null {
  if (run.fault !== null) return `stopped by the guard: ${run.fault.text.split("\n")[0].replace(/^wasi-mman guard: /, "")} (exit code 139)`;
  if (run.error !== null) return run.error;
  if (run.invariantError !== null) return run.invariantError;
  if (run.fixture.exitCode !== undefined && run.exitCode !== run.fixture.exitCode) return `exit code ${run.exitCode}, expected ${run.fixture.exitCode}`;
  return null;
}

// ---------------------------------------------------------------------------------------
// Running

/**
 * Runs a fixture in a worker of its own (worker.js), or in this thread when workers are not
 * available (`?worker=0`, or a browser without module workers).
 */
function run(fixture: DemoFixture, bytes: Uint8Array<ArrayBuffer>, pageSize: number, record: boolean, guard = false): Promise<RunOutcome> {
  if (!useWorker) return runFixture(fixture, bytes, pageSize, record, guard);
  return new Promise((resolve, reject) => {
    const worker = new Worker("worker.js", { type: "module" });
    const done = (): void => worker.terminate();
    worker.addEventListener("message", (event: MessageEvent<{ reply?: WorkerReply; error?: string }>) => {
      done();
      if (event.data.reply !== undefined) resolve(fromReply(event.data.reply));
      else reject(new Error(event.data.error ?? "the worker failed"));
    });
    worker.addEventListener("error", (event) => {
      done();
      reject(new Error(`the worker failed: ${event.message}`));
    });
    // The bytes are copied (not transferred): the page keeps them for the next run.
    const request: WorkerRequest = { fixture, bytes, pageSize, record, guard };
    worker.postMessage(request);
  });
}

async function runSelected(sweep: boolean): Promise<void> {
  const fixture = fixtures.find((f) => f.id === ui.fixture.value);
  if (fixture === undefined) throw new Error(`no fixture "${ui.fixture.value}"`);
  const pageSize = Number(ui.pageSize.value);
  view.stop();
  ui.run.disabled = true;
  try {
    const guard = ui.guard.checked;
    setStatus(`running ${fixture.id} at ${pageSize / 1024} KiB pages${guard ? " under the guard (loading Binaryen)" : ""}…`);
    const bytes = await fixtureBytes(fixture);
    const started = performance.now();
    outcome = await run(fixture, bytes, pageSize, true, guard);
    const elapsed = performance.now() - started;
    if (outcome.timeline !== null) view.show({ pageSize, timeline: outcome.timeline, records: outcome.records, fault: outcome.fault });
    renderStats(outcome.stats);
    ui.statsCaption.textContent = `after the run, ${pageSize / 1024} KiB pages`;
    const strideNote = outcome.stride > 1 ? `; the map was taken every ${outcome.stride} calls towards the end` : "";
    ui.logCaption.textContent = `${outcome.records.length} calls${strideNote}`;
    const fileNote = Object.entries(outcome.files).map(([name, text]) => `\n[${name} after the run] ${text}`).join("");
    ui.stdout.textContent = outcome.stdout + fileNote + (outcome.fault === null ? "" : `\n${outcome.fault.text}\n`);
    const problem = problemOf(outcome);
    setStatus(
      problem === null ? `${fixture.id}: exit ${outcome.exitCode ?? "-"}, ${outcome.records.length} calls, ${elapsed.toFixed(0)} ms` : `${fixture.id}: ${problem}`,
      problem !== null,
    );
    if (sweep) await runSweep(fixture, bytes);
    else {
      sweepPoints = [];
      ui.chart.innerHTML = "";
      ui.sweep.innerHTML = "";
      ui.chartCaption.textContent = "not run (sweep=0)";
    }
  } finally {
    ui.run.disabled = false;
  }
}

let sweepPoints: SweepPoint[] = [];
async function runSweep(fixture: DemoFixture, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  sweepPoints = [];
  ui.chartCaption.textContent = `${fixture.id}, one run per page size…`;
  for (const pageSize of PAGE_SIZES) {
    // Yield between runs so the page stays responsive.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const result = await run(fixture, bytes, pageSize, false);
    sweepPoints.push({
      pageSize,
      wastage: result.stats.cumulative.wastage,
      peakMemoryBytes: result.stats.peak.linearMemoryBytes,
      problem: problemOf(result),
    });
  }
  ui.chart.innerHTML = sweepChart(sweepPoints, `${fixture.id}: wastage and peak memory by page size`);
  ui.sweep.innerHTML =
    `<thead><tr><th>page size</th><th>wastage, all time</th><th>peak linear memory</th></tr></thead><tbody>` +
    sweepPoints
      .map((p) => `<tr data-page-size="${p.pageSize}"><td>${p.pageSize / 1024} KiB</td><td>${percent(p.wastage)}</td><td>${bytesText(p.peakMemoryBytes)}</td></tr>`)
      .join("") +
    `</tbody>`;
  ui.chartCaption.textContent = fixture.id;
}

/**
 * Adds a module of the user's own to the list (as a WASI command with argv [its name]), selects
 * it and runs it. Its bytes never leave the page.
 */
async function openUserModule(name: string, bytes: Promise<ArrayBuffer>, sweep = true): Promise<void> {
  const data: Uint8Array<ArrayBuffer> = new Uint8Array(await bytes);
  if (!WebAssembly.validate(data)) throw new Error(`${name} is not a WebAssembly binary module (.wasm)`);
  const id = `user:${name}`;
  const fixture: DemoFixture = {
    id,
    title: `${name} (your module)`,
    description: `${name}, opened from your disk: run as a WASI command with argv [${JSON.stringify(name)}], no files, empty stdin.`,
    file: id,
    run: { kind: "command", args: [name] },
  };
  bytesCache.set(id, data);
  fixtures = [...fixtures.filter((f) => f.id !== id), fixture];
  if (ui.fixture.querySelector(`option[value="${CSS.escape(id)}"]`) === null) {
    ui.fixture.insertAdjacentHTML("beforeend", `<option value="${escapeHtml(id)}">${escapeHtml(fixture.title)}</option>`);
  }
  ui.fixture.value = id;
  ui.description.textContent = fixture.description;
  await runSelected(sweep);
}

/** What the page shows and what the engine reports, for the browser tests. */
function writeResult(extra: Record<string, unknown>): void {
  const run = outcome;
  const { layout, shownKinds } = view;
  const result =
    run === null || run.timeline === null || layout === null || shownKinds === null
      ? { ...extra }
      : {
          fixture: run.fixture.id,
          pageSize: run.pageSize,
          exitCode: run.exitCode,
          error: run.error,
          invariantError: run.invariantError,
          stdout: run.stdout,
          files: run.files,
          calls: run.records.length,
          steps: run.timeline.steps.length,
          stride: run.stride,
          inWorker: run.mman === undefined,
          layout,
          engineKindCounts: countKinds(run.kinds),
          shownStep: view.step,
          // The engine's map at the end, one digit per page, for checks done outside the page.
          engineKinds: Array.from(run.kinds, (k) => (k === OUTSIDE ? "-" : String(k))).join(""),
          canvasCellCounts: readBackCells($<HTMLCanvasElement>("map"), layout),
          fault: run.fault,
          faultCell: view.faultCell(layout),
          stats: run.stats,
          sweep: sweepPoints,
          ...extra,
        };
  ui.result.textContent = JSON.stringify(result);
}

async function main(): Promise<void> {
  const response = await fetch("fixtures.json");
  fixtures = ((await response.json()) as DemoFixture[]).filter((f) => f.hidden !== true);
  ui.fixture.innerHTML = fixtures.map((f) => `<option value="${f.id}">${escapeHtml(f.title)}</option>`).join("");
  ui.pageSize.innerHTML = PAGE_SIZES.map((size) => `<option value="${size}">${size / 1024} KiB</option>`).join("");
  const describe = (): void => {
    ui.description.textContent = fixtures.find((f) => f.id === ui.fixture.value)?.description ?? "";
  };
  ui.fixture.addEventListener("change", describe);
  ui.controls.addEventListener("submit", (event) => {
    event.preventDefault();
    runSelected(true).catch((error: unknown) => setStatus(String(error), true));
  });
  // A module of the user's own: the picker, or a file dropped anywhere on the page.
  const open = (file: File | undefined): void => {
    if (file === undefined) return;
    openUserModule(file.name, file.arrayBuffer()).then(
      () => writeResult({ status: "done" }),
      (error: unknown) => {
        setStatus(String(error), true);
        writeResult({ status: "error", message: String(error) });
      },
    );
  };
  ui.open.addEventListener("change", () => open(ui.open.files?.[0]));
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    open(event.dataTransfer?.files[0]);
  });

  const params = new URLSearchParams(location.search);
  if (params.get("worker") === "0") useWorker = false;
  if (params.get("guard") === "1") ui.guard.checked = true;
  const autorun = params.get("autorun");
  const page = params.get("page");
  if (page !== null) ui.pageSize.value = page;
  if (autorun !== null) ui.fixture.value = autorun;
  else ui.fixture.value = fixtures[0]?.id ?? "";
  describe();
  setStatus("pick a program and a page size, then Run, or open a module of your own");
  // `wasi-mman demo prog.wasm` serves the module and opens the page with ?module=<its URL>.
  const preload = params.get("module");
  if (preload !== null) {
    try {
      const response = await fetch(preload);
      if (!response.ok) throw new Error(`could not load ${preload}: HTTP ${response.status}`);
      await openUserModule(decodeURIComponent(preload.split("/").pop() ?? "module.wasm"), response.arrayBuffer(), params.get("sweep") !== "0");
      writeResult({ status: "done" });
    } catch (error) {
      setStatus(String(error), true);
      writeResult({ status: "error", message: String(error) });
    }
    return;
  }
  if (autorun === null) return;
  try {
    if (!fixtures.some((f) => f.id === autorun)) throw new Error(`no fixture "${autorun}" (have: ${fixtures.map((f) => f.id).join(", ")})`);
    if (!PAGE_SIZES.some((size) => String(size) === (page ?? "4096"))) throw new Error(`page size ${page} is not offered`);
    await runSelected(params.get("sweep") !== "0");
    writeResult({ status: "done" });
  } catch (error) {
    setStatus(String(error), true);
    writeResult({ status: "error", message: String(error) });
  }
}

main().catch((error: unknown) => {
  setStatus(`the page failed to start: ${String(error)}`, true);
  ui.result.textContent = JSON.stringify({ status: "error", message: String(error) });
});

// For the console: the last run (outcome.mman is the live engine when run with ?worker=0).
Object.assign(globalThis, { wasiMmanDemo: { get outcome(): RunOutcome | null { return outcome; }, get records(): TraceRecord[] { return outcome?.records ?? []; } } });
