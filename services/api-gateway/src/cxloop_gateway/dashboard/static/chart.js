// A trend chart as hand-written SVG: the score per time bucket as a line, its 95% interval
// as a band behind it. Gaps (buckets whose score is withheld) break both.

import { s } from "./dom.js";
import { formatDay, formatInterval, formatScore, metricLabel } from "./format.js";

const WIDTH = 300;
const HEIGHT = 140;
const PAD = { left: 38, right: 10, top: 10, bottom: 22 };
// The scale each metric can take, and the least span shown so one flat line does not
// look like a cliff.
const RANGES = { nps: [-100, 100], csat: [0, 100], yes_no: [0, 100], cxi: [-100, 100], ces: [1, 7] };
const MIN_SPAN = { ces: 1 };

function yDomain(metric, points) {
  const [floor, ceiling] = RANGES[metric] ?? [0, 100];
  const seen = points.flatMap((p) => [p.score, p.interval?.low, p.interval?.high]);
  const values = seen.filter((v) => typeof v === "number");
  if (values.length === 0) return [floor, ceiling];
  let low = Math.min(...values);
  let high = Math.max(...values);
  const least = MIN_SPAN[metric] ?? 10;
  if (high - low < least) {
    const middle = (high + low) / 2;
    low = middle - least / 2;
    high = middle + least / 2;
  }
  const margin = (high - low) * 0.1;
  return [Math.max(floor, low - margin), Math.min(ceiling, high + margin)];
}

/** Consecutive runs of points for which `has(point)` holds. */
function runs(points, has) {
  const found = [];
  let current = [];
  for (const point of points) {
    if (has(point)) current.push(point);
    else if (current.length) {
      found.push(current);
      current = [];
    }
  }
  if (current.length) found.push(current);
  return found;
}

function path(coordinates) {
  return coordinates.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

/**
 * The chart of `points` ([{at: Date, score, interval, n}]) of one metric between `start` and
 * `end` (Dates), with day labels in `timeZone`.
 */
export function trendChart({ metric, points, start, end, timeZone }) {
  const [yLow, yHigh] = yDomain(metric, points);
  const span = Math.max(1, end.getTime() - start.getTime());
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (at) => PAD.left + (plotWidth * (at.getTime() - start.getTime())) / span;
  const clamp = (v) => Math.min(yHigh, Math.max(yLow, v));
  const y = (v) => PAD.top + plotHeight * (1 - (clamp(v) - yLow) / (yHigh - yLow || 1));

  const scored = points.filter((p) => p.score !== null && p.score !== undefined);
  const label = `${metricLabel(metric)} per period, ${scored.length} of ${points.length} with a score`;
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": label,
  });

  for (const value of [yLow, (yLow + yHigh) / 2, yHigh]) {
    svg.append(
      s("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }),
      s("text", { class: "axis", x: PAD.left - 4, y: y(value) + 3, "text-anchor": "end" },
        formatScore(metric, value)),
    );
  }
  svg.append(
    s("text", { class: "axis", x: PAD.left, y: HEIGHT - 6 }, formatDay(start, timeZone)),
    s("text", { class: "axis", x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end" },
      formatDay(end, timeZone)),
  );

  for (const run of runs(points, (p) => p.interval)) {
    const upper = run.map((p) => [x(p.at), y(p.interval.high)]);
    const lower = run.map((p) => [x(p.at), y(p.interval.low)]).reverse();
    // A lone bucket still shows its interval, as a bar of a few pixels' width.
    const widen = run.length === 1 ? 3 : 0;
    if (widen) {
      upper.unshift([upper[0][0] - widen, upper[0][1]]);
      upper[1][0] += widen;
      lower.unshift([lower[0][0] + widen, lower[0][1]]);
      lower[1][0] -= widen;
    }
    svg.append(s("path", { class: "band", d: `${path([...upper, ...lower])}Z` }));
  }
  for (const run of runs(points, (p) => p.score !== null && p.score !== undefined)) {
    if (run.length > 1) {
      svg.append(s("path", { class: "line", d: path(run.map((p) => [x(p.at), y(p.score)])) }));
    }
  }
  for (const point of scored) {
    const interval = point.interval ? `, 95% ${formatInterval(metric, point.interval)}` : "";
    svg.append(
      s("circle", { class: "dot", cx: x(point.at), cy: y(point.score), r: 2.5 },
        s("title", {}, `${formatDay(point.at, timeZone)}: ${formatScore(metric, point.score)}` +
          `${interval}, n ${point.n}`)),
    );
  }
  if (scored.length === 0) {
    svg.append(
      s("text", { class: "no-data", x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" },
        "No scores in this period yet"),
    );
  }
  return svg;
}
