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
 * Symbolic links are followed, except one back to a directory above it (a loop, left out);
 * other special files (sockets, devices) are left out.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/** Why a host file operation failed, in a few words. */
function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EEXIST") return "a file of that name is in the way";
  if (code === "EISDIR") return "a directory of that name is in the way";
  if (code === "ENOSPC") return "no space left on device";
  if (code === "ERR_FS_FILE_TOO_LARGE") return "file too large to load (2 GiB or more)";
  return code ?? (error as Error).message;
}

/**
 * Reads a host directory into shim inodes. `loaded` receives each file's bytes as read, so
 * that write-back can tell what the module changed. `ancestors` holds the dev:ino of every
 * directory on the current path: a symbolic link back to one of them would recurse forever,
 * so such an entry is left out (a cycle, as find(1) reports "File system loop detected").
 */
function loadTree(hostPath: string, option: string, readonly: boolean, loaded: Map<File, Uint8Array>, ancestors: Set<string>): Map<string, Inode> {
  const contents = new Map<string, Inode>();
  let names: string[];
  try {
    names = readdirSync(hostPath);
  } catch (error) {
    throw new UsageError(`${option}: cannot read ${hostPath}: ${reason(error)}`);
  }
  for (const name of names) {
    const path = join(hostPath, name);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue; // a dangling symbolic link
    }
    if (stat.isDirectory()) {
      const key = `${stat.dev}:${stat.ino}`;
      if (ancestors.has(key)) continue;
      ancestors.add(key);
      contents.set(name, new Directory(loadTree(path, option, readonly, loaded, ancestors)));
      ancestors.delete(key);
    } else if (stat.isFile()) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(path);
      } catch (error) {
        // Half a tree would make the module see files vanish: refuse to start instead.
        throw new UsageError(`${option}: cannot read ${path}: ${reason(error)}`);
      }
      // File copies the bytes, so `bytes` stays as loaded.
      const file = new File(bytes, { readonly });
      loaded.set(file, bytes);
      contents.set(name, file);
    }
  }
  return contents;
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
 */
export function loadDir(spec: DirSpec): LoadedDir {
  const loaded = new Map<File, Uint8Array>();
  const option = spec.readonly ? "--ro-dir" : "--dir";
  const root = statSync(spec.host);
  const preopen = new PreopenDirectory(spec.guest, loadTree(spec.host, option, spec.readonly, loaded, new Set([`${root.dev}:${root.ino}`])));
  const writeBack = (warn: (message: string) => void = () => {}): string[] => {
    if (spec.readonly) return [];
    const written: string[] = [];
    const walk = (dir: Directory, hostPath: string): void => {
      for (const [name, entry] of dir.contents) {
        const path = join(hostPath, name);
        if (entry instanceof Directory) {
          try {
            mkdirSync(path, { recursive: true });
          } catch (error) {
            warn(`wasi-mman: ${option}: cannot create directory ${path}: ${reason(error)}`);
            continue;
          }
          walk(entry, path);
        } else if (entry instanceof File) {
          const original = loaded.get(entry);
          if (original !== undefined && Buffer.compare(original, entry.data) === 0) continue;
          try {
            writeFileSync(path, entry.data);
            written.push(path);
          } catch (error) {
            warn(`wasi-mman: ${option}: cannot write back ${path}: ${reason(error)}`);
          }
        }
      }
    };
    walk(preopen.dir, spec.host);
    return written;
  };
  return { spec, preopen, writeBack };
}
