// How scores, counts and times read on screen.

export const METRIC_LABELS = { nps: "NPS", csat: "CSAT", ces: "CES", cxi: "CX Index", yes_no: "Yes %" };
export const STATUS_LABELS = {
  green: "on target",
  yellow: "watch",
  red: "below target",
  grey: "too few answers",
};
const PERCENT = new Set(["csat", "yes_no"]);

export function metricLabel(metric) {
  return METRIC_LABELS[metric] ?? metric;
}

export function statusLabel(status) {
  return STATUS_LABELS[status] ?? STATUS_LABELS.grey;
}

/** A score as people read it: NPS signed, CSAT and yes/no in %, CES with one decimal. */
export function formatScore(metric, score) {
  if (score === null || score === undefined) return "–";
  if (metric === "ces") return score.toFixed(1);
  const rounded = Math.round(score);
  if (PERCENT.has(metric)) return `${rounded}%`;
  if (metric === "nps" && rounded > 0) return `+${rounded}`;
  return String(rounded);
}

/** A change between periods, signed, in the metric's unit. */
export function formatChange(metric, change) {
  const digits = metric === "ces" ? 2 : 1;
  const text = Math.abs(change).toFixed(digits);
  const unit = PERCENT.has(metric) ? " pts" : "";
  if (change > 0) return `+${text}${unit}`;
  if (change < 0) return `−${text}${unit}`;
  return `±0${unit}`;
}

export function formatInterval(metric, interval) {
  if (!interval) return "";
  return `${formatScore(metric, interval.low)} – ${formatScore(metric, interval.high)}`;
}

export function formatRate(rate) {
  return rate === null || rate === undefined ? "" : `${Math.round(rate * 100)}% responded`;
}

/** A touchpoint or stage key as a title: `ticket_closed` → `Ticket closed`. */
export function humanize(key) {
  const words = String(key).replace(/[_\-.:/]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function formatter(timeZone, options) {
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone });
  } catch {
    return new Intl.DateTimeFormat(undefined, options);
  }
}

export function formatDay(date, timeZone) {
  return formatter(timeZone, { month: "short", day: "numeric" }).format(date);
}

export function formatDateTime(date, timeZone) {
  return formatter(timeZone, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
    .format(date);
}

/** When something happened, relative to now when recent: "just now", "5 min ago", else a date. */
export function formatWhen(iso, now = Date.now()) {
  const at = new Date(iso);
  const seconds = Math.round((now - at.getTime()) / 1000);
  if (Number.isNaN(seconds)) return "";
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return formatDateTime(at);
}
