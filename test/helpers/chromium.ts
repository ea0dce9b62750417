/**
 * A headless Chromium spoken to over --remote-debugging-pipe: commands go to its fd 3 and
 * answers come from its fd 4, as JSON messages ending in a NUL byte (Chrome DevTools Protocol).
 * Debian's chromium, no npm package, no downloaded browser. Used by test/browser-chromium.test.ts
 * (the demo and the library in the page) and test/browser-report.test.ts (run --html, demo).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const available = existsSync(CHROMIUM);

/**
 * A headless Chromium spoken to over --remote-debugging-pipe: commands go to its fd 3 and
 * answers come from its fd 4, as JSON messages ending in a NUL byte (Chrome DevTools Protocol).
 */
export class Chromium {
  private nextId = 1;
  private buffer = "";
  private readonly waiting = new Map<number, { resolve: (value: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  readonly problems: string[] = [];
  private session = "";

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    // A browser that dies or hangs must fail the test, not leave it waiting.
    child.once("exit", (code, signal) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`Chromium exited (${code ?? signal}) before answering`));
      this.waiting.clear();
    });
    child.once("error", (error) => {
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    });
    const output = child.stdio[4] as Readable;
    output.setEncoding("utf8");
    output.on("data", (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf("\0")) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown> };
        this.buffer = this.buffer.slice(end + 1);
        if (message.id !== undefined) {
          const waiter = this.waiting.get(message.id);
          this.waiting.delete(message.id);
          if (message.error) waiter?.reject(new Error(`CDP: ${message.error.message}`));
          else waiter?.resolve(message.result ?? {});
        } else if (message.method === "Runtime.exceptionThrown") {
          this.problems.push(JSON.stringify(message.params).slice(0, 500));
        } else if (message.method === "Runtime.consoleAPICalled" && (message.params as { type?: string }).type === "error") {
          this.problems.push(JSON.stringify(message.params).slice(0, 500));
        }
      }
    });
  }

  static async launch(): Promise<Chromium> {
    const profile = mkdtempSync(join(tmpdir(), "wasi-mman-chromium-"));
    const child = spawn(
      CHROMIUM,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        `--user-data-dir=${profile}`,
        "--remote-debugging-pipe",
        "about:blank",
      ],
      { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] },
    );
    const browser = new Chromium(child, profile);
    const { targetInfos } = (await browser.send("Target.getTargets")) as { targetInfos: { targetId: string; type: string }[] };
    const page = targetInfos.find((target) => target.type === "page");
    const targetId = page?.targetId ?? ((await browser.send("Target.createTarget", { url: "about:blank" })) as { targetId: string }).targetId;
    browser.session = ((await browser.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string }).sessionId;
    await browser.send("Runtime.enable");
    await browser.send("Page.enable");
    await browser.send("Emulation.setDeviceMetricsOverride", { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
    return browser;
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const message = JSON.stringify({ id, method, params, ...(this.session && !method.startsWith("Target.") ? { sessionId: this.session } : {}) });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`CDP: no answer to ${method} in 60 s`));
      }, 60_000);
      const settle = <T>(done: (value: T) => void) => (value: T): void => {
        clearTimeout(timer);
        done(value);
      };
      this.waiting.set(id, { resolve: settle(resolve), reject: settle(reject) });
      (this.child.stdio[3] as Writable).write(`${message}\0`);
    });
  }

  async evaluate<T>(expression: string): Promise<T> {
    const reply = (await this.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string };
    };
    if (reply.exceptionDetails) throw new Error(`in the page: ${reply.exceptionDetails.text}`);
    return reply.result.value as T;
  }

  /** Opens `url` and waits until <pre id="result"> holds JSON with a status. */
  async runPage<T extends { status: string }>(url: string, timeoutMs = 60_000): Promise<T> {
    this.problems.length = 0;
    await this.send("Page.navigate", { url });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await this.evaluate<string | null>(`location.href === ${JSON.stringify(url)} ? (document.getElementById("result")?.textContent ?? null) : null`);
      if (text) {
        const parsed = JSON.parse(text) as T;
        if (parsed.status) return parsed;
      }
      if (Date.now() > deadline) throw new Error(`${url}: no result after ${timeoutMs} ms; page problems: ${this.problems.join("\n") || "none"}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async screenshot(path: string): Promise<Buffer> {
    const metrics = (await this.send("Page.getLayoutMetrics")) as { cssContentSize: { width: number; height: number } };
    const { width, height } = metrics.cssContentSize;
    const { data } = (await this.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: Math.ceil(width), height: Math.min(Math.ceil(height), 4000), scale: 1 },
    })) as { data: string };
    const png = Buffer.from(data, "base64");
    writeFileSync(path, png);
    return png;
  }

  async close(): Promise<void> {
    await this.send("Browser.close").catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        resolve();
      }, 5000);
      this.child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    rmSync(this.profile, { recursive: true, force: true });
  }
}
