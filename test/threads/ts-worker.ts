// Worker source (for new Worker(source, { eval: true })) that loads a .ts entry through tsx's
// loader, as hosts/threads.ts does for its own worker when it runs from the sources.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

export function evalWorkerSource(entry: URL): string {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
}
