/**
 * The guest's stdin, stdout and stderr for `wasi-mman run`, on the process's own fds 0, 1, 2.
 *
 * Everything is synchronous, because WASI calls are: stdout/stderr bytes are written with
 * writeSync as they come (unbuffered, so they interleave with --strace lines in call order),
 * and stdin is read with readSync only when the guest reads it (a pipe or terminal that never
 * sends anything does not hold up a program that never reads).
 */
import { readSync, writeSync } from "node:fs";
import { ConsoleStdout, Fd, wasi as wasiDefs, type Inode } from "@bjorn3/browser_wasi_shim";

/** Waits about a millisecond without spinning (for EAGAIN on a non-blocking pipe). */
function pause(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
}

/**
 * Writes all of `bytes` to a host fd, retrying where a non-blocking pipe is full. Returns
 * null when done, or the error code that stopped it ("EPIPE": the reader went away, as with
 * `| head`; "ENOSPC": `> /dev/full` or a full disk; "EIO", ...).
 */
export function tryWriteAllSync(fd: number, bytes: Uint8Array): string | null {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "EIO";
      if (code !== "EAGAIN") return code;
      pause();
    }
  }
  return null;
}

/**
 * Writes all of `bytes` to a host fd. A write error is dropped: these are the host's own
 * lines (--strace, notices, statistics) on stdout or stderr, and when those are gone (a closed
 * pipe, a full device) there is nowhere left to report it; the run still ends with the
 * module's exit code.
 */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  tryWriteAllSync(fd, bytes);
}

/** Writes a string line (a newline is added) to a host fd. */
export function writeLineSync(fd: number, line: string): void {
  writeAllSync(fd, new TextEncoder().encode(`${line}\n`));
}

/** WASI errno for a host write error code (wasi_snapshot_preview1 errno values). */
function wasiErrno(code: string): number {
  if (code === "EPIPE") return wasiDefs.ERRNO_PIPE;
  if (code === "ENOSPC") return wasiDefs.ERRNO_NOSPC;
  if (code === "EFBIG") return wasiDefs.ERRNO_FBIG;
  return wasiDefs.ERRNO_IO;
}

/**
 * The guest's stdout or stderr on a host fd. A failed write is answered with the matching
 * WASI errno, as write(2) answers on Linux (EPIPE with SIGPIPE ignored, as Node ignores it;
 * ENOSPC), so the module decides what to do and the run ends with its exit code.
 */
class HostOutput extends ConsoleStdout {
  constructor(private readonly hostFd: number) {
    super(() => {});
  }

  override fd_write(data: Uint8Array): { ret: number; nwritten: number } {
    const code = tryWriteAllSync(this.hostFd, data);
    if (code !== null) return { ret: wasiErrno(code), nwritten: 0 };
    return { ret: wasiDefs.ERRNO_SUCCESS, nwritten: data.byteLength };
  }
}

/** The process's stdin as a readable character device, read on demand. */
class HostStdin extends Fd {
  private ended = false;

  override fd_fdstat_get(): { ret: number; fdstat: InstanceType<typeof wasiDefs.Fdstat> | null } {
    const fdstat = new wasiDefs.Fdstat(wasiDefs.FILETYPE_CHARACTER_DEVICE, 0);
    fdstat.fs_rights_base = BigInt(wasiDefs.RIGHTS_FD_READ);
    return { ret: wasiDefs.ERRNO_SUCCESS, fdstat };
  }

  override fd_read(size: number): { ret: number; data: Uint8Array } {
    if (this.ended || size === 0) return { ret: wasiDefs.ERRNO_SUCCESS, data: new Uint8Array(0) };
    const buffer = new Uint8Array(Math.min(size, 65536));
    for (;;) {
      try {
        const count = readSync(0, buffer, 0, buffer.length, null);
        if (count === 0) this.ended = true;
        return { ret: wasiDefs.ERRNO_SUCCESS, data: buffer.subarray(0, count) };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          pause();
          continue;
        }
        // No stdin at all (closed fd 0), or an end of file reported as an error.
        if (code === "EOF" || code === "EBADF") {
          this.ended = true;
          return { ret: wasiDefs.ERRNO_SUCCESS, data: new Uint8Array(0) };
        }
        return { ret: wasiDefs.ERRNO_IO, data: new Uint8Array(0) };
      }
    }
  }
}

/** [stdin, stdout, stderr] for browser_wasi_shim, on the process's fds 0, 1 and 2. */
export function processStdio(): Fd[] {
  return [new HostStdin(), new HostOutput(1), new HostOutput(2)];
}

export type { Inode };
