/**
 * `wasi-mman run --html FILE`: one self-contained HTML file about the user's own run, which
 * opens offline and references nothing outside itself:
 *
 *   the memory map, stepped through the trace   canvas, legend, stepper, call log (the demo's
 *                                              view, demo/map-view.ts, bundled at build time
 *                                              into dist/demo/report.js and inlined here)
 *   the statistics                             the table `--stats` prints
 *   mapped vs requested bytes and linear memory over the run (inline SVG)
 *
 * The run's data rides in a <script type="application/json">: the map steps (only the runs
 * of pages that changed, cli/map-steps.ts), and the calls, at most RECORD_LIMIT of them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CALL_NAMES, type TraceRecord } from "../syscalls/calls.js";
import type { Mman, MmanStats } from "../syscalls/create-mman.js";
import { UsageError } from "./args.js";
import { packageRoot } from "./cc.js";
import { documentStart, escapeHtml, lineChart } from "./compare-html.js";
import type { Sample } from "./compare-report.js";
import { Timeline as SampleTimeline } from "./compare-timeline.js";
import { formatStats } from "./format.js";
import { MapRecorder, type Timeline } from "./map-steps.js";
import type { RunFault, RunReportData } from "./run-report-data.js";

/** Calls kept for the call log; a longer run's map is still stepped through to its end. */
export const RECORD_LIMIT = 100_000;

export interface RunReport {
  module: string;
  args: string[];
  pageSize: number;
  /** How the run ended: `exit code 0`, `trapped (exit code 134): unreachable`, `interrupted (SIGINT)`. */
  ending: string;
  /** The notice lines the run printed (nothing tracked, out of memory). */
  notices: string[];
  stats: MmanStats;
  timeline: Timeline;
  stride: number;
  records: readonly TraceRecord[];
  recordCount: number;
  samples: Sample[];
  /** The fault `--guard` stopped the run at, or null. */
  fault: RunFault | null;
}

/** The viewer script and the page's style sheet, from the built package (npm run build). */
export interface ReportAssets {
  viewer: string;
  css: string;
}

/** Reads the built viewer; a missing build is a usage error (before the run). */
export function reportAssets(): ReportAssets {
  const dir = join(packageRoot(), "dist", "demo");
  const viewer = join(dir, "report.js");
  const css = join(dir, "style.css");
  if (!existsSync(viewer) || !existsSync(css)) throw new UsageError(`--html: the report's viewer is not built (${viewer}); run npm run build`);
  return { viewer: readFileSync(viewer, "utf8"), css: readFileSync(css, "utf8") };
}

/** Text that may stand inside a <script> element: no `</script` and no `<!--` can end it early. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

function reportData(report: RunReport): RunReportData {
  const callIndex = new Map<string, number>(CALL_NAMES.map((name, index) => [name, index]));
  return {
    pageSize: report.pageSize,
    pages: report.timeline.pages,
    steps: report.timeline.steps.map((step) => [step.lastRecord, step.end === true ? 1 : 0, Array.from(step.changes)]),
    records: report.records.map((record) => [callIndex.get(record.call) ?? 0, record.args, record.result, record.errno]),
    recordCount: report.recordCount,
    stride: report.stride,
    fault: report.fault,
  };
}

/** The report as one HTML document. */
export function renderRunHtml(report: RunReport, assets: ReportAssets): string {
  const title = `wasi-mman run: ${report.module}`;
  const args = report.args.length > 0 ? ` with arguments <code>${escapeHtml(report.args.join(" "))}</code>` : "";
  const notices = report.notices.map((line) => `<p class="notice">${escapeHtml(line)}</p>`).join("\n");
  const chart = lineChart("Mapped and requested bytes, and linear memory, over the run", [
    { name: "mapped", samples: report.samples, key: "mappedBytes" },
    { name: "requested", samples: report.samples, key: "requestedBytes", dashed: true },
    { name: "linear memory", samples: report.samples, key: "linearMemoryBytes" },
  ]);
  const fault =
    report.fault === null
      ? ""
      : `
  <section id="fault-panel">
    <h2>Guard fault <small>the access --guard stopped the run at; its page is red in the map</small></h2>
    <pre id="fault-text">${escapeHtml(report.fault.text)}</pre>
  </section>`;
  const stride = report.stride > 1 ? `; the map was taken every ${report.stride} calls towards the end` : "";
  const kept = report.records.length < report.recordCount ? `; the first ${report.records.length.toLocaleString("en-US")} are listed` : "";
  const style = `
${assets.css}
.notice { color: var(--bad); font-size: 13px; margin: 4px 0; }
#timeline svg { width: 100%; max-width: 640px; height: auto; font: 12px system-ui, sans-serif; }
#timeline .grid { stroke: var(--line); } #timeline .tick { fill: var(--muted); } #timeline .title { font-weight: 600; }
#stats-text { font-size: 12px; margin: 0; }
#fault-panel { border-left: 4px solid var(--bad); padding-left: 12px; }
#fault-text { font-size: 12px; margin: 0; white-space: pre-wrap; }`;
  return `${documentStart(title, style)}
<header>
  <h1>wasi-mman <span>run report</span></h1>
  <p id="description"><code>${escapeHtml(report.module)}</code>${args}, ${report.pageSize / 1024} KiB pages: ${escapeHtml(report.ending)}, ${report.recordCount.toLocaleString("en-US")} memory calls.</p>
  ${notices}
</header>
<main>${fault}
  <section id="map-panel"></section>
  <section id="log-panel">
    <h2>Calls <small>${report.recordCount.toLocaleString("en-US")} calls${escapeHtml(stride + kept)}</small></h2>
    <div id="log" tabindex="0"></div>
  </section>
  <section id="stats-panel">
    <h2>Statistics <small>at exit</small></h2>
    <pre id="stats-text">${escapeHtml(formatStats(report.stats))}</pre>
  </section>
  <section id="chart-panel">
    <h2>Over the run <small>x: memory calls made so far</small></h2>
    <div id="timeline">${chart}</div>
  </section>
</main>
<footer>Written by wasi-mman run --html; opens offline, references nothing outside this file.</footer>
<pre id="result" hidden></pre>
<script type="application/json" id="report-data">${scriptSafe(JSON.stringify(reportData(report)))}</script>
<script type="module">
${scriptSafe(assets.viewer)}
</script>
</body>
</html>
`;
}

/**
 * Collects what the report needs while the module runs: the calls (up to RECORD_LIMIT), the
 * map steps, and the timeline of mapped, requested and linear memory.
 */
export class RunRecording {
  readonly records: TraceRecord[] = [];
  recordCount = 0;
  private readonly map: MapRecorder;
  private readonly samples = new SampleTimeline(1000);

  constructor(private readonly mman: () => Mman) {
    this.map = new MapRecorder(() => this.mman().space.pageKinds());
  }

  /** Once the calls are attached, before `_start`. */
  start(): void {
    this.map.start();
  }

  /** From the trace hook, after each call. */
  observe(record: TraceRecord): void {
    this.recordCount++;
    if (this.records.length < RECORD_LIMIT) this.records.push(record);
    this.map.afterCall();
    const stats = this.mman().stats();
    this.samples.add(record.time, stats.mappedBytes, stats.requestedBytes, stats.linearMemoryBytes);
  }

  /** The report, once the module has ended. */
  finish(report: Pick<RunReport, "module" | "args" | "ending" | "notices" | "fault">): RunReport {
    this.map.finish();
    const stats = this.mman().stats();
    return {
      ...report,
      pageSize: stats.pageSize,
      stats,
      timeline: this.map.timeline,
      stride: this.map.stride,
      records: this.records,
      recordCount: this.recordCount,
      samples: this.samples.finish(0, stats.mappedBytes, stats.requestedBytes, stats.linearMemoryBytes),
    };
  }
}
