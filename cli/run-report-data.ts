/**
 * What a `wasi-mman run --html` report carries for its viewer: written by cli/run-html.ts in
 * Node, read by demo/report.ts in the browser (so this file imports nothing).
 */

/** The data the viewer reads (demo/report.ts): compact, JSON. */
export interface RunReportData {
  pageSize: number;
  pages: number;
  /** [lastRecord, end (1) or not (0), changes: first, end, kind, ...] per step. */
  steps: [number, 0 | 1, number[]][];
  /** [call index in CALL_NAMES, args, result, errno or null] per call kept. */
  records: [number, number[], number, string | null][];
  recordCount: number;
  /** Calls per recorded step at the end of the run. */
  stride: number;
  /** The fault `--guard` stopped the run at (docs/guard.md), or null. */
  fault: RunFault | null;
}

/** A guard fault as the report carries it (guard/report.ts FaultSummary, less what the viewer does not need). */
export interface RunFault {
  /** The first byte the access was refused at. */
  address: number;
  /** The libc page holding it: a page of the map. */
  page: number;
  access: "read" | "write" | "read-modify-write";
  size: number;
  /** What the page is (the report's page line). */
  what: string;
  /** The report block, as run --guard printed it. */
  text: string;
}
