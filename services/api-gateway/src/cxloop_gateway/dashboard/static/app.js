// The dashboard: a setup form (key and journey, kept in localStorage), then the journey map,
// per-touchpoint trends, the live feed and open alerts, kept current by /v1/stream.

import { ApiError, apiClient } from "./api.js";
import { showError } from "./dom.js";
import { alertItem, answerItem, Recent } from "./feed.js";
import { humanize } from "./format.js";
import { renderMap, touchpointsOf } from "./journey.js";
import { openStream } from "./stream.js";
import { failTrend, fillTrend, trendCard } from "./trends.js";

const STORE = {
  key: "cxloop.dashboard.key",
  journey: "cxloop.dashboard.journey",
  period: "cxloop.dashboard.period",
};
const DAY_MS = 86400000;
const GRANULARITY = { 1: "hour", 7: "day", 30: "day", 90: "week" };
const FEED_SIZE = 50;
const PARALLEL_TRENDS = 3;
const REFRESH_MS = 300000;
const CLOCK_MS = 30000;
const REFRESH_DEBOUNCE_MS = 750;
const FRESH_MS = 15000;

const $ = (id) => document.getElementById(id);

const stored = {
  get(name) {
    try {
      return window.localStorage.getItem(STORE[name]);
    } catch {
      return null; // storage off (private mode, policy): the form is asked every visit
    }
  },
  set(name, value) {
    try {
      if (value === null) window.localStorage.removeItem(STORE[name]);
      else window.localStorage.setItem(STORE[name], value);
    } catch {
      // as above
    }
  },
};

const state = {
  api: null,
  journey: null,
  stream: null,
  // Bumped on every (re)start: answers to requests of an earlier start are dropped.
  generation: 0,
  timeZone: "UTC",
  touchpoints: [],
  pendingTrends: new Set(),
  refreshAll: false,
  refreshTimer: null,
  wasLive: false,
  fresh: new Set(),
  answers: null,
  alerts: null,
};

function journeyFromHash() {
  return new URLSearchParams(window.location.hash.slice(1)).get("journey");
}

function periodDays() {
  return Number($("period").value) || 30;
}

function currentWindow() {
  const days = periodDays();
  const to = new Date();
  const from = new Date(to.getTime() - days * DAY_MS);
  return { from: from.toISOString(), to: to.toISOString(), granularity: GRANULARITY[days] ?? "day" };
}

// ---- setup ----

function showSetup(message) {
  stop();
  $("board").hidden = true;
  $("controls").hidden = true;
  $("setup").hidden = false;
  $("setup-key").value = stored.get("key") ?? "";
  $("setup-journey").value = journeyFromHash() ?? stored.get("journey") ?? "";
  showError($("setup-error"), message);
  ($("setup-key").value ? $("setup-journey") : $("setup-key")).focus();
}

function onSetupSubmit(event) {
  event.preventDefault();
  const key = $("setup-key").value.trim();
  const journey = $("setup-journey").value.trim();
  if (!key || !journey) return;
  stored.set("key", key);
  stored.set("journey", journey);
  const hash = `#journey=${encodeURIComponent(journey)}`;
  if (window.location.hash !== hash) window.history.replaceState(null, "", hash);
  start();
}

// ---- lifecycle ----

function stop() {
  state.generation += 1;
  state.stream?.close();
  state.stream = null;
  clearTimeout(state.refreshTimer);
  setLive("off");
}

function start() {
  const key = stored.get("key") ?? $("setup-key").value.trim();
  const journey = journeyFromHash() ?? stored.get("journey");
  if (!key || !journey) {
    showSetup();
    return;
  }
  stop();
  stored.set("journey", journey);
  state.api = apiClient(key);
  state.journey = journey;
  state.touchpoints = [];
  state.wasLive = false;
  state.answers = new Recent({
    keyOf: (a) => a.response_id,
    timeOf: (a) => a.answered_at,
    revisionOf: (a) => a.revision ?? 0,
    limit: FEED_SIZE,
  });
  state.alerts = new Recent({ keyOf: (a) => a.alert_id, timeOf: (a) => a.raised_at, limit: FEED_SIZE });
  $("setup").hidden = true;
  $("board").hidden = false;
  $("controls").hidden = false;
  $("journey-title").textContent = humanize(journey);
  document.title = `${humanize(journey)} · cxloop`;
  $("trends").replaceChildren();
  renderAnswers();
  renderAlerts();
  const generation = state.generation;
  loadMap(generation);
  loadAnswers(generation);
  loadAlerts(generation);
  state.stream = openStream({
    key,
    onEvent: (event) => generation === state.generation && onStreamEvent(event),
    onState: (streamState, detail) => generation === state.generation && onStreamState(streamState, detail),
  });
}

// A refused key sends the user back to the form; anything else stays in its panel.
function handle(error, panel) {
  if (error instanceof ApiError && error.refused) {
    showSetup(`The key was refused: ${error.message}`);
    return;
  }
  showError(panel, error.message);
}

// ---- journey map and trends ----

// `only`: the touchpoints whose trends to reload (all when null, or when the map's
// touchpoints changed).
async function loadMap(generation, only = null) {
  const window_ = currentWindow();
  try {
    const map = await state.api.get(`/v1/journeys/${encodeURIComponent(state.journey)}/map`, {
      from: window_.from,
      to: window_.to,
    });
    if (generation !== state.generation) return;
    showError($("map-error"), null);
    state.timeZone = map.timezone || "UTC";
    $("map-meta").textContent = `${periodDays() === 1 ? "Last 24 hours" : `Last ${periodDays()} days`}` +
      ` · ${state.timeZone} · scores need n ≥ ${map.min_n}`;
    renderMap($("journey-map"), map, selectTouchpoint);
    const changed = syncTrendCards(touchpointsOf(map));
    const all = state.touchpoints.map((t) => t.touchpoint);
    loadTrends(generation, changed || only === null ? all : only);
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof ApiError && error.status === 404) {
      showError($("map-error"), `No journey “${state.journey}” here: ${error.message}. ` +
        "Open Settings to choose another.");
      $("journey-map").replaceChildren();
      return;
    }
    handle(error, $("map-error"));
  }
}

function syncTrendCards(touchpoints) {
  const same = touchpoints.length === state.touchpoints.length &&
    touchpoints.every((t, i) => t.touchpoint === state.touchpoints[i].touchpoint &&
      t.metric === state.touchpoints[i].metric);
  if (same) return false;
  state.touchpoints = touchpoints;
  $("trends").replaceChildren(...touchpoints.map(trendCard));
  return true;
}

async function loadTrends(generation, names) {
  const queue = [...names];
  const worker = async () => {
    while (queue.length && generation === state.generation) {
      await loadTrend(generation, queue.shift());
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_TRENDS }, worker));
}

async function loadTrend(generation, name) {
  const touchpoint = state.touchpoints.find((t) => t.touchpoint === name);
  const card = document.getElementById(`trend-${name}`);
  if (!touchpoint || !card) return;
  const window_ = currentWindow();
  try {
    const report = await state.api.get("/v1/metrics", { touchpoint: name, ...window_, compare: "previous" });
    if (generation !== state.generation) return;
    fillTrend(card, { report, metric: touchpoint.metric, timeZone: state.timeZone });
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof ApiError && error.refused) handle(error);
    else failTrend(card, error.message);
  }
}

function selectTouchpoint(name) {
  const card = document.getElementById(`trend-${name}`);
  if (!card) return;
  card.scrollIntoView({ behavior: "smooth", block: "center" });
  card.focus({ preventScroll: true });
}

// Several answers land at once: one map reload for all of them, each touched trend once.
// `touchpoint` null: every trend.
function scheduleRefresh(touchpoint) {
  if (touchpoint) state.pendingTrends.add(touchpoint);
  else state.refreshAll = true;
  clearTimeout(state.refreshTimer);
  const generation = state.generation;
  state.refreshTimer = setTimeout(() => {
    const only = state.refreshAll ? null : [...state.pendingTrends];
    state.pendingTrends.clear();
    state.refreshAll = false;
    loadMap(generation, only);
  }, REFRESH_DEBOUNCE_MS);
}

// ---- feed and alerts ----

async function loadAnswers(generation) {
  try {
    const page = await state.api.get("/v1/responses", { limit: 20 });
    if (generation !== state.generation) return;
    showError($("feed-error"), null);
    state.answers.merge(page.items ?? []);
    renderAnswers();
  } catch (error) {
    if (generation === state.generation) handle(error, $("feed-error"));
  }
}

async function loadAlerts(generation) {
  try {
    const page = await state.api.get("/v1/alerts", { state: "open" });
    if (generation !== state.generation) return;
    showError($("alerts-error"), null);
    state.alerts.merge(page.items ?? []);
    renderAlerts();
  } catch (error) {
    if (generation === state.generation) handle(error, $("alerts-error"));
  }
}

function markFresh(key) {
  state.fresh.add(key);
  setTimeout(() => state.fresh.delete(key), FRESH_MS);
}

function renderAnswers() {
  const items = state.answers?.list() ?? [];
  $("feed").replaceChildren(...items.map((a) => answerItem(a, { fresh: state.fresh.has(a.response_id) })));
  $("feed-empty").hidden = items.length > 0;
}

function renderAlerts() {
  const items = state.alerts?.list() ?? [];
  $("alerts").replaceChildren(...items.map((a) => alertItem(a, { fresh: state.fresh.has(a.alert_id) })));
  $("alerts-empty").hidden = items.length > 0;
  $("alert-count").textContent = String(items.length);
}

// ---- the stream ----

function onStreamEvent(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return; // not ours to show
  }
  if (event.type === "response") {
    markFresh(data.response_id);
    state.answers.merge([data]);
    renderAnswers();
  } else if (event.type === "alert") {
    if (data.state === "open") {
      markFresh(data.alert_id);
      state.alerts.merge([data]);
    } else {
      state.alerts.remove(data.alert_id);
    }
    renderAlerts();
  } else if (event.type === "metrics") {
    scheduleRefresh(data.touchpoint);
  }
  // `overflow`: the server dropped us for falling behind; the reconnect re-reads everything.
}

function setLive(streamState, label) {
  const live = $("live");
  live.dataset.state = streamState;
  live.textContent = label ?? streamState;
}

function onStreamState(streamState, detail) {
  if (streamState === "live") {
    setLive("live", "live");
    // After a reconnect, fetch what the stream may have missed while it was down.
    if (state.wasLive) {
      const generation = state.generation;
      loadAnswers(generation);
      loadAlerts(generation);
      scheduleRefresh(null);
    }
    state.wasLive = true;
  } else if (streamState === "waiting") {
    setLive("waiting", `reconnecting in ${Math.ceil(detail / 1000)} s`);
  } else if (streamState === "refused") {
    setLive("refused", "live feed refused");
    showError($("feed-error"), `The live feed refused the key: ${detail}`);
  } else {
    setLive(streamState, "connecting…");
  }
}

// ---- wiring ----

function init() {
  const period = stored.get("period");
  if (period && [...$("period").options].some((o) => o.value === period)) $("period").value = period;
  $("setup-form").addEventListener("submit", onSetupSubmit);
  $("open-settings").addEventListener("click", () => showSetup());
  $("forget-key").addEventListener("click", () => {
    stored.set("key", null);
    $("setup-key").value = "";
    $("setup-key").focus();
  });
  $("period").addEventListener("change", () => {
    stored.set("period", $("period").value);
    loadMap(state.generation);
  });
  window.addEventListener("hashchange", () => {
    const journey = journeyFromHash();
    if (journey && journey !== state.journey && stored.get("key")) start();
  });
  const showing = () => document.visibilityState === "visible" && state.api && !$("board").hidden;
  // A slow safety net under the stream, and relative times kept honest.
  setInterval(() => showing() && scheduleRefresh(null), REFRESH_MS);
  setInterval(() => {
    if (!showing()) return;
    renderAnswers();
    renderAlerts();
  }, CLOCK_MS);
  if (stored.get("key") && (journeyFromHash() ?? stored.get("journey"))) start();
  else showSetup();
}

init();
