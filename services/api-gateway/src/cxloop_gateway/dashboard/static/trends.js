// One card per touchpoint: the period's score, its trend chart and the comparison with
// the period before.

import { trendChart } from "./chart.js";
import { h } from "./dom.js";
import {
  formatChange,
  formatInterval,
  formatRate,
  formatScore,
  humanize,
  metricLabel,
} from "./format.js";
import { headlineValue } from "./journey.js";

/** An empty card for `touchpoint`, to be filled by `fillTrend`. */
export function trendCard(touchpoint) {
  return h("article", { class: "trend", id: `trend-${touchpoint.touchpoint}`, tabindex: "-1",
    dataset: { touchpoint: touchpoint.touchpoint } },
  h("h3", {}, humanize(touchpoint.touchpoint), " ",
    h("span", { class: "trend-metric" }, metricLabel(touchpoint.metric))),
  h("p", { class: "trend-loading" }, "Loading…"),
  );
}

function comparisonText(metric, comparison) {
  const change = comparison?.changes?.find((c) => c.metric === metric);
  if (!change) return "No comparison with the previous period.";
  if (change.change === null || change.change === undefined) {
    return `No comparison with the previous period: ${change.reason ?? "too few answers"}.`;
  }
  const verdict = change.significant === null || change.significant === undefined
    ? "too few answers to test"
    : change.significant ? "a significant change" : "within the noise";
  return `vs previous period: ${formatScore(metric, change.previous_score)} → ` +
    `${formatScore(metric, change.score)} (${formatChange(metric, change.change)}, ${verdict})`;
}

/** Put `report` (a MetricsReport with series and comparison) into `card`. */
export function fillTrend(card, { report, metric, timeZone }) {
  const value = headlineValue(report.values ?? [], metric);
  const shown = value?.metric ?? metric;
  const points = (report.series ?? []).map((bucket) => {
    const bucketValue = bucket.values.find((v) => v.metric === shown);
    return {
      at: new Date(bucket.bucket_start),
      score: bucketValue?.score ?? null,
      interval: bucketValue?.interval ?? null,
      n: bucketValue?.n ?? 0,
    };
  });
  const facts = [
    value ? `n ${value.n}` : "n 0",
    value?.interval ? `95% ${formatInterval(shown, value.interval)}` : value?.withheld_reason,
    formatRate(value?.response_rate),
  ].filter(Boolean);
  const change = report.comparison?.changes?.find((c) => c.metric === shown);
  card.replaceChildren(
    card.firstElementChild,
    h("p", { class: "trend-headline" },
      h("span", { class: "trend-score" }, formatScore(shown, value?.score)),
      h("span", { class: "trend-facts" }, facts.join(" · "))),
    trendChart({
      metric: shown,
      points,
      start: new Date(report.from),
      end: new Date(report.to),
      timeZone,
    }),
    h("p", {
      class: "trend-comparison",
      dataset: { significant: change ? String(Boolean(change.significant)) : "none",
        direction: change && change.change > 0 ? "up" : change && change.change < 0 ? "down" : "flat" },
    }, comparisonText(shown, report.comparison)),
  );
}

/** Show why a card could not be filled. */
export function failTrend(card, message) {
  card.replaceChildren(card.firstElementChild, h("p", { class: "error" }, message));
}
