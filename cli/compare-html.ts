/**
 * The `wasi-mman compare --html FILE` report: one self-contained HTML file that opens
 * offline. Styles are inline, charts are inline SVG, and there is no script and no external
 * reference of any kind (no URLs, fonts or images; inline SVG in HTML needs no xmlns), so it can be mailed or archived as is.
 *
 * Charts:
 *   wastage per page size      bars: at the peak, and over all mappings
 *   memory per page size       bars: peak linear memory, mapped at peak, requested at peak
 *   mapped vs requested        over the run (x: memory calls made so far), all page sizes on
 *                              one chart, then one chart per page size; from the samples the
 *                              trace hook took (see compare-timeline.ts)
 */
import { compareTableRows, describeAgreement, differences, exactBytes, pageLabel, runLabel, type CompareRun, type Sample } from "./compare-report.js";
import type { Recommendation } from "./compare-advice.js";
import { sizeTableRows, type SyntheticResult } from "./compare-synthetic.js";
import { formatBytes, formatPercent } from "./format.js";

/** What the report shows: the same object `--json` prints. */
export interface HtmlReportInput {
  mode: "module" | "synthetic";
  module?: string;
  args?: string[];
  sizes?: SyntheticResult["sizes"];
  perSize?: SyntheticResult["perSize"];
  ignoreOutput?: boolean;
  recommendation: Recommendation | null;
  runs: CompareRun[];
}

const COLORS = ["#3b6ea8", "#d0812c", "#5a9e4b", "#8b5fa8", "#b8474a", "#6b6b6b"];
/** The requested-bytes line on the chart of every page size. */
const REQUESTED_COLOR = "#222222";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** Rounds a number for SVG coordinates (keeps the file small and diffable). */
function n(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** A "nice" axis step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to max. */
function niceStep(max: number, ticks = 5): number {
  if (max <= 0) return 1;
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

/** An axis for byte values: steps that are round in the unit the maximum is written in. */
function byteAxis(max: number): { step: number; top: number } {
  const unit = max >= 1024 ** 3 ? 1024 ** 3 : max >= 1024 ** 2 ? 1024 ** 2 : max >= 1024 ? 1024 : 1;
  const step = niceStep(max / unit) * unit;
  return { step, top: Math.max(step, Math.ceil(max / step) * step) };
}

function plainAxis(max: number): { step: number; top: number } {
  const step = niceStep(max);
  return { step, top: Math.max(step, Math.ceil(max / step) * step) };
}

interface Series {
  name: string;
  values: number[];
}

const WIDTH = 640;
const HEIGHT = 260;
const MARGIN = { left: 78, right: 16, top: 30, bottom: 44 };

const LEGEND_ROW = 16;

/** The legend below the plot, wrapped into rows; returns the markup and the height it adds. */
function legend(names: readonly string[], colors: readonly string[] = COLORS): { markup: string; extraHeight: number } {
  let x = MARGIN.left;
  let row = 0;
  const items = names.map((name, i) => {
    const width = 24 + name.length * 7;
    if (x + width > WIDTH - MARGIN.right && x > MARGIN.left) {
      x = MARGIN.left;
      row++;
    }
    const y = HEIGHT - 8 + row * LEGEND_ROW;
    const item = `<rect x="${n(x)}" y="${y - 9}" width="10" height="10" fill="${colors[i % colors.length]}"/><text x="${n(x + 14)}" y="${y}">${escapeHtml(name)}</text>`;
    x += width;
    return item;
  });
  return { markup: items.join(""), extraHeight: row * LEGEND_ROW };
}

/** Horizontal grid lines and labels for the y axis. */
function yGrid(axis: { step: number; top: number }, format: (value: number) => string): string {
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const parts: string[] = [];
  for (let value = 0; value <= axis.top + axis.step / 2; value += axis.step) {
    const y = MARGIN.top + plotHeight - (value / axis.top) * plotHeight;
    parts.push(`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${n(y)}" y2="${n(y)}"/>`);
    parts.push(`<text class="tick" x="${MARGIN.left - 6}" y="${n(y + 4)}" text-anchor="end">${escapeHtml(format(value))}</text>`);
  }
  return parts.join("");
}

/** Grouped bars: one group per label, one bar per series. */
export function barChart(title: string, labels: readonly string[], series: readonly Series[], kind: "bytes" | "ratio"): string {
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const axis = kind === "bytes" ? byteAxis(max) : plainAxis(Math.max(max, 0.01));
  const format = kind === "bytes" ? formatBytes : (value: number) => `${Math.round(value * 1000) / 10}%`;
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const groupWidth = plotWidth / labels.length;
  const barWidth = (groupWidth * 0.8) / series.length;
  const bars: string[] = [];
  labels.forEach((label, g) => {
    series.forEach((s, i) => {
      const value = s.values[g];
      const height = (value / axis.top) * plotHeight;
      const x = MARGIN.left + g * groupWidth + groupWidth * 0.1 + i * barWidth;
      const y = MARGIN.top + plotHeight - height;
      const text = kind === "bytes" ? formatBytes(value) : formatPercent(value);
      bars.push(
        `<rect x="${n(x)}" y="${n(y)}" width="${n(barWidth - 2)}" height="${n(height)}" fill="${COLORS[i % COLORS.length]}"><title>${escapeHtml(`${label}, ${s.name}: ${text}`)}</title></rect>`,
      );
    });
    bars.push(`<text class="tick" x="${n(MARGIN.left + (g + 0.5) * groupWidth)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${escapeHtml(label)}</text>`);
  });
  return svg(title, [yGrid(axis, format), ...bars].join(""), legend(series.map((s) => s.name)));
}

export interface LineSeries {
  name: string;
  samples: readonly Sample[];
  key: "mappedBytes" | "requestedBytes" | "linearMemoryBytes";
  dashed?: boolean;
  color?: string;
}

/**
 * Step lines over the run: x is the number of memory calls made so far (the same clock in
 * every run, unlike wall time, which includes warm-up and tracing), y is bytes.
 */
export function lineChart(title: string, series: readonly LineSeries[]): string {
  const value = (sample: Sample, key: LineSeries["key"]): number => sample[key] ?? 0;
  const axis = byteAxis(Math.max(1, ...series.flatMap((s) => s.samples.map((sample) => value(sample, s.key)))));
  const endCalls = Math.max(1, ...series.flatMap((s) => s.samples.map((sample) => sample.calls)));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (calls: number): number => MARGIN.left + (calls / endCalls) * plotWidth;
  const y = (bytes: number): number => MARGIN.top + plotHeight - (bytes / axis.top) * plotHeight;
  const colors = series.map((s, i) => s.color ?? COLORS[i % COLORS.length]);
  // A value holds until the next call changes it.
  const lines = series.map((s, i) => {
    const points: string[] = [];
    s.samples.forEach((sample, k) => {
      if (k > 0) points.push(`${n(x(sample.calls))},${n(y(value(s.samples[k - 1], s.key)))}`);
      points.push(`${n(x(sample.calls))},${n(y(value(sample, s.key)))}`);
    });
    const dash = s.dashed === true ? ' stroke-dasharray="5 3"' : "";
    return `<polyline fill="none" stroke="${colors[i]}" stroke-width="1.6"${dash} points="${points.join(" ")}"><title>${escapeHtml(s.name)}</title></polyline>`;
  });
  const xTicks =
    `<text class="tick" x="${MARGIN.left}" y="${HEIGHT - MARGIN.bottom + 16}">0</text>` +
    `<text class="tick" x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">memory calls</text>` +
    `<text class="tick" x="${WIDTH - MARGIN.right}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="end">${endCalls}</text>`;
  return svg(title, [yGrid(axis, formatBytes), ...lines, xTicks].join(""), legend(series.map((s) => s.name), colors));
}

function svg(title: string, body: string, key: { markup: string; extraHeight: number }): string {
  const height = HEIGHT + key.extraHeight;
  return (
    `<figure><svg viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${escapeHtml(title)}">` +
    `<text class="title" x="${MARGIN.left}" y="18">${escapeHtml(title)}</text>${body}${key.markup}</svg></figure>`
  );
}

function htmlTable(rows: readonly string[][]): string {
  const [header, ...body] = rows;
  const head = `<tr>${header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join("")}</tr>`;
  const lines = body.map((row) => `<tr>${row.map((cell, i) => (i === 0 ? `<th>${escapeHtml(cell)}</th>` : `<td>${escapeHtml(cell)}</td>`)).join("")}</tr>`);
  return `<table><thead>${head}</thead><tbody>${lines.join("")}</tbody></table>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }
td { text-align: right; font-variant-numeric: tabular-nums; } thead th { text-align: right; } th:first-child { text-align: left; }
figure { margin: 0.5em 0; } svg { max-width: 100%; height: auto; font: 12px system-ui, sans-serif; }
svg .grid { stroke: #e4e4e4; } svg .tick { fill: #555; } svg .title { font-weight: 600; }
.differ { color: #a33; } code { font-size: 0.95em; }
.recommendation { border-left: 4px solid #5a9e4b; padding: 0.3em 0.8em; background: #f3f8f1; }`;

/** A self-contained document's start, up to and including <body>: title and inline style. */
export function documentStart(title: string, style: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${style}
</style>
</head>
<body>`;
}

/** The report as one HTML document. */
export function renderCompareHtml(report: HtmlReportInput): string {
  const runs = report.runs;
  const labels = runs.map(runLabel);
  const compareOptions = { ignoreOutput: report.ignoreOutput === true };
  const advice =
    report.recommendation === null
      ? ""
      : `<h2>Recommendation</h2>\n<p class="recommendation">${report.recommendation.lines.map(escapeHtml).join("<br>\n")}</p>`;
  const what =
    report.mode === "module"
      ? `<p>Module <code>${escapeHtml(report.module ?? "")}</code>${report.args !== undefined && report.args.length > 0 ? ` with arguments <code>${escapeHtml(report.args.join(" "))}</code>` : ""}, run once per page size.</p>` +
        `<p class="${differences(runs, compareOptions).length > 0 ? "differ" : "agree"}">${describeAgreement(runs, compareOptions).split("\n").map(escapeHtml).join("<br>\n")}</p>`
      : `<p>Synthetic: each size mapped once (anonymous, private) per page size: ${escapeHtml((report.sizes ?? []).map(formatBytes).join(", "))}.</p>`;
  const perSize =
    report.mode === "synthetic" && report.perSize !== undefined
      ? `<h2>Wastage of each size (wasted of mapped)</h2>${htmlTable(sizeTableRows({ sizes: report.sizes ?? [], runs, perSize: report.perSize }))}`
      : "";
  const wastage = barChart("Wastage per page size", labels, [
    { name: "at peak", values: runs.map((run) => run.stats.peak.wastage) },
    { name: "all mappings", values: runs.map((run) => run.stats.cumulative.wastage) },
  ], "ratio");
  const memory = barChart("Memory per page size", labels, [
    { name: "peak linear memory", values: runs.map((run) => run.stats.peak.linearMemoryBytes) },
    { name: "mapped at peak", values: runs.map((run) => run.stats.peak.mappedBytes) },
    { name: "requested at peak", values: runs.map((run) => run.stats.peak.requestedBytes) },
  ], "bytes");
  // All page sizes on one chart (one chart per threshold), then one chart per run with its own scale.
  const thresholds = [...new Set(runs.map((run) => run.threshold))];
  const overlays = thresholds.map((threshold) => {
    const group = runs.filter((run) => run.threshold === threshold);
    const suffix = threshold === null ? "" : `, threshold ${exactBytes(threshold)}`;
    return lineChart(`Mapped bytes (solid) per page size, and requested bytes (dashed)${suffix}`, [
      ...group.map((run): LineSeries => ({ name: `mapped, ${pageLabel(run.pageSize)}`, samples: run.samples, key: "mappedBytes" })),
      { name: "requested", samples: group[0].samples, key: "requestedBytes", dashed: true, color: REQUESTED_COLOR },
    ]);
  });
  const timelines = runs.map((run) =>
    lineChart(`${pageLabel(run.pageSize)} pages${run.threshold === null ? "" : `, threshold ${exactBytes(run.threshold)}`}: mapped (solid) vs requested (dashed) bytes`, [
      { name: "mapped", samples: run.samples, key: "mappedBytes" },
      { name: "requested", samples: run.samples, key: "requestedBytes", dashed: true },
    ]),
  );
  const title = report.mode === "module" ? `wasi-mman compare: ${report.module ?? ""}` : "wasi-mman compare: synthetic sizes";
  return `${documentStart(title, STYLE)}
<h1>${escapeHtml(title)}</h1>
${what}
${advice}
<h2>Page sizes side by side</h2>
${htmlTable(compareTableRows(runs))}
${perSize}
<h2>Wastage and memory</h2>
${wastage}
${memory}
<h2>Mapped vs requested bytes over time</h2>
${overlays.join("\n")}
${timelines.join("\n")}
</body>
</html>
`;
}
