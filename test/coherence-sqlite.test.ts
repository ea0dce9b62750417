/**
 * A real program that maps its files: SQLite 3.40.1 (Debian source package sqlite3) with its
 * own Unix VFS and `PRAGMA mmap_size`, built with `wasi-mman cc` (fixtures/c/coherence/,
 * scripts/build-c.ts buildSqliteMmap). SQLite maps the database file MAP_SHARED and PROT_READ,
 * reads pages through the mapping, writes them with pwrite and grows the mapping with mremap;
 * two connections hold two mappings of the one file. Under `wasi-mman run --dir D` the output
 * and the database file left in D must equal the native build's (Linux's page cache), and
 * Debian's sqlite3 command, when installed, must find the file intact and read the same rows.
 *
 * Without coherence the first commit's pages are written back over by the stale mapping and
 * SQLite stops with "file is not a database".
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSqliteMmap, cToolchainStatus, type SqliteMmapBuild } from "../scripts/build-c.js";
import { cli } from "./helpers/cli.js";

function available(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const toolchain = cToolchainStatus();
const skipReason = !toolchain.ok
  ? toolchain.reason
  : !["tclsh", "gcc", "make"].every(available)
    ? "SQLite's amalgamation needs tclsh, gcc and make (Debian: tcl gcc make)"
    : "";
if (skipReason) console.warn(`\n*** SQLITE MMAP TEST SKIPPED: ${skipReason} ***\n`);
const sqlite3Cli = available("sqlite3");
if (!skipReason && !sqlite3Cli) console.warn("\n*** sqlite3 command not installed: the database file is checked against the native build only ***\n");

describe.skipIf(skipReason !== "")("SQLite with mmap_size under wasi-mman run --dir: output and database file equal the native build's", () => {
  let build: SqliteMmapBuild;
  let scratch: string;
  let expectedOutput: string;
  let expectedDatabase: Buffer;
  beforeAll(async () => {
    build = await buildSqliteMmap();
    scratch = mkdtempSync(join(tmpdir(), "wasi-mman-sqlite-mmap-"));
    const nativeDir = mkdtempSync(join(scratch, "native-"));
    expectedOutput = execFileSync(build.native, [join(nativeDir, "test.db")], { encoding: "utf8" });
    expectedDatabase = readFileSync(join(nativeDir, "test.db"));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("the native build runs the whole workload with memory-mapped I/O on", () => {
    expect(expectedOutput).toMatch(/^-- mmap_size\n268435456\n/);
    expect(expectedOutput).toContain("-- integrity (reader)\nok\n");
    expect(expectedOutput.endsWith("done\n")).toBe(true);
  });

  for (const pageSize of [4096, 65536]) {
    it(`${pageSize / 1024} KiB pages: same output, same database file, through shared mappings of it`, async () => {
      const dir = mkdtempSync(join(scratch, `wasm-${pageSize}-`));
      const tracePath = join(scratch, `trace-${pageSize}.jsonl`);
      const run = await cli("run", "--page-size", String(pageSize), "--trace", tracePath, "--dir", `${dir}:/data`, build.wasm, "--", "/data/test.db");
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe(expectedOutput);
      expect(run.code).toBe(0);
      const database = readFileSync(join(dir, "test.db"));
      expect(database.length).toBe(expectedDatabase.length);
      expect(database.equals(expectedDatabase), "the database file is byte for byte the native build's").toBe(true);

      // SQLite did map its file: MAP_SHARED mmaps of a file descriptor, grown with mremap.
      const records = readFileSync(tracePath, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { call: string; args: number[]; result: number });
      const shared = records.filter((r) => r.call === "mmap" && (r.args[3] & 0x0f) === 0x01 && r.args[4] >= 3 && r.result > 0);
      expect(shared.length).toBeGreaterThanOrEqual(2);
      expect(records.filter((r) => r.call === "mremap" && r.result > 0).length).toBeGreaterThan(0);

      if (sqlite3Cli) {
        const reading = execFileSync("sqlite3", [join(dir, "test.db"), "PRAGMA integrity_check; SELECT count(*), sum(n), max(k), sum(length(v)) FROM kv;"], { encoding: "utf8" });
        const reopened = /-- reopened\n(.*)\n/.exec(expectedOutput)?.[1];
        expect(reading).toBe(`ok\n${reopened}\n`);
      }
    });
  }
});
