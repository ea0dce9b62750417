/**
 * Preopened directories for `wasi-mman run --dir HOST[:GUEST]` (and --ro-dir).
 *
 * browser_wasi_shim serves files from memory, so a host directory is read into a shim
 * Directory tree before the module starts:
 *   --dir     files are writable; when the module exits, files whose bytes differ from those
 *             loaded at start and files it created are written back to the host directory
 *             (also after a trap); files it did not change are left alone, even if the host
 *             file changed meanwhile. Files it deleted or renamed stay on the host as they
 *             were: only contents are mirrored. A file that cannot be written back is
 *             reported in one line and skipped. A file that cannot be read at start is a
 *             usage error (exit 2): running on part of a tree would be worse.
 *   --ro-dir  files are read-only (File.readonly): opening one for writing fails, and a
 *             writable MAP_SHARED mapping of one fails with EACCES. Nothing is written back.
 *
 * The sandbox: nothing outside HOST is ever read, created, replaced or followed.
 *   - Loading looks at every entry with lstat and opens files with O_NOFOLLOW | O_NONBLOCK.
 *     A symbolic link is resolved by hand, one component at a time, below HOST only: one
 *     whose target leaves HOST at any step (an absolute path elsewhere, `..` above HOST, a
 *     link that does) is left out with one line; one that ends inside HOST on a loaded file
 *     or directory is served as that same inode (two names for one file, as path_link makes
 *     them in the shim); a dangling one, a loop, one to a FIFO, and one to a directory that
 *     would make the tree a cycle are left out silently. FIFOs, sockets and devices are left
 *     out.
 *   - Write-back never follows a link and never opens anything but a regular file: each
 *     host path is checked with lstat first, files are opened with O_NOFOLLOW | O_NONBLOCK
 *     and checked with fstat before a byte is written, directories are made one level at a
 *     time. A file the module created where a left-out entry stands (a link, a FIFO, ...) is
 *     refused with one line; the entry and whatever it points to stay as they were. A link
 *     served as its target is not written through: its target is written under its own name.
 * Other processes changing HOST while it is loaded or written back are not defended against.
 */
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
  writeSync,
  type Stats,
} from "node:fs";
import { join, resolve } from "node:path";
import { Directory, File, PreopenDirectory, type Inode } from "@bjorn3/browser_wasi_shim";
import { UsageError } from "./args.js";

export interface DirSpec {
  host: string;
  guest: string;
  readonly: boolean;
}

/** "HOST[:GUEST]": the guest path defaults to the host path as written. */
export function parseDirSpec(text: string, readonly: boolean): DirSpec {
  const colon = text.indexOf(":");
  const host = colon >= 0 ? text.slice(0, colon) : text;
  const guest = colon >= 0 ? text.slice(colon + 1) : text;
  const option = readonly ? "--ro-dir" : "--dir";
  if (host === "" || guest === "") throw new UsageError(`${option}: expected HOST[:GUEST], got "${text}"`);
  let isDirectory = false;
  try {
    isDirectory = statSync(host).isDirectory();
  } catch {
    throw new UsageError(`${option}: no such directory: ${host}`);
  }
  if (!isDirectory) throw new UsageError(`${option}: not a directory: ${host}`);
  return { host, guest, readonly };
}

// Absent on platforms without them (Windows); the lstat checks still stand there.
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/** Linux's limit on symbolic links followed in one lookup (path_resolution(7): ELOOP after 40). */
const MAX_LINK_HOPS = 40;

const LINK_IN_THE_WAY = "a symbolic link is in the way (links are never followed)";

/** Why a host file operation failed, in a few words. */
function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EEXIST") return "a file of that name is in the way";
  if (code === "EISDIR") return "a directory of that name is in the way";
  if (code === "ELOOP") return LINK_IN_THE_WAY;
  // open(2) with O_NONBLOCK | O_WRONLY: a FIFO nobody reads, or a socket.
  if (code === "ENXIO") return "a FIFO or socket is in the way";
  if (code === "ENOSPC") return "no space left on device";
  if (code === "ERR_FS_FILE_TOO_LARGE") return "file too large to load (2 GiB or more)";
  return code ?? (error as Error).message;
}

type EntryKind = "file" | "directory" | "link" | "FIFO" | "socket" | "device";

function kindOf(stat: Stats): EntryKind {
  if (stat.isFile()) return "file";
  if (stat.isDirectory()) return "directory";
  if (stat.isSymbolicLink()) return "link";
  if (stat.isFIFO()) return "FIFO";
  if (stat.isSocket()) return "socket";
  return "device";
}

/** What stands at `path` itself (never what a link there points to); null when nothing does. */
function entryKind(path: string): EntryKind | null {
  try {
    return kindOf(lstatSync(path));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function inTheWay(kind: EntryKind): string {
  if (kind === "link") return LINK_IN_THE_WAY;
  if (kind === "file") return "a file of that name is in the way";
  if (kind === "directory") return "a directory of that name is in the way";
  return `a ${kind} is in the way`;
}

/** A path's components, without empty ones and "." ("/a//./b" -> ["a", "b"]). */
function components(path: string): string[] {
  return path.split("/").filter((part) => part !== "" && part !== ".");
}

/**
 * Where a symbolic link leads, resolved as the kernel does (path_resolution(7): each link
 * replaced by its target, `..` taken after links), but looking only at entries below the
 * root: "outside" as soon as the walk would leave it (`..` at the root, an absolute target
 * that does not start with the root's path), "dangling" for a missing entry, a component
 * that is not a directory, or more than 40 links; otherwise the target's components below
 * the root, none of them a link.
 */
function resolveLink(root: string, rootPrefixes: string[][], linkDir: string[], target: string): string[] | "outside" | "dangling" {
  let stack = [...linkDir];
  let pending: string[] = [];
  const follow = (text: string): boolean => {
    if (text.startsWith("/")) {
      const parts = components(text);
      const prefix = rootPrefixes.find((candidate) => candidate.every((part, i) => parts[i] === part));
      if (prefix === undefined) return false;
      stack = [];
      pending = [...parts.slice(prefix.length), ...pending];
    } else {
      pending = [...components(text), ...pending];
    }
    return true;
  };
  if (!follow(target)) return "outside";
  let hops = 1;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      if (stack.length === 0) return "outside";
      stack.pop();
      continue;
    }
    const path = join(root, ...stack, part);
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      return "dangling";
    }
    if (!stat.isSymbolicLink()) {
      stack.push(part);
      continue;
    }
    if (++hops > MAX_LINK_HOPS) return "dangling";
    let text: string;
    try {
      text = readlinkSync(path);
    } catch {
      return "dangling";
    }
    if (!follow(text)) return "outside";
  }
  return stack;
}

/** An entry of a loaded directory: the directory's contents and the entry's name there. */
interface Entry {
  contents: Map<string, Inode>;
  name: string;
}

/** Per loaded directory's contents: the names that are links, and the inode each was given. */
type LinkNames = WeakMap<Map<string, Inode>, Map<string, Inode>>;

/** A symbolic link met while loading (where it stands): resolved once the whole tree is read. */
interface PendingLink extends Entry {
  /** The holding directory's components below the root. */
  dir: string[];
  path: string;
  target: string;
}

interface LoadState {
  option: string;
  readonly: boolean;
  /** Each loaded file's bytes as read, so that write-back can tell what the module changed. */
  loaded: Map<File, Uint8Array>;
  links: PendingLink[];
}

/** Reads a regular file without following a link or blocking on a FIFO put there meanwhile. */
function readRegularFile(path: string): Buffer | null {
  const fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) return null;
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a host directory into shim inodes, entries seen with lstat: directories and regular
 * files are loaded, links are kept for later (state.links), anything else is left out.
 * `ancestors` holds the dev:ino of every directory on the current path: a directory that is
 * its own ancestor (a bind mount of one above) would recurse forever, so it is left out (a
 * cycle, as find(1) reports "File system loop detected").
 */
function loadTree(hostPath: string, dir: string[], state: LoadState, ancestors: Set<string>): Map<string, Inode> {
  const contents = new Map<string, Inode>();
  let names: string[];
  try {
    names = readdirSync(hostPath);
  } catch (error) {
    throw new UsageError(`${state.option}: cannot read ${hostPath}: ${reason(error)}`);
  }
  for (const name of names) {
    const path = join(hostPath, name);
    let stat: Stats;
    try {
      stat = lstatSync(path);
    } catch {
      continue; // gone since readdir
    }
    if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = readlinkSync(path);
      } catch {
        continue;
      }
      state.links.push({ contents, name, dir, path, target });
    } else if (stat.isDirectory()) {
      const key = `${stat.dev}:${stat.ino}`;
      if (ancestors.has(key)) continue;
      ancestors.add(key);
      contents.set(name, new Directory(loadTree(path, [...dir, name], state, ancestors)));
      ancestors.delete(key);
    } else if (stat.isFile()) {
      let bytes: Buffer | null;
      try {
        bytes = readRegularFile(path);
      } catch (error) {
        // Half a tree would make the module see files vanish: refuse to start instead.
        throw new UsageError(`${state.option}: cannot read ${path}: ${reason(error)}`);
      }
      if (bytes === null) continue; // replaced by something else since lstat
      // File copies the bytes, so `bytes` stays as loaded.
      const file = new File(bytes, { readonly: state.readonly });
      state.loaded.set(file, bytes);
      contents.set(name, file);
    }
  }
  return contents;
}

/** The loaded inode at `parts` below the root, walking real entries only. */
function inodeAt(root: Directory, parts: string[]): Inode | undefined {
  let node: Inode = root;
  for (const part of parts) {
    if (!(node instanceof Directory)) return undefined;
    const next: Inode | undefined = node.contents.get(part);
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}

/**
 * One link whose removal breaks a cycle in the directory graph (real entries plus links
 * served as their target directory), or null when there is none. Depth-first from the
 * root: an edge back to a directory still being walked closes a cycle; the real tree has
 * none, so the cycle holds a link, and the last one on it is returned.
 */
function linkClosingCycle(root: Directory, linkNames: LinkNames): Entry | null {
  const state = new Map<Directory, "walking" | "done">();
  const path: Entry[] = [];
  const visit = (dir: Directory): Entry | null => {
    state.set(dir, "walking");
    for (const [name, entry] of dir.contents) {
      if (!(entry instanceof Directory)) continue;
      path.push({ contents: dir.contents, name });
      const seen = state.get(entry);
      if (seen === "walking") {
        // The cycle: from the edge that leaves `entry` to this one, back into it.
        const cycle = path.slice(Math.max(0, path.findIndex((edge) => edge.contents === entry.contents)));
        const links = cycle.filter((edge) => linkNames.get(edge.contents)?.get(edge.name) !== undefined);
        return links[links.length - 1] ?? null;
      }
      if (seen === undefined) {
        const found = visit(entry);
        if (found !== null) return found;
      }
      path.pop();
    }
    state.set(dir, "done");
    return null;
  };
  return visit(root);
}

/**
 * Serves each link that stays inside the root as the inode it leads to, in place; says so
 * (`warn`) for each one that leads outside and leaves it out. Returns, per directory's
 * contents, the names that are links and the inode each was given, for write-back to skip.
 */
function resolveLinks(spec: DirSpec, root: Directory, state: LoadState, warn: (message: string) => void): LinkNames {
  const linkNames: LinkNames = new WeakMap();
  if (state.links.length === 0) return linkNames;
  // The root as given and as the kernel resolves it: an absolute link target under either
  // names an entry inside it.
  const prefixes = [components(resolve(spec.host)), components(realpathSync(spec.host))];
  let directoryLinks = false;
  for (const link of state.links) {
    const target = resolveLink(spec.host, prefixes, link.dir, link.target);
    if (target === "outside") {
      warn(`wasi-mman: ${state.option}: left out ${link.path}: a symbolic link to outside ${spec.host}`);
      continue;
    }
    if (target === "dangling") continue;
    const inode = inodeAt(root, target);
    // A FIFO or other entry that was not loaded.
    if (inode === undefined) continue;
    // A link to its own directory or one above it (`.`, `..`): a loop.
    if (inode instanceof Directory && target.length <= link.dir.length && target.every((part, i) => link.dir[i] === part)) continue;
    link.contents.set(link.name, inode);
    directoryLinks ||= inode instanceof Directory;
    let names = linkNames.get(link.contents);
    if (names === undefined) linkNames.set(link.contents, (names = new Map()));
    names.set(link.name, inode);
  }
  // Links between sibling directories can still close a cycle (a/b -> ../c, c/d -> ../a).
  if (!directoryLinks) return linkNames;
  for (let edge = linkClosingCycle(root, linkNames); edge !== null; edge = linkClosingCycle(root, linkNames)) {
    edge.contents.delete(edge.name);
    linkNames.get(edge.contents)?.delete(edge.name);
  }
  return linkNames;
}

/** Makes sure a real directory (not a link to one) stands at `path`; null, or why not. */
function ensureDirectory(path: string): string | null {
  try {
    const kind = entryKind(path);
    if (kind === "directory") return null;
    if (kind !== null) return inTheWay(kind);
    // One level: the parent was checked the same way.
    mkdirSync(path);
    return null;
  } catch (error) {
    return reason(error);
  }
}

/**
 * Writes `data` as the whole of the regular file at `path`, creating it if nothing is there.
 * Never follows a link, never opens a FIFO or device for writing: null, or why not.
 */
function writeRegularFile(path: string, data: Uint8Array): string | null {
  let fd: number;
  try {
    const kind = entryKind(path);
    if (kind !== null && kind !== "file") return inTheWay(kind);
    // O_NOFOLLOW and O_NONBLOCK catch a link or FIFO put there since the lstat above
    // (ELOOP, ENXIO); the fstat below catches anything else that is not a regular file.
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0o666);
  } catch (error) {
    return reason(error);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return inTheWay(kindOf(stat));
    let offset = 0;
    while (offset < data.byteLength) offset += writeSync(fd, data, offset, data.byteLength - offset, offset);
    ftruncateSync(fd, data.byteLength);
    return null;
  } catch (error) {
    return reason(error);
  } finally {
    closeSync(fd);
  }
}

/** A loaded directory: the shim's preopen, and how to write changes back to the host. */
export interface LoadedDir {
  spec: DirSpec;
  preopen: PreopenDirectory;
  /**
   * Writes changed and new files back (--dir only); returns the host paths written. A file
   * that cannot be written is reported through `warn` (one line each) and skipped.
   */
  writeBack(warn?: (message: string) => void): string[];
}

/**
 * Only files the module changed are written: a file is compared with the bytes loaded at
 * start, never with the host file at exit, because the host file may have changed meanwhile
 * (the shell's own redirection into the directory, a --trace file there, another --dir of the
 * same host directory written back first) and an untouched shim copy must not undo that.
 * `warn` receives one line per symbolic link left out because it leads outside the directory.
 */
export function loadDir(spec: DirSpec, warn: (message: string) => void = () => {}): LoadedDir {
  const option = spec.readonly ? "--ro-dir" : "--dir";
  const state: LoadState = { option, readonly: spec.readonly, loaded: new Map(), links: [] };
  const root = statSync(spec.host);
  const preopen = new PreopenDirectory(spec.guest, loadTree(spec.host, [], state, new Set([`${root.dev}:${root.ino}`])));
  const linkNames = resolveLinks(spec, preopen.dir, state, warn);
  const writeBack = (warnLine: (message: string) => void = () => {}): string[] => {
    if (spec.readonly) return [];
    const written: string[] = [];
    const walk = (dir: Directory, hostPath: string): void => {
      const links = linkNames.get(dir.contents);
      for (const [name, entry] of dir.contents) {
        const path = join(hostPath, name);
        // Still the link loaded here: its inode reaches the host under its own name.
        if (links?.get(name) === entry) continue;
        if (entry instanceof Directory) {
          const why = ensureDirectory(path);
          if (why !== null) {
            warnLine(`wasi-mman: ${option}: cannot create directory ${path}: ${why}`);
            continue;
          }
          walk(entry, path);
        } else if (entry instanceof File) {
          const original = state.loaded.get(entry);
          if (original !== undefined && Buffer.compare(original, entry.data) === 0) continue;
          const why = writeRegularFile(path, entry.data);
          if (why === null) written.push(path);
          else warnLine(`wasi-mman: ${option}: cannot write back ${path}: ${why}`);
        }
      }
    };
    walk(preopen.dir, spec.host);
    return written;
  };
  return { spec, preopen, writeBack };
}
