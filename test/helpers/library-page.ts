/**
 * A page for Chromium tests of the browser library: it imports the built wasi-mman.js (next to
 * it, as scripts/build-demo.ts writes it) as window.wasiMman, then writes a status that
 * Chromium.runPage waits for, with whether the page is cross-origin isolated (threads need it).
 */
export function libraryPage(title: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${title}</title><pre id="result"></pre>
<script type="module">
  import * as lib from "./wasi-mman.js";
  window.wasiMman = lib;
  document.getElementById("result").textContent = JSON.stringify({ status: "ready", isolated: crossOriginIsolated });
</script>`;
}
