/**
 * Preopened directories for `wasi-mman run --dir HOST[:GUEST]` (and --ro-dir).
 *
 * browser_wasi_shim serves files from memory, so a host directory is read into a shim
 * Directory tree before the module starts:
 *   --dir     files are writable; when the module exits, files whose bytes changed and files
 *             it created are written back to the host directory (also after a trap). Files it
 *             deleted or renamed stay on the host as they were: only contents are mirrored.
 *   --ro-dir  files are read-only (File.readonly): opening one for writing fails, and a
 *             writable MAP_SHARED mapping of one fails with EACCES. Nothing is written back.
 * Symbolic links are followed; other special files (sockets, devices) are left out.
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

function loadTree(hostPath: string, readonly: boolean): Map<string, Inode> {
  const contents = new Map<string, Inode>();
  for (const name of readdirSync(hostPath)) {
    const path = join(hostPath, name);
    let stat;
    try {
      stat = statSync(path);
    } catch {
      continue; // a dangling symbolic link
    }
    if (stat.isDirectory()) contents.set(name, new Directory(loadTree(path, readonly)));
    else if (stat.isFile()) contents.set(name, new File(readFileSync(path), { readonly }));
  }
  return contents;
}

/** A loaded directory: the shim's preopen, and how to write changes back to the host. */
export interface LoadedDir {
  spec: DirSpec;
  preopen: PreopenDirectory;
  /** Writes changed and new files back (--dir only); returns the host paths written. */
  writeBack(): string[];
}

export function loadDir(spec: DirSpec): LoadedDir {
  const preopen = new PreopenDirectory(spec.guest, loadTree(spec.host, spec.readonly));
  const writeBack = (): string[] => {
    if (spec.readonly) return [];
    const written: string[] = [];
    const walk = (dir: Directory, hostPath: string): void => {
      for (const [name, entry] of dir.contents) {
        const path = join(hostPath, name);
        if (entry instanceof Directory) {
          mkdirSync(path, { recursive: true });
          walk(entry, path);
        } else if (entry instanceof File) {
          let current: Uint8Array | null = null;
          try {
            current = readFileSync(path);
          } catch {
            current = null; // created by the module
          }
          if (current === null || Buffer.compare(current, entry.data) !== 0) {
            writeFileSync(path, entry.data);
            written.push(path);
          }
        }
      }
    };
    walk(preopen.dir, spec.host);
    return written;
  };
  return { spec, preopen, writeBack };
}
