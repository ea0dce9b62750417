/**
 * The viewer of a `wasi-mman run --html` report (cli/run-html.ts): reads the run's data from
 * <script id="report-data"> and shows it with the demo page's map view (map-view.ts). Bundled
 * by scripts/build-demo.ts into report.js, which the report inlines.
 *
 * When it has drawn the map it writes what it shows into <pre id="result"> as JSON with
 * "status": "done", as the demo page does, for the browser tests.
 */
import { CALL_NAMES, type TraceRecord } from "../browser.js";
import { Timeline } from "../cli/map-steps.js";
import type { RunReportData } from "../cli/run-report-data.js";
import { countKinds, readBackCells } from "./map.js";
import { MapView } from "./map-view.js";

function show(): void {
  const data = JSON.parse(document.getElementById("report-data")?.textContent ?? "null") as RunReportData;
  const timeline = Timeline.fromSteps(
    data.steps.map(([lastRecord, end, changes]) => ({ lastRecord, changes: Int32Array.from(changes), ...(end === 1 ? { end: true } : {}) })),
    data.pages,
  );
  const records: TraceRecord[] = data.records.map(([call, args, result, errno], index) => ({
    seq: index + 1,
    call: CALL_NAMES[call],
    args,
    result,
    errno,
    time: 0,
    durationUs: 0,
  }));
  const view = new MapView();
  view.show({ pageSize: data.pageSize, timeline, records, recordCount: data.recordCount, fault: data.fault });
  const canvas = document.getElementById("map") as HTMLCanvasElement;
  const result = document.getElementById("result") as HTMLElement;
  result.textContent = JSON.stringify({
    status: "done",
    steps: timeline.steps.length,
    calls: data.recordCount,
    shownStep: view.step,
    layout: view.layout,
    shownKindCounts: view.shownKinds === null ? null : countKinds(view.shownKinds),
    canvasCellCounts: view.layout === null ? null : readBackCells(canvas, view.layout),
    faultCell: view.layout === null ? -1 : view.faultCell(view.layout),
  });
}

try {
  show();
} catch (error) {
  const result = document.getElementById("result");
  if (result !== null) result.textContent = JSON.stringify({ status: "error", message: String(error) });
}
