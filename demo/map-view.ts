/**
 * The memory map as the page shows it: the canvas, its legend, the stepper through the
 * recorded steps, the call of each step and the call log around it. The demo page
 * (demo/demo.ts) and the `wasi-mman run --html` report (demo/report.ts) both show a run this
 * way. The view fills <section id="map-panel"> itself; the call log is <div id="log"> of the
 * page (index.html, cli/run-html.ts).
 */
import { straceLine, type TraceRecord } from "../browser.js";
import { OUTSIDE, type Timeline } from "../cli/map-steps.js";
import { cellAt, cellKinds, countKinds, drawMap, FAULT_RGB, KINDS, layoutMap, type MapLayout } from "./map.js";

/** What the view shows: a recorded run. */
export interface ShownRun {
  pageSize: number;
  timeline: Timeline;
  /** The calls, in order (a report may hold only the first of them: `recordCount` says how many were made). */
  records: readonly TraceRecord[];
  recordCount?: number;
  /** The access a `--guard` run stopped at: its page is drawn in red at every step. */
  fault?: { page: number; text: string } | null;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
}

export const hex = (value: number): string => `0x${value.toString(16)}`;

/** What the view draws into <section id="map-panel">: the map, its legend, the stepper. */
const MAP_PANEL = `
<h2>Memory map <small id="map-caption"></small></h2>
<ul id="legend"></ul>
<div id="map-box"><canvas id="map" width="1" height="1"></canvas></div>
<p id="hover">&nbsp;</p>
<div id="stepper">
  <button id="first" type="button" title="before the first call">|◀</button>
  <button id="prev" type="button" title="previous call">◀</button>
  <button id="play" type="button" title="play the trace">▶ play</button>
  <button id="next" type="button" title="next call">▶</button>
  <button id="last" type="button" title="after the last call">▶|</button>
  <input id="step" type="range" min="0" max="0" value="0" aria-label="step">
  <span id="step-label"></span>
</div>
<pre id="step-call"></pre>`;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`map view: no element #${id}`);
  return found as T;
}

/** The call log: a window of lines around the current call (a long trace is not all in the DOM). */
const LOG_WINDOW = 400;

/** Fills <section id="map-panel"> (the view's elements are then found by id). */
function mountPanel(): void {
  element("map-panel").innerHTML = MAP_PANEL;
}

export class MapView {
  private readonly ui = (mountPanel(), {
    legend: element("legend"),
    mapBox: element("map-box"),
    canvas: element<HTMLCanvasElement>("map"),
    mapCaption: element("map-caption"),
    hover: element("hover"),
    step: element<HTMLInputElement>("step"),
    stepLabel: element("step-label"),
    stepCall: element("step-call"),
    play: element<HTMLButtonElement>("play"),
    log: element("log"),
  });
  private run: ShownRun | null = null;
  /** The layout drawn last, the kinds it showed, the step shown. */
  layout: MapLayout | null = null;
  shownKinds: Uint8Array | null = null;
  step = 0;
  private playing = false;

  constructor() {
    this.renderLegend(null);
    this.ui.step.addEventListener("input", () => this.goTo(Number(this.ui.step.value)));
    element("first").addEventListener("click", () => this.goTo(0));
    element("prev").addEventListener("click", () => this.goTo(this.step - 1));
    element("next").addEventListener("click", () => this.goTo(this.step + 1));
    element("last").addEventListener("click", () => this.goTo(Number.MAX_SAFE_INTEGER));
    this.ui.play.addEventListener("click", () => this.togglePlay());
    this.ui.log.addEventListener("click", (event) => {
      const line = (event.target as HTMLElement).closest<HTMLElement>("[data-record]");
      const timeline = this.run?.timeline;
      if (line === null || timeline === undefined) return;
      const record = Number(line.dataset.record);
      // The first step that covers this call.
      const found = timeline.steps.findIndex((s) => s.lastRecord >= record);
      this.goTo(found < 0 ? timeline.steps.length - 1 : found);
    });
    document.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLSelectElement || event.target instanceof HTMLInputElement) return;
      if (event.key === "ArrowRight") this.goTo(this.step + 1);
      if (event.key === "ArrowLeft") this.goTo(this.step - 1);
    });
    this.ui.canvas.addEventListener("mousemove", (event) => this.hover(event));
    let resizeTimer = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => {
        this.layout = null;
        this.draw();
      }, 100);
    });
  }

  /** Shows a run at its last step. */
  show(run: ShownRun): void {
    this.stop();
    this.run = run;
    this.layout = null;
    this.step = run.timeline.steps.length - 1;
    this.draw();
  }

  /** Stops playing (a new run is about to be shown). */
  stop(): void {
    this.playing = false;
    this.ui.play.textContent = "▶ play";
  }

  goTo(target: number): void {
    if (this.run === null) return;
    this.step = Math.max(0, Math.min(target, this.run.timeline.steps.length - 1));
    this.draw();
  }

  togglePlay(): void {
    const run = this.run;
    if (run === null) return;
    this.playing = !this.playing;
    this.ui.play.textContent = this.playing ? "⏸ pause" : "▶ play";
    if (!this.playing) return;
    const last = run.timeline.steps.length - 1;
    if (this.step >= last) this.step = 0;
    // About ten seconds for any trace: long traces advance several steps per frame.
    const perFrame = Math.max(1, Math.ceil(last / 600));
    const tick = (): void => {
      if (!this.playing || this.run !== run) return;
      this.goTo(this.step + perFrame);
      if (this.step >= last) {
        this.stop();
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  renderLegend(counts: Record<string, number> | null): void {
    const items = KINDS.map((k) => {
      const count = counts === null ? "" : String(counts[k.name]);
      return `<li data-kind="${k.name}" title="${k.name}"><span class="swatch" style="background: rgb(${k.rgb.join(",")})"></span>${k.label} <span class="count">${count}</span></li>`;
    });
    const fault = this.run?.fault;
    if (fault != null) {
      items.push(`<li data-kind="FAULT" title="${escapeHtml(fault.text)}"><span class="swatch" style="background: rgb(${FAULT_RGB.join(",")})"></span>guard fault <span class="count">page ${fault.page}</span></li>`);
    }
    this.ui.legend.innerHTML = items.join("");
  }

  /** The cell of the faulting page in `layout`, or -1. */
  faultCell(layout: MapLayout): number {
    const fault = this.run?.fault;
    return fault == null || fault.page >= layout.pages ? -1 : Math.floor(fault.page / layout.groupSize);
  }

  private draw(): void {
    const run = this.run;
    if (run === null) return;
    const { timeline, ui } = { timeline: run.timeline, ui: this.ui };
    const kinds = timeline.at(this.step);
    const width = Math.max(200, Math.floor(ui.mapBox.clientWidth));
    const layout = this.layout;
    if (layout === null || layout.pages !== timeline.pages || layout.cols * layout.cellPx > width || layout.cols * layout.cellPx < width - 40) {
      this.layout = layoutMap(timeline.pages, width);
    }
    const shown = this.layout as MapLayout;
    this.shownKinds = kinds;
    drawMap(ui.canvas, cellKinds(kinds, shown), shown, this.faultCell(shown));
    this.renderLegend(countKinds(kinds));
    const steps = timeline.steps.length - 1;
    ui.step.max = String(steps);
    ui.step.value = String(this.step);
    const lastRecord = timeline.steps[this.step].lastRecord;
    ui.stepLabel.textContent = `step ${this.step} of ${steps}`;
    const record = run.records[lastRecord] as TraceRecord | undefined;
    ui.stepCall.textContent = timeline.steps[this.step].end
      ? "at the end of the run: memory the program grew itself after its last call"
      : lastRecord < 0
        ? "before the first call (the module image and the memory it started with)"
        : record === undefined
          ? `after call #${lastRecord + 1} (not kept in this report)`
          : `after #${record.seq}: ${straceLine(record)}`;
    const grouped = shown.groupSize > 1 ? `, one cell = ${shown.groupSize} pages (colour of the commonest kind)` : ", one cell = one page";
    ui.mapCaption.textContent = `${timeline.pages.toLocaleString("en-US")} pages of ${run.pageSize / 1024} KiB${grouped}`;
    this.renderLog();
  }

  private renderLog(): void {
    const run = this.run;
    if (run === null) return;
    const records = run.records;
    const lastDone = run.timeline.steps[this.step]?.lastRecord ?? -1;
    const from = Math.max(0, Math.min(lastDone - LOG_WINDOW / 2, records.length - LOG_WINDOW));
    const to = Math.min(records.length, from + LOG_WINDOW);
    const lines: string[] = [];
    if (from > 0) lines.push(`<div class="more">… ${from} earlier calls</div>`);
    for (let i = from; i < to; i++) {
      const record = records[i];
      const classes = ["line", record.errno !== null ? "failed" : "", i === lastDone ? "current" : "", i > lastDone ? "future" : ""].join(" ");
      lines.push(`<div class="${classes}" data-record="${i}">${String(record.seq).padStart(5)}  ${escapeHtml(straceLine(record))}</div>`);
    }
    const later = (run.recordCount ?? records.length) - to;
    if (later > 0) lines.push(`<div class="more">… ${later} later calls${to === records.length ? " (not kept)" : ""}</div>`);
    this.ui.log.innerHTML = lines.join("");
    const current = this.ui.log.querySelector<HTMLElement>(".current");
    if (current !== null) this.ui.log.scrollTop = current.offsetTop - this.ui.log.clientHeight / 2;
  }

  private hover(event: MouseEvent): void {
    const { run, layout, shownKinds } = this;
    if (run === null || layout === null || shownKinds === null) return;
    const cell = cellAt(this.ui.canvas, layout, event.clientX, event.clientY);
    if (cell < 0) {
      this.ui.hover.textContent = "\u00a0";
      return;
    }
    const first = cell * layout.groupSize;
    const last = Math.min(layout.pages, first + layout.groupSize) - 1;
    const kind = shownKinds[first];
    const what = layout.groupSize === 1 ? (kind === OUTSIDE ? "not yet in memory" : KINDS[kind].name) : `${layout.groupSize} pages`;
    const range = first === last ? `page ${first}` : `pages ${first}..${last}`;
    const fault = cell === this.faultCell(layout) ? ` (the guard fault: ${run.fault?.text.split("\n")[0].replace(/^wasi-mman guard: /, "")})` : "";
    this.ui.hover.textContent = `${range} at ${hex(first * run.pageSize)}: ${what}${fault}`;
  }
}
