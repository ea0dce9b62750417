/**
 * The library's checks in a real browser (selftest.html). The page imports the library from
 * ./wasi-mman.js, the self-contained ES module the demo build writes, exactly as a plain
 * `<script type="module">` would; browser_wasi_shim comes bundled into this file, a second
 * copy next to the library's own, as happens when an application bundles the shim itself.
 *
 * Each check pushes { name, ok, detail } and the page writes them all into
 * <pre id="result"> as JSON; test/browser-chromium.test.ts reads it through headless Chromium.
 */
import { ConsoleStdout, File, OpenFile, PreopenDirectory, WASI, type Fd, type Inode } from "@bjorn3/browser_wasi_shim";
import { createMman, instantiateWithMman, MapFlags, PageKind, Prot, runWithShim, shimFileResolver } from "../browser.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

const checks: Check[] = [];

async function check(name: string, body: () => Promise<string>): Promise<void> {
  const started = performance.now();
  const ms = (): number => Math.round(performance.now() - started);
  try {
    const detail = await body();
    checks.push({ name, ok: true, detail, ms: ms() });
  } catch (error) {
    checks.push({ name, ok: false, detail: error instanceof Error ? `${error.message}\n${error.stack ?? ""}` : String(error), ms: ms() });
  }
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

async function load(name: string): Promise<Uint8Array<ArrayBuffer>> {
  const response = await fetch(`fixtures/${name}.wasm`);
  if (!response.ok) throw new Error(`fixtures/${name}.wasm: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function outputFds(lines: string[]): Fd[] {
  return [new OpenFile(new File([])), ConsoleStdout.lineBuffered((line) => lines.push(line)), ConsoleStdout.lineBuffered((line) => lines.push(`stderr: ${line}`))];
}

interface CoreGuest {
  map(len: number): number;
  unmap(address: number, len: number): number;
  fill(address: number, len: number, value: number): void;
  nonzero(address: number, len: number): number;
  page(): number;
}

async function main(): Promise<void> {
  await check("command runs with browser_wasi_shim", async () => {
    const lines: string[] = [];
    const calls: string[] = [];
    const { exitCode, mman } = await runWithShim(await load("hello"), {
      args: ["hello", "a", "b"],
      fds: outputFds(lines),
      mman: { pageSize: 16384, trace: (record) => calls.push(record.call) },
    });
    expect(exitCode === 2, `exit code ${exitCode}, expected 2 (two arguments)`);
    expect(lines.includes("hello from mapped memory"), `stdout was ${JSON.stringify(lines)}`);
    expect(["brk", "mmap", "mremap", "munmap"].every((call) => calls.includes(call)), `calls were ${calls.join(",")}`);
    mman.checkInvariants(true);
    return `exit ${exitCode}, ${calls.length} calls: ${calls.join(" ")}`;
  });

  await check("the page map agrees with the statistics", async () => {
    const { mman } = await runWithShim(await load("churn"), { args: ["churn"], fds: outputFds([]), mman: { pageSize: 8192 } });
    const stats = mman.stats();
    const kinds = mman.space.pageKinds();
    const count = (kind: number): number => kinds.reduce((n, k) => n + (k === kind ? 1 : 0), 0);
    expect(kinds.length * 8192 === stats.linearMemoryBytes, `${kinds.length} pages for ${stats.linearMemoryBytes} bytes`);
    expect(count(PageKind.MAPPED) * 8192 === stats.mappedBytes, `${count(PageKind.MAPPED)} mapped pages for ${stats.mappedBytes} bytes`);
    expect(count(PageKind.FOREIGN) * 8192 === stats.foreignBytes, `${count(PageKind.FOREIGN)} foreign pages for ${stats.foreignBytes} bytes`);
    expect(count(PageKind.FREE_DIRTY) > 0 && count(PageKind.IMAGE) > 0, "churn leaves dirty free pages and an image");
    mman.checkInvariants(true);
    return `${kinds.length} pages: ${[0, 1, 2, 3, 4, 5].map(count).join("/")}`;
  });

  for (const pageSize of [4096, 65536]) {
    await check(`mappings read as zeros, also when reused (${pageSize / 1024} KiB pages)`, async () => {
      const { instance, memory, mman } = await instantiateWithMman(await load("core-guest"), {}, { mman: { pageSize } });
      const guest = instance.exports as unknown as CoreGuest;
      expect(guest.page() === pageSize, `pagesize() = ${guest.page()}`);
      const length = 3 * pageSize + 100;
      const first = guest.map(length);
      expect(first > 0 && first % pageSize === 0, `map returned ${first}`);
      expect(guest.nonzero(first, length) === 0, "a fresh mapping is not all zeros (guest view)");
      guest.fill(first, length, 0xff);
      expect(guest.unmap(first, length) === 0, "munmap failed");
      const second = guest.map(length);
      expect(second > 0, `second map returned ${second}`);
      // The same bytes seen from JavaScript, through a fresh view of the (maybe grown) memory.
      const view = new Uint8Array(memory.buffer, second, length);
      expect(view.every((byte) => byte === 0), "a reused mapping is not all zeros (JavaScript view)");
      expect(guest.nonzero(second, length) === 0, "a reused mapping is not all zeros (guest view)");
      mman.checkInvariants(true);
      return `first ${first}, reused ${second} (${second === first ? "same pages" : "other pages"}), cleared ${mman.stats().clearedBytes} bytes`;
    });
  }

  await check("MAP_SHARED file mapping writes back to the shim's in-memory File", async () => {
    const text = "mapped in a browser\n";
    const file = new File(new TextEncoder().encode(text));
    const { exitCode } = await runWithShim(await load("upcase"), {
      args: ["upcase"],
      fds: [...outputFds([]), new PreopenDirectory("/", new Map<string, Inode>([["data.txt", file]]))],
      mman: { pageSize: 4096 },
    });
    const after = new TextDecoder().decode(file.data);
    expect(exitCode === 0, `exit code ${exitCode}`);
    expect(after === text.toUpperCase(), `file holds ${JSON.stringify(after)}`);
    return JSON.stringify(after);
  });

  await check("MAP_PRIVATE file mapping reads the File and never writes it", async () => {
    const size = 10_000;
    const data = Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff);
    const file = new File(data.slice());
    const wasi = new WASI(["private"], [], [...outputFds([]), new OpenFile(file)], { debug: false });
    const mman = createMman({ pageSize: 4096, files: shimFileResolver(wasi) });
    const { memory } = await instantiateWithMman(await load("core-guest"), {}, { mman });
    const address = mman.calls.mmap(0, size, Prot.READ | Prot.WRITE, MapFlags.PRIVATE, 3, 0);
    expect(address > 0, `mmap returned ${address}`);
    const mapped = new Uint8Array(memory.buffer, address, 3 * 4096);
    expect(mapped.subarray(0, size).every((byte, i) => byte === data[i]), "the mapping does not hold the file's bytes");
    expect(mapped.subarray(size).every((byte) => byte === 0), "the rest of the last page is not zero");
    mapped.fill(0x55, 0, 100);
    expect(mman.calls.munmap(address, size) === 0, "munmap failed");
    expect(file.data.every((byte, i) => byte === data[i]), "a private mapping changed the file");
    const closed = mman.calls.mmap(0, 4096, Prot.READ, MapFlags.PRIVATE, 9, 0);
    expect(closed === -9, `mmap of fd 9 (not open) returned ${closed}, expected -EBADF`);
    mman.checkInvariants(true);
    return `mapped at ${address}, file unchanged, fd 9 -> ${closed}`;
  });

  const result = { status: "done", userAgent: navigator.userAgent, checks };
  document.getElementById("result")!.textContent = JSON.stringify(result);
  document.getElementById("summary")!.textContent = `${checks.filter((c) => c.ok).length} of ${checks.length} checks passed`;
}

main().catch((error: unknown) => {
  document.getElementById("result")!.textContent = JSON.stringify({ status: "error", message: String(error), checks });
});
