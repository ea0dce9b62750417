// `wasi-mman run --dir D` and `--ro-dir D` never read, create, replace or follow anything
// outside D (issue 11): symbolic links (dangling, to files and directories outside, through
// `..`, absolute, chained), FIFOs and nested directories in a temporary tree, driven through
// the command with fixtures/wat/sandbox-fs.wat (w PATH TEXT, m PATH TEXT, d PATH, r PATH;
// exits with the WASI errno of a failed call: ENOENT 44). Each run is killed after 20 s, so a
// write-back that blocks on a FIFO fails the test instead of hanging the suite.
import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errLines, repoRoot, type Run } from "./helpers/cli.js";
import { LINK_REFUSED, makeLinkCycles, mkfifo, sandboxTree } from "./helpers/sandbox.js";

const FIXTURE = "fixtures/wat/sandbox-fs.wat";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-sandbox-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface TimedRun extends Run {
  timedOut: boolean;
}

/** `wasi-mman <args>` from the sources, killed (SIGKILL, this child only) after `limitMs`. */
function run(args: string[], limitMs = 20_000): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limitMs);
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** The fixture on D preopened as "/", with operations after --. */
function guest(option: "--dir" | "--ro-dir", dir: string, ops: string[], extra: string[] = []): Promise<TimedRun> {
  return run(["run", ...extra, option, `${dir}:/`, FIXTURE, "--", ...ops]);
}

describe.concurrent("--dir write-back never follows a link", () => {
  it("a guest file where a dangling link stood: the link and the host outside stay as they were, one line says why", async () => {
    const { dir, outside } = sandboxTree(scratch, "dangling");
    symlinkSync("../outside/escaped.txt", join(dir, "out.txt"));
    symlinkSync(join(outside, "escaped-abs.txt"), join(dir, "abs.txt"));
    mkdirSync(join(dir, "sub", "deep"), { recursive: true });
    symlinkSync("../../../outside/escaped-deep.txt", join(dir, "sub", "deep", "log.txt"));
    const result = await guest("--dir", dir, ["w", "out.txt", "ESCAPED", "w", "abs.txt", "ESCAPED", "w", "sub/deep/log.txt", "ESCAPED"]);
    expect(result.code).toBe(0);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
    expect(readlinkSync(join(dir, "out.txt"))).toBe("../outside/escaped.txt");
    expect(readlinkSync(join(dir, "abs.txt"))).toBe(join(outside, "escaped-abs.txt"));
    expect(readlinkSync(join(dir, "sub", "deep", "log.txt"))).toBe("../../../outside/escaped-deep.txt");
    const lines = errLines(result);
    for (const name of ["out.txt", "abs.txt", "sub/deep/log.txt"]) {
      expect(lines).toContain(`wasi-mman: --dir: left out ${join(dir, name)}: a symbolic link to outside ${dir}`);
      expect(lines).toContain(`wasi-mman: --dir: cannot write back ${join(dir, name)}: ${LINK_REFUSED}`);
    }
    expect(lines).toHaveLength(6);
  });

  it("a dangling link inside D is left out silently; a file created there is refused, its target never made", async () => {
    const { dir } = sandboxTree(scratch, "dangling-inside");
    symlinkSync("missing.txt", join(dir, "alias.txt"));
    const result = await guest("--dir", dir, ["w", "alias.txt", "NEW"]);
    expect(result.code).toBe(0);
    expect(existsSync(join(dir, "missing.txt"))).toBe(false);
    expect(lstatSync(join(dir, "alias.txt")).isSymbolicLink()).toBe(true);
    expect(errLines(result)).toEqual([`wasi-mman: --dir: cannot write back ${join(dir, "alias.txt")}: ${LINK_REFUSED}`]);
  });

  it("a directory created where a link to a directory stands: not made, nothing written through it", async () => {
    const { dir, outside } = sandboxTree(scratch, "dir-link");
    symlinkSync("../nowhere", join(dir, "sub"));
    const result = await guest("--dir", dir, ["d", "sub", "w", "sub/x.txt", "X"]);
    expect(result.code).toBe(0);
    expect(existsSync(join(outside, "..", "nowhere"))).toBe(false);
    expect(errLines(result)).toEqual([
      `wasi-mman: --dir: left out ${join(dir, "sub")}: a symbolic link to outside ${dir}`,
      `wasi-mman: --dir: cannot create directory ${join(dir, "sub")}: ${LINK_REFUSED}`,
    ]);
  });

  for (const pageSize of ["4k", "64k"]) {
    it(`a MAP_SHARED mapping live at exit, of a file created where a link stood, does not reach the link's target (${pageSize} pages)`, async () => {
      const { dir, outside } = sandboxTree(scratch, `mapped-${pageSize}`);
      symlinkSync("../outside/secret.txt", join(dir, "victim"));
      const result = await guest("--dir", dir, ["w", "victim", "0123456789", "m", "victim", "MAPPED"], ["--page-size", pageSize]);
      expect(result.code).toBe(0);
      expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("SECRET\n");
      expect(readlinkSync(join(dir, "victim"))).toBe("../outside/secret.txt");
      expect(errLines(result)).toContain(`wasi-mman: --dir: cannot write back ${join(dir, "victim")}: ${LINK_REFUSED}`);
    });
  }
});

describe.concurrent("--dir write-back never opens a FIFO", () => {
  it("a guest file where a FIFO stands (at the top, nested, behind a link): refused at once, the FIFO left as it is", async () => {
    const { dir } = sandboxTree(scratch, "fifo");
    mkfifo(join(dir, "pipe"));
    mkdirSync(join(dir, "sub", "deep"), { recursive: true });
    mkfifo(join(dir, "sub", "deep", "pipe"));
    symlinkSync("pipe", join(dir, "to-pipe"));
    const result = await guest("--dir", dir, ["w", "pipe", "data", "w", "sub/deep/pipe", "data", "w", "to-pipe", "data", "w", "new.txt", "written"]);
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(lstatSync(join(dir, "pipe")).isFIFO()).toBe(true);
    expect(lstatSync(join(dir, "sub", "deep", "pipe")).isFIFO()).toBe(true);
    expect(lstatSync(join(dir, "to-pipe")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, "new.txt"), "utf8")).toBe("written");
    expect(errLines(result).sort()).toEqual(
      [
        `wasi-mman: --dir: cannot write back ${join(dir, "pipe")}: a FIFO is in the way`,
        `wasi-mman: --dir: cannot write back ${join(dir, "sub", "deep", "pipe")}: a FIFO is in the way`,
        `wasi-mman: --dir: cannot write back ${join(dir, "to-pipe")}: ${LINK_REFUSED}`,
      ].sort(),
    );
  }, 30_000);

  it("a guest directory where a FIFO stands: one line, nothing made", async () => {
    const { dir } = sandboxTree(scratch, "fifo-dir");
    mkfifo(join(dir, "pipe"));
    const result = await guest("--dir", dir, ["d", "pipe", "w", "pipe/x.txt", "X"]);
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(lstatSync(join(dir, "pipe")).isFIFO()).toBe(true);
    expect(errLines(result)).toEqual([`wasi-mman: --dir: cannot create directory ${join(dir, "pipe")}: a FIFO is in the way`]);
  }, 30_000);
});

describe.concurrent("links are not followed out of D at load", () => {
  const escapes: [string, (dir: string, outside: string) => string][] = [
    ["relative, through ..", () => "../outside/secret.txt"],
    ["absolute", (_dir, outside) => join(outside, "secret.txt")],
    ["inside first, then up", () => "sub/../../outside/secret.txt"],
    ["absolute into D, then up", (dir) => `${dir}/../outside/secret.txt`],
    ["a chain of links", () => "hop1"],
  ];
  for (const [how, target] of escapes) {
    for (const option of ["--dir", "--ro-dir"] as const) {
      it(`${option}: a link to a file outside (${how}) is left out with one line; the guest cannot read it`, async () => {
        const { dir, outside } = sandboxTree(scratch, `read-${option.slice(2)}`);
        mkdirSync(join(dir, "sub"));
        symlinkSync("hop2", join(dir, "hop1"));
        symlinkSync("../outside/secret.txt", join(dir, "hop2"));
        symlinkSync(target(dir, outside), join(dir, "leak"));
        const result = await guest(option, dir, ["r", "leak"]);
        expect(result.stdout).toBe("");
        expect(result.code).toBe(44); // ENOENT
        expect(errLines(result)).toContain(`wasi-mman: ${option}: left out ${join(dir, "leak")}: a symbolic link to outside ${dir}`);
      });
    }
  }

  it("--dir: a guest writing a link to an outside file makes a new file there: refused, the outside file intact", async () => {
    const { dir, outside } = sandboxTree(scratch, "overwrite");
    symlinkSync("../outside/secret.txt", join(dir, "leak"));
    const result = await guest("--dir", dir, ["w", "leak", "PWNED"]);
    expect(result.code).toBe(0);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("SECRET\n");
    expect(errLines(result)).toEqual([
      `wasi-mman: --dir: left out ${join(dir, "leak")}: a symbolic link to outside ${dir}`,
      `wasi-mman: --dir: cannot write back ${join(dir, "leak")}: ${LINK_REFUSED}`,
    ]);
  });

  it("--dir: a link to a directory outside (nested, through ..) is left out: nothing is read from it or written into it", async () => {
    const { dir, outside } = sandboxTree(scratch, "outside-dir");
    mkdirSync(join(dir, "sub"));
    symlinkSync("../../outside", join(dir, "sub", "out"));
    const read = await guest("--dir", dir, ["r", "sub/out/secret.txt"]);
    expect(read.code).toBe(44);
    expect(read.stdout).toBe("");
    const write = await guest("--dir", dir, ["w", "sub/out/planted.txt", "X"]);
    expect(write.code).toBe(44);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
  });

  for (const pageSize of ["4k", "64k"]) {
    it(`a link inside D to a file inside D is the same file: written or mapped through the link, the file changes, the link stays (${pageSize} pages)`, async () => {
      const { dir } = sandboxTree(scratch, `alias-${pageSize}`);
      mkdirSync(join(dir, "sub"));
      symlinkSync("a.txt", join(dir, "alias"));
      symlinkSync("../a.txt", join(dir, "sub", "up-alias"));
      symlinkSync(join(dir, "a.txt"), join(dir, "abs-alias"));
      symlinkSync("sub", join(dir, "view"));
      // One file under four names: what is written through one is read through the others.
      const result = await guest(
        "--dir",
        dir,
        ["w", "alias", "written through alias\n", "r", "a.txt", "r", "sub/up-alias", "m", "abs-alias", "WRITTEN", "w", "view/new.txt", "through view\n"],
        ["--page-size", pageSize],
      );
      expect(result.code).toBe(0);
      expect(result.stdout).toBe("written through alias\n".repeat(2));
      expect(errLines(result)).toEqual([]);
      expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("WRITTEN through alias\n");
      expect(readlinkSync(join(dir, "alias"))).toBe("a.txt");
      expect(readlinkSync(join(dir, "abs-alias"))).toBe(join(dir, "a.txt"));
      expect(readFileSync(join(dir, "sub", "new.txt"), "utf8")).toBe("through view\n");
      expect(readlinkSync(join(dir, "view"))).toBe("sub");
    });
  }

  it("links that would make the tree a cycle are left out; the run ends", async () => {
    const { dir } = sandboxTree(scratch, "cycle");
    makeLinkCycles(dir);
    writeFileSync(join(dir, "c", "f.txt"), "in c\n");
    const result = await guest("--dir", dir, ["r", "c/f.txt"]);
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("in c\n");
    expect(errLines(result)).toEqual([]);
  });
});
