/**
 * The demo page: runs a fixture with browser_wasi_shim and the memory calls, then shows its
 * memory map (step by step through the trace), the calls, the statistics and a chart across
 * page sizes.
 *
 * `?autorun=<fixture>&page=<size>` runs a fixture as soon as the page loads (add `&sweep=0`
 * to skip the page-size chart) and writes what the page showed and what the engine reported
 * into <pre id="result"> as JSON, with "status": "done" once everything is drawn. The browser
 * tests read it (test/browser-chromium.test.ts).
 */
import { straceLine, type MmanStats, type TraceRecord } from "../browser.js";
import { PAGE_SIZES, type DemoFixture } from "./catalogue.js";
import { sweepChart, type SweepPoint } from "./chart.js";
import { cellAt, cellKinds, countKinds, drawMap, KINDS, layoutMap, readBackCells, type MapLayout } from "./map.js";
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
  run: $<HTMLButtonElement>("run"),
  controls: $<HTMLFormElement>("controls"),
  status: $("status"),
  description: $("description"),
  legend: $("legend"),
  mapBox: $("map-box"),
  canvas: $<HTMLCanvasElement>("map"),
  mapCaption: $("map-caption"),
  hover: $("hover"),
  step: $<HTMLInputElement>("step"),
  stepLabel: $("step-label"),
  stepCall: $("step-call"),
  play: $<HTMLButtonElement>("play"),
  log: $("log"),
  logCaption: $("log-caption"),
  stdout: $("stdout"),
  stats: $<HTMLTableElement>("stats"),
  statsCaption: $("stats-caption"),
  chart: $("chart"),
  chartCaption: $("chart-caption"),
  sweep: $<HTMLTableElement>("sweep"),
  result: $("result"),
};

let fixtures: DemoFixture[] = [];
let outcome: RunOutcome | null = null;
let layout: MapLayout | null = null;
let shownKinds: Uint8Array | null = null;
let step = 0;
let playing = false;
let useWorker = typeof Worker === "function";

function setStatus(text: string, bad = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle("bad", bad);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
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
const hex = (value: number): string => `0x${value.toString(16)}`;

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
// Drawing

function renderLegend(counts: Record<string, number> | null): void {
  ui.legend.innerHTML = KINDS.map((k) => {
    const count = counts === null ? "" : String(counts[k.name]);
    return `<li data-kind="${k.name}" title="${k.name}"><span class="swatch" style="background: rgb(${k.rgb.join(",")})"></span>${k.label} <span class="count">${count}</span></li>`;
  }).join("");
}

function renderStats(stats: MmanStats): void {
  const rows = STAT_ROWS.map(
    ([key, label, show]) => `<tr data-stat="${key}"><th>${label}</th><td>${escapeHtml(show(statValue(stats, key)))}</td></tr>`,
  );
  const calls = Object.entries(stats.calls)
    .filter(([, count]) => count > 0)
    .map(([name, count]) => `<tr data-stat="calls.${name}"><th>${name} calls (failed)</th><td>${count} (${stats.errors[name as keyof MmanStats["errors"]]})</td></tr>`);
  ui.stats.innerHTML = `<tbody>${[...rows, ...calls].join("")}</tbody>`;
}

/** The call log: a window of lines around the current call (a long trace is not all in the DOM). */
const LOG_WINDOW = 400;
function renderLog(): void {
  if (outcome === null || outcome.timeline === null) return;
  const records = outcome.records;
  const lastDone = outcome.timeline.steps[step]?.lastRecord ?? -1;
  const from = Math.max(0, Math.min(lastDone - LOG_WINDOW / 2, records.length - LOG_WINDOW));
  const to = Math.min(records.length, from + LOG_WINDOW);
  const lines: string[] = [];
  if (from > 0) lines.push(`<div class="more">… ${from} earlier calls</div>`);
  for (let i = from; i < to; i++) {
    const record = records[i];
    const classes = ["line", record.errno !== null ? "failed" : "", i === lastDone ? "current" : "", i > lastDone ? "future" : ""].join(" ");
    lines.push(`<div class="${classes}" data-record="${i}">${String(record.seq).padStart(5)}  ${escapeHtml(straceLine(record))}</div>`);
  }
  if (to < records.length) lines.push(`<div class="more">… ${records.length - to} later calls</div>`);
  ui.log.innerHTML = lines.join("");
  const current = ui.log.querySelector<HTMLElement>(".current");
  if (current !== null) ui.log.scrollTop = current.offsetTop - ui.log.clientHeight / 2;
}

function drawStep(): void {
  if (outcome === null || outcome.timeline === null) return;
  const timeline = outcome.timeline;
  const kinds = timeline.at(step);
  const width = Math.max(200, Math.floor(ui.mapBox.clientWidth));
  if (layout === null || layout.pages !== timeline.pages || layout.cols * layout.cellPx > width || layout.cols * layout.cellPx < width - 40) {
    layout = layoutMap(timeline.pages, width);
  }
  shownKinds = kinds;
  drawMap(ui.canvas, cellKinds(kinds, layout), layout);
  renderLegend(countKinds(kinds));
  const steps = timeline.steps.length - 1;
  ui.step.max = String(steps);
  ui.step.value = String(step);
  const lastRecord = timeline.steps[step].lastRecord;
  ui.stepLabel.textContent = `step ${step} of ${steps}`;
  ui.stepCall.textContent = timeline.steps[step].end
    ? "at the end of the run: memory the program grew itself after its last call"
    : lastRecord < 0
      ? "before the first call (the module image and the memory it started with)"
      : `after #${outcome.records[lastRecord].seq}: ${straceLine(outcome.records[lastRecord])}`;
  const grouped = layout.groupSize > 1 ? `, one cell = ${layout.groupSize} pages (colour of the commonest kind)` : ", one cell = one page";
  ui.mapCaption.textContent = `${timeline.pages.toLocaleString("en-US")} pages of ${outcome.pageSize / 1024} KiB${grouped}`;
  renderLog();
}

function goTo(target: number): void {
  if (outcome?.timeline == null) return;
  step = Math.max(0, Math.min(target, outcome.timeline.steps.length - 1));
  drawStep();
}

function togglePlay(): void {
  if (outcome?.timeline == null) return;
  playing = !playing;
  ui.play.textContent = playing ? "⏸ pause" : "▶ play";
  if (!playing) return;
  const last = outcome.timeline.steps.length - 1;
  if (step >= last) step = 0;
  // About ten seconds for any trace: long traces advance several steps per frame.
  const perFrame = Math.max(1, Math.ceil(last / 600));
  const tick = (): void => {
    if (!playing) return;
    goTo(step + perFrame);
    if (step >= last) {
      playing = false;
      ui.play.textContent = "▶ play";
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function problemOf(run: RunOutcome): string | null {
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
function run(fixture: DemoFixture, bytes: Uint8Array<ArrayBuffer>, pageSize: number, record: boolean): Promise<RunOutcome> {
  if (!useWorker) return runFixture(fixture, bytes, pageSize, record);
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
    const request: WorkerRequest = { fixture, bytes, pageSize, record };
    worker.postMessage(request);
  });
}

async function runSelected(sweep: boolean): Promise<void> {
  const fixture = fixtures.find((f) => f.id === ui.fixture.value);
  if (fixture === undefined) throw new Error(`no fixture "${ui.fixture.value}"`);
  const pageSize = Number(ui.pageSize.value);
  playing = false;
  ui.play.textContent = "▶ play";
  ui.run.disabled = true;
  try {
    setStatus(`running ${fixture.id} at ${pageSize / 1024} KiB pages…`);
    const bytes = await fixtureBytes(fixture);
    const started = performance.now();
    outcome = await run(fixture, bytes, pageSize, true);
    const elapsed = performance.now() - started;
    layout = null;
    step = (outcome.timeline?.steps.length ?? 1) - 1;
    drawStep();
    renderStats(outcome.stats);
    ui.statsCaption.textContent = `after the run, ${pageSize / 1024} KiB pages`;
    const strideNote = outcome.stride > 1 ? `; the map was taken every ${outcome.stride} calls towards the end` : "";
    ui.logCaption.textContent = `${outcome.records.length} calls${strideNote}`;
    const fileNote = Object.entries(outcome.files).map(([name, text]) => `\n[${name} after the run] ${text}`).join("");
    ui.stdout.textContent = outcome.stdout + fileNote;
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

/** What the page shows and what the engine reports, for the browser tests. */
function writeResult(extra: Record<string, unknown>): void {
  const run = outcome;
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
          shownStep: step,
          // The engine's map at the end, one digit per page, for checks done outside the page.
          engineKinds: Array.from(run.kinds, (k) => (k === OUTSIDE ? "-" : String(k))).join(""),
          canvasCellCounts: readBackCells(ui.canvas, layout),
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
  renderLegend(null);

  ui.controls.addEventListener("submit", (event) => {
    event.preventDefault();
    runSelected(true).catch((error: unknown) => setStatus(String(error), true));
  });
  ui.step.addEventListener("input", () => goTo(Number(ui.step.value)));
  $("first").addEventListener("click", () => goTo(0));
  $("prev").addEventListener("click", () => goTo(step - 1));
  $("next").addEventListener("click", () => goTo(step + 1));
  $("last").addEventListener("click", () => goTo(Number.MAX_SAFE_INTEGER));
  ui.play.addEventListener("click", togglePlay);
  ui.log.addEventListener("click", (event) => {
    const line = (event.target as HTMLElement).closest<HTMLElement>("[data-record]");
    const timeline = outcome?.timeline;
    if (line === null || timeline == null) return;
    const record = Number(line.dataset.record);
    // The first step that covers this call.
    const found = timeline.steps.findIndex((s) => s.lastRecord >= record);
    goTo(found < 0 ? timeline.steps.length - 1 : found);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLSelectElement || event.target instanceof HTMLInputElement) return;
    if (event.key === "ArrowRight") goTo(step + 1);
    if (event.key === "ArrowLeft") goTo(step - 1);
  });
  ui.canvas.addEventListener("mousemove", (event) => {
    if (outcome === null || layout === null || shownKinds === null) return;
    const cell = cellAt(ui.canvas, layout, event.clientX, event.clientY);
    if (cell < 0) {
      ui.hover.textContent = "\u00a0";
      return;
    }
    const first = cell * layout.groupSize;
    const last = Math.min(layout.pages, first + layout.groupSize) - 1;
    const kind = shownKinds[first];
    const what = layout.groupSize === 1 ? (kind === OUTSIDE ? "not yet in memory" : KINDS[kind].name) : `${layout.groupSize} pages`;
    const range = first === last ? `page ${first}` : `pages ${first}..${last}`;
    ui.hover.textContent = `${range} at ${hex(first * outcome.pageSize)}: ${what}`;
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      layout = null;
      drawStep();
    }, 100);
  });

  const params = new URLSearchParams(location.search);
  if (params.get("worker") === "0") useWorker = false;
  const autorun = params.get("autorun");
  const page = params.get("page");
  if (page !== null) ui.pageSize.value = page;
  if (autorun !== null) ui.fixture.value = autorun;
  else ui.fixture.value = fixtures[0]?.id ?? "";
  describe();
  setStatus("pick a program and a page size, then Run");
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
