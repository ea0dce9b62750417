// The preopened-directory loader (cli/dirs.ts) as a library: loadDir() never loads what a
// link leads to outside the directory, serves a link that stays inside as the same inode, and
// writeBack() never follows a link or opens anything but a regular file, also when the host
// tree changed while the module ran (issue 11). The module's edits are made on the shim tree
// directly, as the WASI calls would make them.
import { closeSync, constants, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Directory, File, type Inode } from "@bjorn3/browser_wasi_shim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDir, parseDirSpec } from "../cli/dirs.js";
import { LINK_REFUSED, makeLinkCycles, mkfifo, sandboxTree } from "./helpers/sandbox.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "wasi-mman-sandbox-dirs-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

/** True when no directory can be reached from itself (what a guest's recursive walk needs). */
function acyclic(root: Directory): boolean {
  const walking = new Set<Directory>();
  const done = new Set<Directory>();
  const visit = (dir: Directory): boolean => {
    walking.add(dir);
    for (const entry of dir.contents.values()) {
      if (!(entry instanceof Directory) || done.has(entry)) continue;
      if (walking.has(entry) || !visit(entry)) return false;
    }
    walking.delete(dir);
    done.add(dir);
    return true;
  };
  return visit(root);
}

describe("loadDir: links", () => {
  it("leaves out links that lead outside (one line each, --dir and --ro-dir) and loads nothing from there", () => {
    const { dir, outside } = sandboxTree(scratch, "outside");
    mkdirSync(join(dir, "sub"));
    symlinkSync("../outside/secret.txt", join(dir, "rel"));
    symlinkSync(join(outside, "secret.txt"), join(dir, "abs"));
    symlinkSync("../../outside", join(dir, "sub", "dir"));
    symlinkSync("sub/../../outside/secret.txt", join(dir, "sneaky"));
    symlinkSync("rel", join(dir, "chain"));
    for (const readonly of [false, true]) {
      const lines: string[] = [];
      const loaded = loadDir(parseDirSpec(dir, readonly), (line) => lines.push(line));
      const root = loaded.preopen.dir;
      expect([...root.contents.keys()].sort()).toEqual(["a.txt", "sub"]);
      expect([...(root.contents.get("sub") as Directory).contents.keys()]).toEqual([]);
      const option = readonly ? "--ro-dir" : "--dir";
      expect(lines.sort()).toEqual(
        ["rel", "abs", "sub/dir", "sneaky", "chain"].map((name) => `wasi-mman: ${option}: left out ${join(dir, name)}: a symbolic link to outside ${dir}`).sort(),
      );
    }
  });

  it("serves a link that stays inside as the same inode: files and directories, relative, absolute, chained", () => {
    const { dir } = sandboxTree(scratch, "inside");
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "b.txt"), "bbb");
    symlinkSync("a.txt", join(dir, "alias"));
    symlinkSync(join(dir, "a.txt"), join(dir, "abs-alias"));
    symlinkSync("../alias", join(dir, "sub", "chained"));
    symlinkSync("sub", join(dir, "view"));
    const lines: string[] = [];
    const root = loadDir(parseDirSpec(dir, false), (line) => lines.push(line)).preopen.dir;
    expect(lines).toEqual([]);
    const a = root.contents.get("a.txt");
    expect(a).toBeInstanceOf(File);
    expect(root.contents.get("alias")).toBe(a);
    expect(root.contents.get("abs-alias")).toBe(a);
    const sub = root.contents.get("sub") as Directory;
    expect(sub.contents.get("chained")).toBe(a);
    expect(root.contents.get("view")).toBe(sub);
  });

  it("leaves out loops and links that would close a cycle, so the tree a guest walks has none", () => {
    const { dir } = sandboxTree(scratch, "cycles");
    makeLinkCycles(dir);
    symlinkSync("..", join(dir, "a", "up"));
    symlinkSync("loop2", join(dir, "loop1"));
    symlinkSync("loop1", join(dir, "loop2"));
    const root = loadDir(parseDirSpec(dir, false)).preopen.dir;
    expect(acyclic(root)).toBe(true);
    for (const name of ["self", "loop1", "loop2"]) expect(root.contents.has(name), name).toBe(false);
    const a = root.contents.get("a") as Directory;
    const c = root.contents.get("c") as Directory;
    expect(a.contents.has("up")).toBe(false);
    // One of the two links between the siblings stays.
    expect(Number(a.contents.get("b") === c) + Number(c.contents.get("d") === a)).toBe(1);
  });

  it("leaves FIFOs out, and a link to one, without opening them", () => {
    const { dir } = sandboxTree(scratch, "fifo-load");
    mkfifo(join(dir, "pipe"));
    symlinkSync("pipe", join(dir, "to-pipe"));
    const root = loadDir(parseDirSpec(dir, true)).preopen.dir;
    expect([...root.contents.keys()]).toEqual(["a.txt"]);
  });
});

describe("writeBack: never through a link, never into a FIFO", () => {
  it("refuses a file or directory the guest made where a left-out link stands; the link and its target stay", () => {
    const { dir, outside } = sandboxTree(scratch, "refuse");
    symlinkSync("../outside/secret.txt", join(dir, "leak"));
    symlinkSync("../outside/new.txt", join(dir, "dangling"));
    symlinkSync("../outside", join(dir, "out"));
    symlinkSync("missing.txt", join(dir, "inside-dangling"));
    const loaded = loadDir(parseDirSpec(dir, false));
    const root = loaded.preopen.dir;
    root.contents.set("leak", new File(text("PWNED")));
    root.contents.set("dangling", new File(text("ESCAPED")));
    root.contents.set("out", new Directory(new Map<string, Inode>([["planted.txt", new File(text("X"))]])));
    root.contents.set("inside-dangling", new File(text("NEW")));
    root.contents.set("fine.txt", new File(text("fine")));
    const lines: string[] = [];
    expect(loaded.writeBack((line) => lines.push(line))).toEqual([join(dir, "fine.txt")]);
    expect(lines.sort()).toEqual(
      [
        `wasi-mman: --dir: cannot write back ${join(dir, "leak")}: ${LINK_REFUSED}`,
        `wasi-mman: --dir: cannot write back ${join(dir, "dangling")}: ${LINK_REFUSED}`,
        `wasi-mman: --dir: cannot create directory ${join(dir, "out")}: ${LINK_REFUSED}`,
        `wasi-mman: --dir: cannot write back ${join(dir, "inside-dangling")}: ${LINK_REFUSED}`,
      ].sort(),
    );
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("SECRET\n");
    for (const name of ["leak", "dangling", "out", "inside-dangling"]) expect(lstatSync(join(dir, name)).isSymbolicLink(), name).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(["a.txt", "dangling", "fine.txt", "inside-dangling", "leak", "out"]);
  });

  it("writes an edit made through a link inside under the file's own name; the link stays a link", () => {
    const { dir } = sandboxTree(scratch, "alias-edit");
    symlinkSync("a.txt", join(dir, "alias"));
    const loaded = loadDir(parseDirSpec(dir, false));
    const alias = loaded.preopen.dir.contents.get("alias") as File;
    alias.data = text("edited\n");
    expect(loaded.writeBack()).toEqual([join(dir, "a.txt")]);
    expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("edited\n");
    expect(readlinkSync(join(dir, "alias"))).toBe("a.txt");
  });

  it("a host file replaced by a link while the module ran: the edit is refused, the link's target untouched", () => {
    const { dir, outside } = sandboxTree(scratch, "swapped-link");
    const loaded = loadDir(parseDirSpec(dir, false));
    (loaded.preopen.dir.contents.get("a.txt") as File).data = text("edited\n");
    unlinkSync(join(dir, "a.txt"));
    symlinkSync("../outside/secret.txt", join(dir, "a.txt"));
    const lines: string[] = [];
    expect(loaded.writeBack((line) => lines.push(line))).toEqual([]);
    expect(lines).toEqual([`wasi-mman: --dir: cannot write back ${join(dir, "a.txt")}: ${LINK_REFUSED}`]);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("SECRET\n");
  });

  it("a host directory replaced by a link to outside while the module ran: nothing is written into it", () => {
    const { dir, outside } = sandboxTree(scratch, "swapped-dir");
    mkdirSync(join(dir, "sub"));
    const loaded = loadDir(parseDirSpec(dir, false));
    (loaded.preopen.dir.contents.get("sub") as Directory).contents.set("planted.txt", new File(text("X")));
    rmSync(join(dir, "sub"), { recursive: true });
    symlinkSync("../outside", join(dir, "sub"));
    const lines: string[] = [];
    expect(loaded.writeBack((line) => lines.push(line))).toEqual([]);
    expect(lines).toEqual([`wasi-mman: --dir: cannot create directory ${join(dir, "sub")}: ${LINK_REFUSED}`]);
    expect(readdirSync(outside)).toEqual(["secret.txt"]);
  });

  it("a FIFO where the guest made a file (also one that replaced a loaded file): refused, not a byte written into it", () => {
    const { dir } = sandboxTree(scratch, "fifo-write");
    mkfifo(join(dir, "pipe"));
    const loaded = loadDir(parseDirSpec(dir, false));
    const root = loaded.preopen.dir;
    root.contents.set("pipe", new File(text("into the pipe")));
    (root.contents.get("a.txt") as File).data = text("edited\n");
    unlinkSync(join(dir, "a.txt"));
    mkfifo(join(dir, "a.txt"));
    // Readers hold both FIFOs open, so a write-back that opened one would not block: it
    // would put bytes in the pipe, and the reads below would find them.
    const readers = ["pipe", "a.txt"].map((name) => openSync(join(dir, name), constants.O_RDONLY | constants.O_NONBLOCK));
    try {
      const lines: string[] = [];
      expect(loaded.writeBack((line) => lines.push(line))).toEqual([]);
      expect(lines.sort()).toEqual(
        [`wasi-mman: --dir: cannot write back ${join(dir, "a.txt")}: a FIFO is in the way`, `wasi-mman: --dir: cannot write back ${join(dir, "pipe")}: a FIFO is in the way`].sort(),
      );
      for (const fd of readers) {
        let count = 0;
        try {
          count = readSync(fd, new Uint8Array(64));
        } catch (error) {
          expect((error as NodeJS.ErrnoException).code).toBe("EAGAIN");
        }
        expect(count).toBe(0);
      }
    } finally {
      for (const fd of readers) closeSync(fd);
    }
    expect(lstatSync(join(dir, "pipe")).isFIFO()).toBe(true);
  });
});
