// `wasi-mman compare` end to end: each test spawns the command and checks its exit code,
// stdout (table or JSON), stderr and the HTML report. Fixtures:
//   fixtures/compare/known-wastage.wat       maps 129 KiB, 300 KiB and 4097 B at once, 10000 B
//                                            of brk; the same output at every page size
//   fixtures/compare/page-size-dependent.wat prints the page size, exits with it / 4096
//   fixtures/compare/threshold-env.wat       maps blocks above MALLOC_MMAP_THRESHOLD_, the rest
//                                            from brk
//   fixtures/wat/host-reactor.wat            a reactor (no _start): not runnable
// The command runs from the TypeScript sources (`node --import tsx cli/main.ts`), so a stale
// dist/ never answers for them; one test runs bin/wasi-mman.mjs itself.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, errLines, spawnNode, type Run } from "./helpers/cli.js";
import { Timeline } from "../cli/compare-timeline.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-compare-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const compare = (...args: string[]): Promise<Run> => cli("compare", ...args);


/** The parts of the --json report the tests read. */
interface JsonRun {
  pageSize: number;
  threshold: number | null;
  exitCode: number | null;
  stdout: string;
  stats: {
    calls: Record<string, number>;
    peak: { mappedBytes: number; requestedBytes: number; wastage: number; brkBytes: number };
    cumulative: { mappedBytes: number; requestedBytes: number; wastage: number };
    bitmapBytes: number;
  };
  samples: { calls: number; mappedBytes: number; requestedBytes: number }[];
}
interface JsonReport {
  mode: string;
  agree?: boolean;
  differences?: { pageSize: number; threshold: number | null; exitCode: boolean; stdout: boolean; stderr: boolean; stdoutLine: unknown; stderrLine: unknown }[];
  perSize?: { size: number; costs: { pageSize: number; mappedBytes: number; wastedBytes: number; wastage: number }[] }[];
  runs: JsonRun[];
}

const roundUp = (bytes: number, page: number): number => Math.ceil(bytes / page) * page;
const KNOWN_SIZES = [129 * 1024, 300 * 1024, 4097];
const PAGE_SIZES = [4096, 16384, 32768, 65536];

describe.concurrent("wasi-mman compare --sizes (synthetic)", () => {
  it("gives the 129 KiB figures exactly: 63 of 192 KiB at 64 KiB, 31 of 160 at 32 KiB, 15 of 144 at 16 KiB", async () => {
    const run = await compare("--sizes", "129k");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^129 KiB\s+3 KiB of 132 KiB \(2\.3%\)\s+15 KiB of 144 KiB \(10\.4%\)\s+31 KiB of 160 KiB \(19\.4%\)\s+63 KiB of 192 KiB \(32\.8%\)$/m);
    // One mapping, so the peak row says the same.
    expect(run.stdout).toMatch(/^wastage at peak\s+2\.3%\s+10\.4%\s+19\.4%\s+32\.8%$/m);

    const json = JSON.parse((await compare("--sizes", "129k", "--page-sizes", "16k,32k,64k", "--json")).stdout) as JsonReport;
    expect(json.mode).toBe("synthetic");
    expect(json.perSize?.[0].costs.map((cost) => [cost.pageSize, cost.mappedBytes, cost.wastedBytes])).toEqual([
      [16384, 144 * 1024, 15 * 1024],
      [32768, 160 * 1024, 31 * 1024],
      [65536, 192 * 1024, 63 * 1024],
    ]);
    expect(json.runs.map((r) => r.stats.peak.wastage)).toEqual([15 / 144, 31 / 160, 63 / 192]);
  });

  it("maps every size once per page size and sums them at the peak", async () => {
    const json = JSON.parse((await compare("--json", "--sizes", "129k,300k,4097")).stdout) as JsonReport;
    expect(json.runs.map((r) => r.pageSize)).toEqual(PAGE_SIZES);
    for (const run of json.runs) {
      expect(run.exitCode).toBeNull();
      expect(run.stats.calls.mmap).toBe(3);
      expect(run.stats.peak.mappedBytes).toBe(KNOWN_SIZES.reduce((sum, size) => sum + roundUp(size, run.pageSize), 0));
      expect(run.stats.peak.requestedBytes).toBe(443393);
    }
    // 4097 bytes: exact bytes, not a rounded "4 KiB".
    expect(json.perSize?.[2].costs[3]).toEqual({ pageSize: 65536, mappedBytes: 65536, wastedBytes: 61439, wastage: 61439 / 65536 });
  });
});

describe.concurrent("wasi-mman compare (module)", () => {
  it("the known-wastage fixture: every run agrees, mapped bytes are the sizes rounded to each page size", async () => {
    const run = await compare("--json", "fixtures/compare/known-wastage.wat");
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout) as JsonReport;
    expect(json.agree).toBe(true);
    expect(json.differences).toEqual([]);
    for (const r of json.runs) {
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe("mapped 129 KiB, 300 KiB and 4097 bytes\n");
      expect(r.stats.calls).toMatchObject({ mmap: 3, munmap: 3, brk: 2 });
      const mapped = KNOWN_SIZES.reduce((sum, size) => sum + roundUp(size, r.pageSize), 0);
      expect(r.stats.peak).toMatchObject({ mappedBytes: mapped, requestedBytes: 443393, brkBytes: 10000 });
      expect(r.stats.peak.wastage).toBe((mapped - 443393) / mapped);
      expect(r.stats.cumulative).toEqual({ mappedBytes: mapped, requestedBytes: 443393, wastage: (mapped - 443393) / mapped });
      // The timeline saw the peak and ends with everything unmapped.
      expect(Math.max(...r.samples.map((s) => s.mappedBytes))).toBe(mapped);
      expect(r.samples.at(-1)).toMatchObject({ mappedBytes: 0, requestedBytes: 0, calls: 8 });
    }
    // Smaller pages, bigger bitmap.
    expect(json.runs[0].stats.bitmapBytes).toBeGreaterThan(json.runs[3].stats.bitmapBytes);
  });

  it("prints the table with one column per page size, and the same figures as --sizes", async () => {
    const run = await compare("fixtures/compare/known-wastage.wat");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^page size\s+4 KiB\s+16 KiB\s+32 KiB\s+64 KiB$/m);
    expect(run.stdout).toMatch(/^exit code\s+0\s+0\s+0\s+0$/m);
    expect(run.stdout).toMatch(/^mapped at peak\s+440 KiB\s+464 KiB\s+512 KiB\s+576 KiB$/m);
    expect(run.stdout).toMatch(/^wastage at peak\s+1\.6%\s+6\.7%\s+15\.4%\s+24\.8%$/m);
    for (const row of ["mmap calls", "munmap calls", "mremap calls", "brk calls", "bytes requested (all)", "wastage, all mappings", "brk bytes (peak)", "peak linear memory", "memory.grow calls", "bitmap size", "run time"]) {
      expect(run.stdout).toMatch(new RegExp(`^${row.replace(/[()]/g, "\\$&")}\\s`, "m"));
    }
    expect(run.stdout).toContain("all 4 runs agree: exit code 0, same stdout (39 bytes) and stderr (0 bytes)");
    const synthetic = await compare("--sizes", "129k,300k,4097");
    const mappedRow = (text: string): string | undefined => /^mapped at peak.*$/m.exec(text)?.[0];
    expect(mappedRow(synthetic.stdout)).toBe(mappedRow(run.stdout));
    // Progress on stderr, one line per run; none with --quiet.
    expect(errLines(run)).toEqual(PAGE_SIZES.map((size, i) => expect.stringMatching(new RegExp(`^wasi-mman compare: ${size / 1024} KiB done \\(${i + 1}/4\\): exit code 0, `))));
    const quiet = await compare("-q", "--page-sizes", "64k", "fixtures/compare/known-wastage.wat");
    expect(quiet.stderr).toBe("");
  });

  it("reports the runs of a page-size-dependent module as differing, and exits 1", async () => {
    const run = await compare("-q", "fixtures/compare/page-size-dependent.wat");
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^exit code\s+1\s+4\s+8\s+16$/m);
    expect(run.stdout).toContain(
      "runs differ from the 4 KiB run (exit code 1): 16 KiB (exit code 4, stdout), 32 KiB (exit code 8, stdout), 64 KiB (exit code 16, stdout)",
    );
    const json = JSON.parse((await compare("--json", "--page-sizes", "4k,64k", "fixtures/compare/page-size-dependent.wat")).stdout) as JsonReport;
    expect(json.agree).toBe(false);
    expect(json.differences).toEqual([
      {
        pageSize: 65536,
        threshold: null,
        exitCode: true,
        stdout: true,
        stderr: false,
        stdoutLine: { line: 1, expected: "page size: 4096\n", actual: "page size: 65536\n" },
        stderrLine: null,
      },
    ]);
    expect(json.runs.map((r) => r.stdout)).toEqual(["page size: 4096\n", "page size: 65536\n"]);
  });

  it("records a trap as exit code 134 with its message", async () => {
    const run = await compare("-q", "--page-sizes", "4k,64k", "fixtures/wat/host-trap.wat");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^exit code\s+134 \(trap\)\s+134 \(trap\)$/m);
    expect(run.stdout).toContain("all 2 runs agree: exit code 134 (trap: unreachable)");
  });

  it("passes the same arguments to every run", async () => {
    // hello.wat exits with argc - 1.
    const json = JSON.parse((await compare("--json", "--page-sizes", "4k,32k", "fixtures/hosts/hello.wat", "--", "a", "b", "c")).stdout) as JsonReport;
    expect(json.runs.map((r) => r.exitCode)).toEqual([3, 3]);
    expect(json.agree).toBe(true);
  });
});

describe.concurrent("wasi-mman compare --thresholds", () => {
  it("runs every page size once per threshold, given in MALLOC_MMAP_THRESHOLD_", async () => {
    // threshold-env.wat maps the blocks above the threshold and takes the others from brk.
    const blocks = [24584, 70000, 132096, 307200];
    const run = await compare("--json", "--thresholds", "64k,128k,256k", "--page-sizes", "4k,64k", "fixtures/compare/threshold-env.wat");
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout) as JsonReport & { thresholds: number[]; thresholdEnv: string };
    expect(json).toMatchObject({ thresholds: [65536, 131072, 262144], thresholdEnv: "MALLOC_MMAP_THRESHOLD_", agree: true });
    expect(json.runs.map((r) => [r.threshold, r.pageSize])).toEqual([
      [65536, 4096], [65536, 65536], [131072, 4096], [131072, 65536], [262144, 4096], [262144, 65536],
    ]);
    for (const r of json.runs) {
      const mapped = blocks.filter((size) => size > (r.threshold as number));
      const fromBrk = blocks.filter((size) => size <= (r.threshold as number));
      expect(r.stats.calls.mmap).toBe(mapped.length);
      expect(r.stats.peak.mappedBytes).toBe(mapped.reduce((sum, size) => sum + roundUp(size, r.pageSize), 0));
      expect(r.stats.peak.requestedBytes).toBe(mapped.reduce((sum, size) => sum + size, 0));
      expect(r.stats.peak.brkBytes).toBe(fromBrk.reduce((sum, size) => sum + roundUp(size, 16), 0));
    }
    const text = await compare("-q", "--thresholds", "64k,256k", "--page-sizes", "4k,64k", "fixtures/compare/threshold-env.wat");
    expect(text.stdout).toMatch(/^mmap threshold 64 KiB \(MALLOC_MMAP_THRESHOLD_=65536\):\npage size\s+4 KiB\s+64 KiB$/m);
    expect(text.stdout).toMatch(/^mmap threshold 256 KiB \(MALLOC_MMAP_THRESHOLD_=262144\):\npage size\s+4 KiB\s+64 KiB$/m);
    expect(text.stdout).toContain("all 4 runs agree");
  });

  it("--threshold-env names another variable (unset here: the fixture's default threshold, 128 KiB)", async () => {
    const json = JSON.parse((await compare("--json", "--thresholds", "1k", "--threshold-env", "OTHER_THRESHOLD", "--page-sizes", "64k", "fixtures/compare/threshold-env.wat")).stdout) as JsonReport;
    expect(json.runs[0].stats.calls.mmap).toBe(2);
  });
});

describe.concurrent("wasi-mman compare --dir", () => {
  it("gives every run the same files and writes nothing back", async () => {
    // upcase.wat upper-cases data.txt through a MAP_SHARED mapping; exits 11 if it cannot open it.
    const dir = mkdtempSync(join(scratch, "dir-"));
    writeFileSync(join(dir, "data.txt"), "hello mapped file\n");
    const run = await compare("--json", "--dir", `${dir}:/data`, "fixtures/hosts/upcase.wat");
    const json = JSON.parse(run.stdout) as JsonReport;
    expect(json.runs.map((r) => r.exitCode)).toEqual([0, 0, 0, 0]);
    expect(json.runs.map((r) => r.stats.calls.msync)).toEqual([1, 1, 1, 1]);
    expect(readFileSync(join(dir, "data.txt"), "utf8")).toBe("hello mapped file\n");
    const missing = await compare("--dir", join(scratch, "no-such-dir"), "fixtures/hosts/upcase.wat");
    expect(missing.code).toBe(2);
    expect(errLines(missing)).toEqual([expect.stringMatching(/^wasi-mman compare: --dir: no such directory/)]);
  });
});

describe.concurrent("wasi-mman compare: usage errors exit 2 with one line", () => {
  const cases: [string, string[], RegExp][] = [
    ["no module and no --sizes", [], /no module given, and no --sizes/],
    ["an unknown option", ["--frobnicate", "fixtures/compare/known-wastage.wat"], /unknown option --frobnicate/],
    ["a bad page size", ["--page-sizes", "4k,3k", "--sizes", "1k"], /--page-sizes: .*"3k"/],
    ["a repeated page size", ["--page-sizes", "4k,4096", "--sizes", "1k"], /--page-sizes: a page size is given twice/],
    ["a bad size", ["--sizes", "129k,lots"], /--sizes: expected a size/],
    ["a zero size", ["--sizes", "0"], /--sizes: each size must be from 1 byte/],
    ["--sizes with a module", ["--sizes", "1k", "fixtures/compare/known-wastage.wat"], /--sizes takes no module/],
    ["a missing module", ["fixtures/compare/no-such.wasm"], /cannot read fixtures\/compare\/no-such\.wasm: no such file/],
    ["a reactor", ["fixtures/wat/host-reactor.wat"], /exports no _start/],
    ["a bad --max-memory", ["--max-memory", "1k", "--sizes", "1k"], /--max-memory/],
    ["--thresholds without a module", ["--thresholds", "64k", "--sizes", "1k"], /--thresholds needs a module/],
    ["a repeated threshold", ["--thresholds", "64k,65536", "fixtures/compare/threshold-env.wat"], /--thresholds: a threshold is given twice/],
    ["--threshold-env without --thresholds", ["--threshold-env", "X", "fixtures/compare/threshold-env.wat"], /--threshold-env needs --thresholds/],
    ["--env setting the varied variable", ["--thresholds", "64k", "--env", "MALLOC_MMAP_THRESHOLD_=1", "fixtures/compare/threshold-env.wat"], /--env sets MALLOC_MMAP_THRESHOLD_/],
    ["a size that does not fit under --max-memory", ["--max-memory", "1m", "--sizes", "2m"], /failed with ENOMEM/],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const run = await compare(...args);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      const lines = errLines(run);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^wasi-mman compare: /);
      expect(lines[0]).toMatch(message);
    });
  }

  it("an invalid binary module and an unparsable .wat", async () => {
    const binary = join(scratch, "bad.wasm");
    writeFileSync(binary, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0xff, 0xff]));
    const text = join(scratch, "bad.wat");
    writeFileSync(text, "(module (func (export \"_start\") (i32.frobnicate)))");
    for (const path of [binary, text]) {
      const run = await compare(path);
      expect(run.code).toBe(2);
      expect(errLines(run)).toHaveLength(1);
      expect(errLines(run)[0]).toMatch(/^wasi-mman compare: /);
    }
  });

  it("an --html path that cannot be written fails before any run", async () => {
    const run = await compare("--html", join(scratch, "no-such-dir", "r.html"), "fixtures/compare/known-wastage.wat");
    expect(run.code).toBe(2);
    expect(errLines(run)).toEqual([expect.stringMatching(/^wasi-mman compare: --html: cannot write .*: ENOENT$/)]);
  });
});

const VOID_ELEMENTS = new Set(["meta", "br", "hr", "img", "input", "link"]);

/** Checks that every tag is closed in order; returns the problems found. */
function tagProblems(html: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  for (const match of html.matchAll(/<(\/?)([a-zA-Z][\w-]*)([^>]*)>/g)) {
    const [, closing, rawName, rest] = match;
    const name = rawName.toLowerCase();
    if (closing === "") {
      if (!rest.trimEnd().endsWith("/") && !VOID_ELEMENTS.has(name)) stack.push(name);
    } else if (stack.pop() !== name) {
      problems.push(`</${name}> at ${match.index}`);
    }
  }
  return [...problems, ...stack.map((name) => `<${name}> not closed`)];
}

describe.concurrent("wasi-mman compare --html", () => {
  it("writes a well-formed, self-contained report with the charts (module mode)", async () => {
    const path = join(scratch, "module.html");
    const run = await compare("-q", "--html", path, "fixtures/compare/known-wastage.wat");
    expect(run.code).toBe(0);
    const html = readFileSync(path, "utf8");
    expect(html.startsWith("<!DOCTYPE html>\n<html lang=\"en\">")).toBe(true);
    expect(tagProblems(html)).toEqual([]);
    // Nothing from the network and nothing that runs.
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|@import|url\(/i);
    // The charts: wastage, memory, the overlay over time and one per page size.
    expect(html.match(/<svg /g)).toHaveLength(2 + 1 + 4);
    expect(html).toContain("Wastage per page size");
    expect(html).toContain("Memory per page size");
    expect(html).toContain("64 KiB pages: mapped (solid) vs requested (dashed) bytes");
    expect(html.match(/<polyline /g)).toHaveLength(5 + 4 * 2);
    // The table's figures, as in the text output.
    expect(html).toMatch(/<th>mapped at peak<\/th><td>440 KiB<\/td><td>464 KiB<\/td><td>512 KiB<\/td><td>576 KiB<\/td>/);
    expect(html).toContain("all 4 runs agree");
  });

  it("the synthetic report has the per-size table", async () => {
    const path = join(scratch, "synthetic.html");
    const run = await compare("--html", path, "--sizes", "129k");
    expect(run.code).toBe(0);
    const html = readFileSync(path, "utf8");
    expect(tagProblems(html)).toEqual([]);
    expect(html).toContain("<td>63 KiB of 192 KiB (32.8%)</td>");
    expect(html).not.toMatch(/https?:\/\/|<script/i);
  });

  it("renders in headless Chromium with its charts", async ({ skip }) => {
    const chromium = "/usr/bin/chromium";
    if (!existsSync(chromium)) skip("no /usr/bin/chromium here");
    const path = join(scratch, "render.html");
    await compare("-q", "--html", path, "--page-sizes", "4k,64k", "fixtures/compare/known-wastage.wat");
    const result = spawnSync(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", pathToFileURL(path).href], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(result.status).toBe(0);
    // The DOM Chromium built: every chart element survived parsing.
    expect(result.stdout.match(/<svg /g)).toHaveLength(2 + 1 + 2);
    expect(result.stdout).toContain("<title>wasi-mman compare: fixtures/compare/known-wastage.wat</title>");
  }, 70_000);
});

describe("wasi-mman compare: other entry points", () => {
  it("bin/wasi-mman.mjs runs it; --help lists every option", async () => {
    const run = await spawnNode(["bin/wasi-mman.mjs", "compare", "--help"]);
    expect(run.code).toBe(0);
    for (const option of ["--page-sizes", "--sizes", "--thresholds", "--threshold-env", "--json", "--html", "--max-memory", "--growth", "--dir", "--env", "--quiet"]) {
      expect(run.stdout).toContain(option);
    }
  });

  it("the timeline keeps a bounded number of points and the peak", () => {
    const timeline = new Timeline(50);
    for (let call = 1; call <= 100_000; call++) timeline.add(call, call === 77_777 ? 1 << 30 : call % 1000, 0);
    const samples = timeline.finish(100_001, 0, 0);
    expect(samples.length).toBeLessThanOrEqual(2 * 50 + 2);
    expect(Math.max(...samples.map((s) => s.mappedBytes))).toBe(1 << 30);
    expect(samples.at(-1)?.calls).toBe(100_000);
    // The points are in call order.
    expect(samples.every((s, i) => i === 0 || s.calls >= samples[i - 1].calls)).toBe(true);
  });
});

describe.concurrent("wasi-mman compare: module arguments, notices, traps", () => {
  it("a second -- after the separator is the module's own argument", async () => {
    // host-argc exits with argc: argv[0], "--", "x" makes 3.
    const run = await compare("--json", "-q", "--page-sizes", "4k", "fixtures/wat/host-argc.wat", "--", "--", "x");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { args: string[]; runs: JsonRun[] };
    expect(report.args).toEqual(["--", "x"]);
    expect(report.runs.map((r) => r.exitCode)).toEqual([3]);
  });

  it("the start-function notice is shown once, not once per run", async () => {
    const run = await compare("--json", "-q", "--page-sizes", "4k,16k,64k", "fixtures/wat/host-start-fn.wat");
    expect(run.code).toBe(0);
    expect(errLines(run)).toEqual([expect.stringMatching(/^wasi-mman: the module has a start function, which runs before the memory calls are attached/)]);
  });

  it("a stack overflow is a trap in every run: exit code 134 in the report", async () => {
    const run = await compare("--json", "-q", "--page-sizes", "4k,64k", "fixtures/wat/host-stack-overflow.wat");
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { runs: (JsonRun & { trap: string | null })[] };
    expect(report.runs.map((r) => [r.exitCode, r.trap])).toEqual([
      [134, "Maximum call stack size exceeded"],
      [134, "Maximum call stack size exceeded"],
    ]);
    expect(report.runs.map((r) => r.stats.calls.mmap)).toEqual([1, 1]);
  });
});
