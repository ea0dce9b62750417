/**
 * Host trees for the sandbox tests (test/sandbox-*.test.ts): a directory D given to --dir,
 * next to a directory outside it that holds a secret, and FIFOs made with mkfifo(1).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** What write-back says when a link stands where the module made a file or directory. */
export const LINK_REFUSED = "a symbolic link is in the way (links are never followed)";

/**
 * A fresh `<scratch>/<name>-XXXXXX/` holding D (with a.txt, "inside\n") and outside (with
 * secret.txt, "SECRET\n"); returns both paths.
 */
export function sandboxTree(scratch: string, name: string): { dir: string; outside: string } {
  const base = mkdtempSync(join(scratch, `${name}-`));
  const dir = join(base, "D");
  const outside = join(base, "outside");
  mkdirSync(dir);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), "SECRET\n");
  writeFileSync(join(dir, "a.txt"), "inside\n");
  return { dir, outside };
}

/** Makes a FIFO (Node has no mkfifo of its own; coreutils' does it). */
export function mkfifo(path: string): void {
  if (spawnSync("mkfifo", [path]).status !== 0) throw new Error(`mkfifo ${path} failed`);
}

/**
 * Links in D that a guest walking the tree would follow forever: D/self -> ., and two sibling
 * directories linked to each other (D/a/b -> ../c, D/c/d -> ../a).
 */
export function makeLinkCycles(dir: string): void {
  mkdirSync(join(dir, "a"));
  mkdirSync(join(dir, "c"));
  symlinkSync("../c", join(dir, "a", "b"));
  symlinkSync("../a", join(dir, "c", "d"));
  symlinkSync(".", join(dir, "self"));
}
