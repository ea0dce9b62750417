// The CLI's reusable pieces, in process: the statistics table (cli/format.ts), option
// values (cli/args.ts) and preopened directories with write-back (cli/dirs.ts).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Directory, File } from "@bjorn3/browser_wasi_shim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMaxMemoryOption, parsePageSizeOption, parseSize, splitOptions, UsageError } from "../cli/args.js";
import { loadDir, parseDirSpec } from "../cli/dirs.js";
import { formatBytes, formatPercent, formatStats, formatStatsTable } from "../cli/format.js";
import { createMman } from "../index.js";
import { ArrayLinearMemory } from "../runtime/memory.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-format-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Stats after one 5000-byte mapping at the given page size. */
function statsAfterOneMapping(pageSize: number) {
  const mman = createMman({ pageSize });
  mman.attach({ memory: new ArrayLinearMemory(1, 64), heapBase: 4096 });
  mman.calls.mmap(0, 5000, 3, 0x22, -1, 0);
  mman.calls.munmap(12345, 1); // unaligned: EINVAL
  return mman.stats();
}

describe("formatStatsTable", () => {
  it("lays out one right-aligned column per run, with wastage, peaks and calls", () => {
    const table = formatStatsTable([
      { label: "4 KiB", stats: statsAfterOneMapping(4096) },
      { label: "64 KiB", stats: statsAfterOneMapping(65536) },
    ]);
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^statistic\s+4 KiB\s+64 KiB$/);
    const row = (label: string) => lines.find((line) => line.startsWith(`${label}  `));
    expect(row("page size")).toMatch(/\s4 KiB\s+64 KiB$/);
    expect(row("mapped now")).toMatch(/\s8 KiB\s+64 KiB$/);
    expect(row("requested now")).toMatch(/\s4\.88 KiB\s+4\.88 KiB$/);
    // (8192 - 5000) / 8192 = 39.0%; (65536 - 5000) / 65536 = 92.4%
    expect(row("wastage now")).toMatch(/\s39\.0%\s+92\.4%$/);
    expect(row("mmap calls")).toMatch(/\s1\s+1$/);
    expect(row("munmap calls")).toMatch(/\s1 \(1 failed\)\s+1 \(1 failed\)$/);
    // Calls nobody made are left out.
    expect(row("mremap calls")).toBeUndefined();
    // Every line has its columns aligned: the same length once trailing spaces go.
    const widths = new Set(lines.map((line) => line.length));
    expect(widths.size).toBe(1);
  });

  it("formatStats is the one-column table", () => {
    const stats = statsAfterOneMapping(16384);
    expect(formatStats(stats)).toBe(formatStatsTable([{ label: "value", stats }]));
  });

  it("formats bytes and ratios", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(4096)).toBe("4 KiB");
    expect(formatBytes(1536 * 1024)).toBe("1.5 MiB");
    expect(formatBytes(2 ** 32)).toBe("4 GiB");
    expect(formatPercent(0)).toBe("0.0%");
    expect(formatPercent(0.12345)).toBe("12.3%");
  });
});

describe("option values", () => {
  it("parses sizes and page sizes, refusing the rest with a UsageError", () => {
    expect(parseSize("64k", "--x")).toBe(65536);
    expect(parseSize("256M", "--x")).toBe(256 << 20);
    expect(parseSize("1g", "--x")).toBe(2 ** 30);
    expect(parseSize("1.5k", "--x")).toBe(1536);
    expect(parseSize("100", "--x")).toBe(100);
    expect(() => parseSize("1.5", "--x")).toThrow(UsageError);
    expect(() => parseSize("ten", "--x")).toThrow(/--x: expected a size/);
    expect([4, 8, 16, 32, 64].map((k) => parsePageSizeOption(`${k}k`))).toEqual([4096, 8192, 16384, 32768, 65536]);
    expect(parsePageSizeOption("16384")).toBe(16384);
    expect(() => parsePageSizeOption("2k")).toThrow(UsageError);
    expect(parseMaxMemoryOption("4g")).toBe(2 ** 32);
    expect(() => parseMaxMemoryOption("5g")).toThrow(/from 64k to 4g/);
    expect(() => parseMaxMemoryOption("1k")).toThrow(UsageError);
  });

  it("splits options from the module and its arguments", () => {
    const spec = { "--a": "value", "--b": "flag", "--c": "list" } as const;
    const { options, positional, afterDashes } = splitOptions(["--a", "1", "--c=x", "mod.wasm", "--b", "arg", "--c", "y", "--", "--a", "2"], spec);
    expect(options.get("--a")).toEqual(["1"]);
    expect(options.get("--c")).toEqual(["x", "y"]);
    expect(options.get("--b")).toEqual([""]);
    expect(positional).toEqual(["mod.wasm", "arg"]);
    expect(afterDashes).toEqual(["--a", "2"]);
    expect(() => splitOptions(["mod.wasm", "--verbose"], spec)).toThrow(/unknown option --verbose .*after --/);
    expect(() => splitOptions(["--a", "1", "--a", "2"], spec)).toThrow(/given twice/);
  });
});

describe("preopened directories", () => {
  it("--dir loads a tree and writes back changed and new files, leaving unchanged ones alone", () => {
    const host = join(scratch, "rw");
    mkdirSync(join(host, "sub"), { recursive: true });
    writeFileSync(join(host, "a.txt"), "aaa");
    writeFileSync(join(host, "sub", "b.txt"), "bbb");
    writeFileSync(join(host, "same.txt"), "same");
    const loaded = loadDir(parseDirSpec(`${host}:/work`, false));
    expect(loaded.preopen.prestat_name).toBe("/work");
    const a = loaded.preopen.dir.contents.get("a.txt") as File;
    expect(new TextDecoder().decode(a.data)).toBe("aaa");
    expect(a.readonly).toBe(false);
    a.data.set([65], 0);
    const sub = loaded.preopen.dir.contents.get("sub") as Directory;
    sub.contents.set("new.txt", new File(new TextEncoder().encode("created")));
    const written = loaded.writeBack();
    expect(written.sort()).toEqual([join(host, "a.txt"), join(host, "sub", "new.txt")].sort());
    expect(readFileSync(join(host, "a.txt"), "utf8")).toBe("Aaa");
    expect(readFileSync(join(host, "sub", "new.txt"), "utf8")).toBe("created");
    expect(readFileSync(join(host, "sub", "b.txt"), "utf8")).toBe("bbb");
  });

  it("--ro-dir loads files read-only and never writes back", () => {
    const host = join(scratch, "ro");
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, "a.txt"), "aaa");
    const loaded = loadDir(parseDirSpec(host, true));
    expect(loaded.preopen.prestat_name).toBe(host);
    const a = loaded.preopen.dir.contents.get("a.txt") as File;
    expect(a.readonly).toBe(true);
    a.data.set([65], 0);
    expect(loaded.writeBack()).toEqual([]);
    expect(readFileSync(join(host, "a.txt"), "utf8")).toBe("aaa");
  });

  it("refuses a missing directory, a file, and an empty part", () => {
    writeFileSync(join(scratch, "plain"), "x");
    expect(() => parseDirSpec(join(scratch, "nope"), false)).toThrow(/--dir: no such directory/);
    expect(() => parseDirSpec(join(scratch, "plain"), true)).toThrow(/--ro-dir: not a directory/);
    expect(() => parseDirSpec(`${scratch}:`, false)).toThrow(/expected HOST\[:GUEST\]/);
  });
});
