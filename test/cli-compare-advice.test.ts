// What `wasi-mman compare` concludes (issue 13, item 5): the first line where a differing
// run's output differs, --ignore-output, run times as the median of --repeat runs after a
// warm-up, and a recommendation (text, --json, HTML). Fixtures:
//   fixtures/compare/known-wastage.wat       maps 129 KiB, 300 KiB and 4097 B; the same output everywhere
//   fixtures/compare/page-size-dependent.wat prints the page size, exits with it / 4096
//   fixtures/cli/prints-page-size.wat        prints a page-size-dependent line, exits 0
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { median, recommend } from "../cli/compare-advice.js";
import { describeLineDifference, firstDifferingLine, type CompareRun, type LineDifference } from "../cli/compare-report.js";
import { cli, errLines } from "./helpers/cli.js";

const scratch = mkdtempSync(join(tmpdir(), "wasi-mman-advice-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Report {
  agree: boolean;
  ignoreOutput?: boolean;
  repeat?: number;
  recommendation: { pageSize: number; threshold: number | null; peakLinearMemoryBytes: number; lines: [string, string] } | null;
  runs: { pageSize: number; timeMs: number; timesMs: number[]; stats: { peak: { linearMemoryBytes: number } } }[];
}

describe.concurrent("wasi-mman compare: differences", () => {
  it("names the first differing line of each differing run", async () => {
    const run = await cli("compare", "-q", "--page-sizes", "4k,16k,64k", "fixtures/cli/prints-page-size.wat");
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      [
        "runs differ from the 4 KiB run (exit code 0): 16 KiB (stdout), 64 KiB (stdout)",
        '  16 KiB stdout, line 1: "page kind C" (4 KiB run: "page kind A")',
        '  64 KiB stdout, line 1: "page kind E" (4 KiB run: "page kind A")',
      ].join("\n"),
    );
  });

  it("--ignore-output compares exit codes only: the runs agree, exit 0", async () => {
    const run = await cli("compare", "-q", "--ignore-output", "--page-sizes", "4k,64k", "fixtures/cli/prints-page-size.wat");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("all 2 runs agree: exit code 0 (output not compared: --ignore-output)");
    // Exit codes still count.
    const codes = await cli("compare", "-q", "--ignore-output", "--page-sizes", "4k,64k", "fixtures/compare/page-size-dependent.wat");
    expect(codes.code).toBe(1);
    expect(codes.stdout).toContain("runs differ from the 4 KiB run (exit code 1): 64 KiB (exit code 16)\n");
  });

  it("firstDifferingLine: a changed line, a missing line, a missing final newline", () => {
    expect(firstDifferingLine("a\nb\n", "a\nb\n")).toBeNull();
    expect(firstDifferingLine("a\nb\n", "a\nc\n")).toEqual({ line: 2, expected: "b\n", actual: "c\n" });
    expect(firstDifferingLine("a\nb\n", "a\n")).toEqual({ line: 2, expected: "b\n", actual: null });
    const ending = firstDifferingLine("a\n", "a") as LineDifference;
    expect(ending).toEqual({ line: 1, expected: "a\n", actual: "a" });
    expect(describeLineDifference(ending, "4 KiB")).toBe('line 1: "a" (no newline at the end; 4 KiB run: newline)');
    expect(describeLineDifference({ line: 2, expected: "b\n", actual: null }, "4 KiB")).toBe('line 2: (no such line) (4 KiB run: "b")');
  });
});

describe.concurrent("wasi-mman compare: timing", () => {
  it("--repeat N times each page size N times after a warm-up; the table shows the median", async () => {
    const run = await cli("compare", "--json", "--repeat", "5", "--page-sizes", "4k,64k", "fixtures/compare/known-wastage.wat");
    const report = JSON.parse(run.stdout) as Report;
    expect(report.repeat).toBe(5);
    for (const each of report.runs) {
      expect(each.timesMs).toHaveLength(5);
      expect(each.timeMs).toBe(median(each.timesMs));
    }
    const progress = await cli("compare", "--repeat", "2", "--page-sizes", "4k", "fixtures/compare/known-wastage.wat");
    expect(errLines(progress)).toEqual([expect.stringMatching(/^wasi-mman compare: 4 KiB done \(1\/1\): exit code 0, median [\d.]+ ms of 2$/)]);
    const bad = await cli("compare", "--repeat", "0", "fixtures/compare/known-wastage.wat");
    expect(bad.code).toBe(2);
    expect(errLines(bad)).toEqual(['wasi-mman compare: --repeat: expected a whole number from 1 to 100, got "0"']);
  });

  it("median: odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe.concurrent("wasi-mman compare: the recommendation", () => {
  it("picks the lowest peak linear memory and says why: text, --json and HTML", async () => {
    // The figures are the engine's (its placement decides them); the choice must be the run
    // with the lowest peak, named in the text, the JSON and the report alike.
    const html = join(scratch, "report.html");
    const run = await cli("compare", "-q", "--repeat", "1", "--html", html, "fixtures/compare/known-wastage.wat");
    expect(run.code).toBe(0);
    const json = JSON.parse((await cli("compare", "--json", "--repeat", "1", "fixtures/compare/known-wastage.wat")).stdout) as Report;
    const lowest = Math.min(...json.runs.map((each) => each.stats.peak.linearMemoryBytes));
    const chosen = json.runs.find((each) => each.pageSize === json.recommendation?.pageSize);
    expect(chosen?.stats.peak.linearMemoryBytes).toBe(lowest);
    expect(json.recommendation?.peakLinearMemoryBytes).toBe(lowest);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines.at(-2)).toBe(json.recommendation?.lines[0]);
    expect(lines.at(-2)).toMatch(new RegExp(`^recommended: ${(json.recommendation?.pageSize ?? 0) / 1024} KiB pages: the lowest peak linear memory, \\d+ KiB \\(`));
    expect(lines.at(-1)).toMatch(/^why: .*; wastage [\d.]+% at the peak, [\d.]+% over all mappings; 3 mmap calls; run time [\d.]+ ms \(one run\)$/);
    const page = readFileSync(html, "utf8");
    expect(page).toContain("<h2>Recommendation</h2>");
    expect(page).toContain(json.recommendation?.lines[0]);
  });

  it("synthetic mode recommends too; differing runs get a warning", async () => {
    const synthetic = await cli("compare", "--sizes", "129k,300k");
    expect(synthetic.stdout).toMatch(/\nrecommended: 4 KiB pages: the lowest peak linear memory, /);
    const differing = await cli("compare", "-q", "--repeat", "1", "fixtures/compare/page-size-dependent.wat");
    expect(differing.stdout).toMatch(/; but the runs differ \(above\): check that they do the same work first\n$/);
  });

  it("with --thresholds, names the threshold too", async () => {
    const run = await cli("compare", "-q", "--repeat", "1", "--thresholds", "64k,256k", "fixtures/compare/threshold-env.wat");
    expect(run.stdout).toMatch(/\nrecommended: \d+ KiB pages with an mmap threshold of \d+ KiB: the lowest peak linear memory, /);
  });

  it("breaks a tie by calls, then wastage, then the larger page size; trapped runs are never chosen", () => {
    const run = (pageSize: number, peak: number, mmap: number, wastage: number, trap: string | null = null): CompareRun =>
      ({
        pageSize,
        threshold: null,
        exitCode: 0,
        trap,
        stdout: "",
        stderr: "",
        timeMs: 1,
        timesMs: [1],
        samples: [],
        stats: {
          calls: { brk: 0, mmap, munmap: 0, mremap: 0, madvise: 0, mprotect: 0, msync: 0, pagesize: 0 },
          peak: { linearMemoryBytes: peak, wastage },
          cumulative: { wastage },
        },
      }) as unknown as CompareRun;
    expect(recommend([run(4096, 2, 9, 0), run(16384, 1, 9, 0.5), run(65536, 1, 3, 0.9)])?.pageSize).toBe(65536);
    expect(recommend([run(4096, 1, 3, 0.1), run(65536, 1, 3, 0.9)])?.pageSize).toBe(4096);
    expect(recommend([run(4096, 1, 3, 0.1), run(65536, 1, 3, 0.1)])?.pageSize).toBe(65536);
    expect(recommend([run(4096, 1, 3, 0.1, "unreachable"), run(65536, 9, 3, 0.1)])?.pageSize).toBe(65536);
    expect(recommend([run(4096, 1, 3, 0.1, "unreachable")])).toBeNull();
  });
});
