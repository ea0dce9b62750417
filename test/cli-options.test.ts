// The command line as people type it (issue 13, items 6 and 7): strace's habits for --strace
// (a call filter, -c's summary, errno text, an output file), sizes written as the tool prints
// them, "did you mean" for a mistyped option, command or call, and `wasi-mman help <command>`.
// Fixtures: fixtures/hosts/hello.wat (pagesize, brk x2, mmap, mremap, munmap),
// fixtures/cli/until-enomem.wat (mmap until ENOMEM).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { splitOptions, UsageError } from "../cli/args.js";
import { formatStraceSummary } from "../cli/run-strace.js";
import { closestName } from "../cli/suggest.js";
import { cli, errLines } from "./helpers/cli.js";

const scratch = mkdtempSync(join(tmpdir(), "wasi-mman-options-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HELLO = "fixtures/hosts/hello.wat";
const SUMMARY_HEADER = "% time     seconds  usecs/call     calls    errors syscall";
const RULE = "------ ----------- ----------- --------- --------- ----------------";

describe.concurrent("--strace, strace style", () => {
  it("--strace=mmap,munmap shows only those calls", async () => {
    const run = await cli("run", "--strace=mmap,munmap", HELLO);
    expect(run.code).toBe(0);
    expect(errLines(run).map((line) => line.slice(0, line.indexOf("(")))).toEqual(["mmap", "munmap"]);
  });

  it("a mistyped call name is a usage error that suggests the right one", async () => {
    const run = await cli("run", "--strace=mmap,mumnap", HELLO);
    expect(run.code).toBe(2);
    expect(errLines(run)).toEqual(['wasi-mman run: --strace: unknown call "mumnap" (did you mean munmap?); the calls are brk, mmap, munmap, mremap, madvise, mprotect, msync, pagesize']);
  });

  it("-c prints strace -c's table at exit and no lines: calls, errors and time per call", async () => {
    const run = await cli("run", "-c", "fixtures/cli/until-enomem.wat");
    expect(run.code).toBe(1);
    const lines = errLines(run);
    // The table, then the line naming the refused call (test/cli-notices.test.ts).
    const table = lines.slice(lines.indexOf(SUMMARY_HEADER), lines.findIndex((line) => line.endsWith(" total")) + 1);
    expect(table[1]).toBe(RULE);
    // until-enomem maps 1 MiB until refused: one mapping fits under its 2 MiB maximum.
    const mmap = table.find((line) => line.endsWith(" mmap")) as string;
    expect(mmap).toMatch(/^\s*\d+\.\d\d\s+\d+\.\d{6}\s+\d+\s+2\s+1 mmap$/);
    expect(table.at(-2)).toBe(RULE);
    expect(table.at(-1)).toMatch(/^100\.00\s+\d+\.\d{6}\s+2\s+1 total$/);
    expect(lines.some((line) => line.startsWith("mmap("))).toBe(false);
  });

  it("--strace with -c prints both; failures carry strerror's text", async () => {
    const run = await cli("run", "--strace", "--strace-summary", "fixtures/cli/until-enomem.wat");
    const lines = errLines(run);
    expect(lines).toContain("mmap(0, 1048576, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)");
    expect(lines).toContain(SUMMARY_HEADER);
  });

  it("--strace-output FILE takes the lines (and the table) off stderr", async () => {
    const file = join(scratch, "hello.strace");
    const run = await cli("run", "--strace-output", file, HELLO);
    expect(run).toEqual({ code: 0, stdout: "hello from mapped memory\n", stderr: "" });
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    expect(lines.map((line) => line.slice(0, line.indexOf("(")))).toEqual(["pagesize", "brk", "brk", "mmap", "mremap", "munmap"]);
    const both = join(scratch, "both.strace");
    const summary = await cli("run", "--strace=brk", "-c", "--strace-output", both, HELLO);
    expect(summary.stderr).toBe("");
    const text = readFileSync(both, "utf8");
    expect(text).toMatch(/^brk\(0\) = 0x10000\nbrk\(0x11000\) = 0x11000\n% time/);
    expect(text).toMatch(/\s2\s+brk\n/);
  });

  it("an --strace-output file that cannot be written is a usage error before the run", async () => {
    const run = await cli("run", "--strace-output", join(scratch, "no", "such", "dir", "x"), HELLO);
    expect(run.code).toBe(2);
    expect(errLines(run)).toEqual([expect.stringMatching(/^wasi-mman run: --strace-output: cannot write .*: ENOENT$/)]);
  });
});

describe.concurrent("sizes and names as people write them", () => {
  it("--page-size takes 16KiB, 16 KiB, 16K, 16k, 16kb and 16384", async () => {
    for (const size of ["16KiB", "16 KiB", "16K", "16k", "16kb", "16384"]) {
      const run = await cli("run", "--stats", "--page-size", size, HELLO);
      expect(run.code, size).toBe(0);
      expect(run.stderr, size).toMatch(/^page size\s+16 KiB$/m);
    }
    const bad = await cli("run", "--page-size", "3KiB", HELLO);
    expect(bad.code).toBe(2);
    expect(errLines(bad)).toEqual(['wasi-mman run: --page-size: expected a power of two from 4k to 64k (4k, 8k, 16k, 32k, 64k, 16KiB or bytes), got "3KiB"']);
  });

  it("a mistyped option gets a suggestion, in run and in compare; exit 2", async () => {
    const run = await cli("run", "--page-sise", "16k", HELLO);
    expect(run.code).toBe(2);
    expect(errLines(run)).toEqual(["wasi-mman run: unknown option --page-sise: did you mean --page-size? (see --help; arguments for the module go after --)"]);
    const compare = await cli("compare", "--jsn", HELLO);
    expect(compare.code).toBe(2);
    expect(errLines(compare)).toEqual(["wasi-mman compare: unknown option --jsn: did you mean --json? (see --help; arguments for the module go after --)"]);
  });

  it("a mistyped command gets a suggestion", async () => {
    const run = await cli("comapre");
    expect(run.code).toBe(2);
    expect(errLines(run)).toEqual(['wasi-mman: unknown command "comapre": did you mean compare? (commands: run, cc, compare, demo)']);
  });

  it("`wasi-mman help <command>` prints that command's help", async () => {
    for (const [command, first] of [
      ["run", "Usage: wasi-mman run "],
      ["compare", "Usage: wasi-mman compare "],
      ["cc", "Usage: wasi-mman cc "],
    ]) {
      const run = await cli("help", command);
      expect(run.code, command).toBe(0);
      expect(run.stdout.startsWith(first), command).toBe(true);
    }
  });
});

describe("the option parser (node:util parseArgs underneath)", () => {
  const spec = { "--strace": "optional", "--page-size": "value", "--env": "list", "--stats": "flag", "--help": "flag" } as const;

  it("an optional value is taken only after =: the next argument stays the module", () => {
    const bare = splitOptions(["--strace", "prog.wasm", "x"], spec);
    expect(bare.options.get("--strace")).toEqual([""]);
    expect(bare.rest).toEqual(["prog.wasm", "x"]);
    expect(splitOptions(["--strace=mmap", "prog.wasm"], spec).options.get("--strace")).toEqual(["mmap"]);
    expect(() => splitOptions(["--strace=", "prog.wasm"], spec)).toThrow(/--strace= needs a value after the =/);
  });

  it("short aliases, GNU order, -- and one-line errors", () => {
    const parsed = splitOptions(["-h", "prog.wasm", "--env", "A=1", "--env=B=2", "--", "--stats"], spec, { "-h": "--help" });
    expect(parsed.options.get("--help")).toEqual([""]);
    expect(parsed.options.get("--env")).toEqual(["A=1", "B=2"]);
    expect(parsed.positional).toEqual(["prog.wasm"]);
    expect(parsed.afterDashes).toEqual(["--stats"]);
    expect(() => splitOptions(["--page-size"], spec)).toThrow(new UsageError("--page-size needs a value"));
    expect(() => splitOptions(["--stats=1"], spec)).toThrow(/--stats takes no value/);
    expect(() => splitOptions(["-x"], spec)).toThrow(/unknown option -x \(see --help/);
  });

  it("suggestions: one edit, a swap or a prefix; nothing for a far name", () => {
    expect(closestName("--stat", ["--stats", "--strace"])).toBe("--stats");
    expect(closestName("mmpa", ["mmap", "munmap"])).toBe("mmap");
    expect(closestName("--verbose", ["--stats", "--strace"])).toBeNull();
  });

  it("the summary table with no calls has only its frame and a zero total", () => {
    expect(formatStraceSummary(new Map()).split("\n")).toEqual([SUMMARY_HEADER, RULE, RULE, "100.00    0.000000                     0           total"]);
  });
});
