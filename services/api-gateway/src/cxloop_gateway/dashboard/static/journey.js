// The journey map: each stage in order with its touchpoints, coloured by status.

import { h } from "./dom.js";
import {
  formatInterval,
  formatScore,
  humanize,
  metricLabel,
  statusLabel,
} from "./format.js";

const STATUSES = new Set(["green", "yellow", "red", "grey"]);

function status(value) {
  return STATUSES.has(value) ? value : "grey";
}

/** The value of the metric a touchpoint is measured by, else its first. */
export function headlineValue(values, metric) {
  return values.find((v) => v.metric === metric) ?? values[0] ?? null;
}

function touchpointTile(touchpoint, onSelect) {
  const value = headlineValue(touchpoint.values ?? [], touchpoint.metric);
  const metric = value?.metric ?? touchpoint.metric;
  const tileStatus = status(touchpoint.status);
  const n = value?.n ?? 0;
  const detail = value?.score === null || value?.score === undefined
    ? value?.withheld_reason ?? "no answers yet"
    : formatInterval(metric, value.interval) && `95% ${formatInterval(metric, value.interval)}`;
  return h("li", { class: "tile", dataset: { touchpoint: touchpoint.touchpoint, status: tileStatus, n } },
    h("button", {
      type: "button",
      class: "tile-button",
      title: `${humanize(touchpoint.touchpoint)}: ${statusLabel(tileStatus)}`,
      onclick: () => onSelect(touchpoint.touchpoint),
    },
      h("span", { class: "tile-name" }, humanize(touchpoint.touchpoint)),
      h("span", { class: "tile-metric" }, metricLabel(metric)),
      h("span", { class: "tile-score" }, formatScore(metric, value?.score)),
      h("span", { class: "tile-n" }, `n ${n}`),
      h("span", { class: "tile-detail" }, detail || ""),
      h("span", { class: "tile-status" }, statusLabel(tileStatus)),
    ),
  );
}

function stageSummary(stage) {
  return (stage.values ?? []).map((value) =>
    h("span", { class: "stage-value", dataset: { metric: value.metric } },
      `${metricLabel(value.metric)} ${formatScore(value.metric, value.score)} · n ${value.n}`),
  );
}

/** Replace the contents of `list` with the stages of `map`; `onSelect(touchpoint)` on a click. */
export function renderMap(list, map, onSelect) {
  const stages = map.stages.map((stage) =>
    h("li", { class: "stage", dataset: { stage: stage.stage, status: status(stage.status) } },
      h("div", { class: "stage-head" },
        h("h3", {}, humanize(stage.stage)),
        h("span", { class: "stage-status" }, statusLabel(status(stage.status))),
        h("div", { class: "stage-values" }, stageSummary(stage)),
      ),
      stage.touchpoints.length
        ? h("ul", { class: "tiles" }, stage.touchpoints.map((t) => touchpointTile(t, onSelect)))
        : h("p", { class: "empty" }, "No touchpoint measured in this stage."),
    ),
  );
  list.replaceChildren(...stages);
}

/** Every touchpoint of the map in journey order, with the metric it is measured by. */
export function touchpointsOf(map) {
  return map.stages.flatMap((stage) =>
    stage.touchpoints.map((t) => ({ touchpoint: t.touchpoint, metric: t.metric, stage: stage.stage })),
  );
}
