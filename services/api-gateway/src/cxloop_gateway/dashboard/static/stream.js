// Server-sent events over fetch(): /v1/stream needs `Authorization`, which EventSource cannot
// send. The parser follows the HTML spec's event-stream rules; the connection reconnects
// with jittered exponential backoff and gives up only when the key is refused.

import { apiError, authorization } from "./api.js";

const MAX_BACKOFF_MS = 30000;
// The server sends a `: ping` comment well within this; silence means a dead connection
// (a phone that slept, a proxy that dropped it) that no error will ever report.
const SILENCE_MS = 45000;

/** Feeds text chunks in, calls `onEvent({type, data, id})` for each complete event. */
export class EventStreamParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.afterCR = false;
    this.type = "";
    this.data = [];
    this.lastEventId = "";
    this.retry = null;
  }

  push(chunk) {
    // A chunk ending in CR may be the first half of a CRLF split across chunks: the CR
    // already ended the line, so the LF that follows ends nothing.
    const text = this.afterCR && chunk.startsWith("\n") ? chunk.slice(1) : chunk;
    this.afterCR = chunk.endsWith("\r");
    const lines = (this.buffer + text).split(/\r\n|\r|\n/);
    this.buffer = lines.pop();
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    return undefined;
  }

  dispatch() {
    const event = { type: this.type || "message", data: this.data.join("\n"), id: this.lastEventId };
    const complete = this.data.length > 0;
    this.type = "";
    this.data = [];
    if (complete) this.onEvent(event);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Keep /v1/stream open. `onEvent(event)` gets each event; `onState(state, detail)` hears
 * "connecting", "live", "waiting" (detail: ms until the next try) and "refused" (detail:
 * why). Returns `{close()}`.
 */
export function openStream({ key, onEvent, onState }) {
  const stopped = new AbortController();
  let lastEventId = "";
  let baseDelay = 1000;

  async function once() {
    const connection = new AbortController();
    const abort = () => connection.abort();
    stopped.signal.addEventListener("abort", abort);
    let silence = setTimeout(abort, SILENCE_MS);
    const parser = new EventStreamParser((event) => {
      lastEventId = event.id;
      onEvent(event);
    });
    try {
      const headers = { ...authorization(key), Accept: "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch("/v1/stream", {
        headers,
        cache: "no-store",
        signal: connection.signal,
      });
      if (!response.ok || !response.body) {
        const error = await apiError(response);
        return error.status === 401 || error.status === 403 ? error : null;
      }
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(silence);
        silence = setTimeout(abort, SILENCE_MS);
        parser.push(value);
        if (parser.retry !== null) baseDelay = parser.retry;
      }
      return null;
    } catch {
      return null;
    } finally {
      clearTimeout(silence);
      stopped.signal.removeEventListener("abort", abort);
    }
  }

  async function run() {
    let attempt = 0;
    while (!stopped.signal.aborted) {
      onState("connecting");
      const started = Date.now();
      const refused = await once();
      if (stopped.signal.aborted) return;
      if (refused) {
        onState("refused", refused.message);
        return;
      }
      // A connection that lived a while was healthy: start the backoff over.
      if (Date.now() - started > 60000) attempt = 0;
      const ceiling = Math.min(MAX_BACKOFF_MS, baseDelay * 2 ** attempt);
      const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      attempt += 1;
      onState("waiting", delay);
      await sleep(delay, stopped.signal);
    }
  }

  run();
  return { close: () => stopped.abort() };
}
