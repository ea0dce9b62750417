/**
 * The page-size chart: one fixture run once per page size, two series on one inline SVG
 * (no chart library, nothing fetched): the share of mapped bytes the program never asked for
 * (cumulative wastage, left axis) and the peak size of linear memory (right axis).
 */

export interface SweepPoint {
  pageSize: number;
  /** Over every mapping made: (mapped - requested) / mapped. */
  wastage: number;
  peakMemoryBytes: number;
  /** The run's error or unexpected exit, if any (the point is drawn hollow). */
  problem: string | null;
}

const WIDTH = 560;
const HEIGHT = 260;
const LEFT = 56;
const RIGHT = 64;
const TOP = 20;
const BOTTOM = 44;

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
}

/** A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function sweepChart(points: SweepPoint[], title: string): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (i: number): number => LEFT + (points.length <= 1 ? plotWidth / 2 : (i * plotWidth) / (points.length - 1));
  const wastageMax = niceMax(Math.max(...points.map((p) => p.wastage * 100), 1));
  const memoryMax = niceMax(Math.max(...points.map((p) => p.peakMemoryBytes / 2 ** 20), 0.0625));
  const yWastage = (p: SweepPoint): number => TOP + plotHeight - (p.wastage * 100 * plotHeight) / wastageMax;
  const yMemory = (p: SweepPoint): number => TOP + plotHeight - (p.peakMemoryBytes / 2 ** 20 * plotHeight) / memoryMax;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(title)}" class="chart">`);
  // Grid and axes: 4 horizontal lines, labelled on both sides.
  for (let i = 0; i <= 4; i++) {
    const y = TOP + (plotHeight * i) / 4;
    parts.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y}" y2="${y}" class="grid"/>`);
    const wastageLabel = (wastageMax * (4 - i)) / 4;
    const memoryLabel = (memoryMax * (4 - i)) / 4;
    parts.push(`<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end" class="axis wastage">${+wastageLabel.toFixed(1)}%</text>`);
    parts.push(`<text x="${LEFT + plotWidth + 6}" y="${y + 4}" class="axis memory">${+memoryLabel.toFixed(2)} MiB</text>`);
  }
  points.forEach((p, i) => {
    parts.push(`<text x="${x(i)}" y="${TOP + plotHeight + 18}" text-anchor="middle" class="axis">${p.pageSize / 1024} KiB</text>`);
  });
  parts.push(`<text x="${LEFT + plotWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle" class="axis">libc page size</text>`);
  const line = (y: (p: SweepPoint) => number, cls: string): void => {
    parts.push(`<polyline class="${cls}" fill="none" points="${points.map((p, i) => `${x(i)},${y(p).toFixed(1)}`).join(" ")}"/>`);
    points.forEach((p, i) => {
      const tip = `${p.pageSize / 1024} KiB pages: wastage ${(p.wastage * 100).toFixed(2)}%, peak memory ${(p.peakMemoryBytes / 2 ** 20).toFixed(2)} MiB${p.problem ? ` (${p.problem})` : ""}`;
      parts.push(
        `<circle class="${cls}${p.problem ? " problem" : ""}" cx="${x(i)}" cy="${y(p).toFixed(1)}" r="4"><title>${escapeXml(tip)}</title></circle>`,
      );
    });
  };
  line(yWastage, "wastage");
  line(yMemory, "memory");
  parts.push(`<g class="chart-legend"><rect x="${LEFT + 8}" y="${TOP + 4}" width="10" height="10" class="wastage"/>`);
  parts.push(`<text x="${LEFT + 22}" y="${TOP + 13}">wastage (cumulative)</text>`);
  parts.push(`<rect x="${LEFT + 170}" y="${TOP + 4}" width="10" height="10" class="memory"/>`);
  parts.push(`<text x="${LEFT + 184}" y="${TOP + 13}">peak linear memory</text></g>`);
  parts.push(`</svg>`);
  return parts.join("");
}
