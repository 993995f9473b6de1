// The live feed of answers and the list of open alerts.

import { h } from "./dom.js";
import { formatWhen, humanize, metricLabel } from "./format.js";

// Whether a raw answer reads as good, middling or bad on its own scale.
const SCALES = { nps: [6, 8], csat: [2, 3], ces: [3, 4], cxi: [2, 3], yes_no: [0, 0] };

function sentiment(metric, score) {
  const [bad, middling] = SCALES[metric] ?? [Infinity, Infinity];
  if (score === null || score === undefined) return "none";
  if (score <= bad) return "low";
  return score <= middling ? "mid" : "high";
}

function rawScore(metric, score) {
  if (metric === "yes_no") return score ? "yes" : "no";
  return score === null || score === undefined ? "–" : String(score);
}

/** One answer of the feed. */
export function answerItem(answer, { fresh }) {
  return h("li", {
    class: fresh ? "answer fresh" : "answer",
    dataset: { responseId: answer.response_id, revision: answer.revision },
  },
  h("span", { class: "answer-score", dataset: { sentiment: sentiment(answer.metric, answer.score) },
    title: `${metricLabel(answer.metric)} answer` }, rawScore(answer.metric, answer.score)),
  h("div", { class: "answer-body" },
    answer.comment ? h("p", { class: "answer-comment" }, answer.comment) : null,
    h("p", { class: "meta" },
      [humanize(answer.touchpoint), metricLabel(answer.metric), answer.channel, formatWhen(answer.answered_at)]
        .filter(Boolean).join(" · "))),
  );
}

/** One open alert. */
export function alertItem(alert, { fresh }) {
  return h("li", { class: fresh ? "alert fresh" : "alert", dataset: { alertId: alert.alert_id } },
    h("p", { class: "alert-head" },
      h("strong", {}, humanize(alert.touchpoint)), " ",
      `${metricLabel(alert.metric)} ${rawScore(alert.metric, alert.score)}`),
    alert.comment ? h("p", { class: "alert-comment" }, alert.comment) : null,
    h("p", { class: "meta" }, [`rule ${alert.rule}`, alert.customer_id && `customer ${alert.customer_id}`,
      formatWhen(alert.raised_at)].filter(Boolean).join(" · ")),
  );
}

/**
 * A newest-first list of items keyed by `keyOf`, capped at `limit`: `merge(items)` adds or
 * replaces (a later revision replaces an earlier one) and returns the list to show.
 */
export class Recent {
  constructor({ keyOf, timeOf, limit, revisionOf = () => 0 }) {
    this.keyOf = keyOf;
    this.revisionOf = revisionOf;
    this.timeOf = timeOf;
    this.limit = limit;
    this.items = new Map();
  }

  merge(items) {
    for (const item of items) {
      const known = this.items.get(this.keyOf(item));
      // The page and the stream may deliver an answer in either order: keep its latest revision.
      if (known && this.revisionOf(known) > this.revisionOf(item)) continue;
      this.items.set(this.keyOf(item), item);
    }
    return this.list();
  }

  remove(key) {
    this.items.delete(key);
    return this.list();
  }

  list() {
    const sorted = [...this.items.values()].sort(
      (a, b) => new Date(this.timeOf(b)) - new Date(this.timeOf(a)),
    );
    for (const dropped of sorted.slice(this.limit)) this.items.delete(this.keyOf(dropped));
    return sorted.slice(0, this.limit);
  }
}
