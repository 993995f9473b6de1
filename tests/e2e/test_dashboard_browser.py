"""The dashboard in a real browser against the four real services, Postgres and Kafka:
Debian's chromium, driven by Playwright, shows the seeded touchpoints on the journey map in
their colours, an answer posted meanwhile arrives in the live feed (ingest → cx.responses
→ scoring → the gateway's stream), and screenshots of a desktop and a phone are kept in
test-artifacts/dashboard/.

The whole stack rather than the gateway in-process: the live feed is the path through
Kafka and scoring, and only running services show it end to end."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.e2e.conftest import Stack
from tests.e2e.test_walking_skeleton import wait_until
from tests.e2e.workspace import Keys, create_workspace

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# The machine has no network beyond its package registries: without these, chromium
# waits on lookups for updates, sync and field trials.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "dashboard"
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The status colours of the dashboard's style.css, as getComputedStyle reports them.
COLOURS = {
    "green": "rgb(27, 135, 63)",
    "yellow": "rgb(240, 180, 41)",
    "red": "rgb(201, 48, 44)",
    "grey": "rgb(107, 114, 128)",
}
MIN_N = 3
# touchpoint: (stage, CSAT answers, status, score shown). CSAT = % of 4-5 answers;
# thresholds green >= 80, red <= 60.
SEEDED: dict[str, tuple[str, list[int], str, str]] = {
    "checkout": ("purchase", [5, 5, 4, 5], "green", "100%"),
    "order_delivered": ("use", [5, 5, 4, 1], "yellow", "75%"),
    "invoice_paid": ("use", [5, 4], "grey", "\u2013"),  # an en dash: withheld below min n
    "ticket_closed": ("support", [1, 2, 1, 5], "red", "25%"),
}
LIVE_COMMENT = "The courier called ahead, thank you!"


def dashboard_config(workspace_id: str, *, smtp_port: int) -> dict[str, Any]:
    """One CSAT survey on four touchpoints of a three-stage journey, and an alert rule."""
    policy = {"delay": "PT0S", "channels": ["email"]}
    return {
        "workspace": workspace_id,
        "timezone": "UTC",
        "touchpoints": {
            name: {"stage": stage, "survey": "csat", "policy": policy}
            for name, (stage, *_) in SEEDED.items()
        },
        "surveys": {"csat": {"metric": "csat", "question": {"en": "How satisfied are you?"}}},
        "journeys": {
            "buy_and_use": {
                "stages": ["purchase", "use", "support"],
                "thresholds": {"csat": {"green": 80, "red": 60}},
            }
        },
        "channels": {
            "email": {
                "kind": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": "cx@acme.test",
            }
        },
        "alerts": [{"when": "csat <= 1"}],
        "settings": {"min_n": MIN_N},
    }


def issue_key(stack: Stack, keys: Keys, scopes: list[str]) -> str:
    with stack.client("gateway", keys.admin) as gateway:
        issued = gateway.post("/v1/api-keys", json={"name": "desk", "scopes": scopes})
    assert issued.status_code == 201, issued.text
    return str(issued.json()["key"])


def post_answer(ingest: httpx.Client, answer: dict[str, Any]) -> str:
    posted = ingest.post("/v1/responses", json=answer)
    assert posted.status_code == 202, posted.text
    return str(posted.json()["response_id"])


def scored(stack: Stack, read_key: str) -> bool:
    """Whether scoring counted every seeded answer."""
    with stack.client("gateway", read_key) as gateway:
        for touchpoint, (_, answers, *_) in SEEDED.items():
            report = gateway.get("/v1/metrics", params={"touchpoint": touchpoint})
            assert report.status_code == 200, report.text
            if sum(value["n"] for value in report.json()["values"]) != len(answers):
                return False
    return True


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.stat().st_size > 1000, f"{path} is too small to show a dashboard"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is no PNG"


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium; missing, CI fails (its .ci/run installs it) and a laptop skips."""
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium "
            "(.ci/run does; `playwright install` cannot download here)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def browser(chromium: Path) -> Iterator[BrowserContext]:
    """A fresh profile of chromium, driven through Playwright's sync API."""
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
        )
        context.set_default_timeout(30_000)
        yield context
        context.close()


def test_the_dashboard_maps_the_journey_in_colour_and_streams_a_new_answer(
    chromium: Path, browser: BrowserContext, stack: Stack, workspace_id: str
) -> None:
    config = dashboard_config(workspace_id, smtp_port=stack.mail.smtp_port)
    with stack.client("gateway") as gateway:
        keys = create_workspace(gateway, admin_token=stack.settings.admin_token, config=config)
    answers_key = issue_key(stack, keys, ["responses:write"])
    with stack.client("ingest", answers_key) as ingest:
        for touchpoint, (_, scores, *_) in SEEDED.items():
            for i, score in enumerate(scores):
                answer = {"id": f"{touchpoint}-{i}", "touchpoint": touchpoint, "score": score}
                post_answer(ingest, {**answer, "customer_id": f"c-{touchpoint}-{i}"})
    wait_until(lambda: scored(stack, keys.read), timeout=60)

    problems: list[str] = []
    page = browser.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    page.on("console", console)
    page.goto(stack.settings.url("gateway") + "/")
    page.fill("#setup-key", keys.read)
    page.fill("#setup-journey", "buy_and_use")
    page.click("#setup-form button[type=submit]")

    # The journey map: every seeded touchpoint in its stage, colour, score and n.
    for touchpoint, (stage, scores, status, shown) in SEEDED.items():
        tile = page.locator(f'.stage[data-stage="{stage}"] .tile[data-touchpoint="{touchpoint}"]')
        expect(tile).to_have_attribute("data-status", status)
        expect(tile).to_have_css("background-color", COLOURS[status])
        expect(tile.locator(".tile-score")).to_have_text(shown)
        expect(tile.locator(".tile-n")).to_have_text(f"n {len(scores)}")
    stages = page.locator(".stage")
    expect(stages).to_have_count(3)
    expect(page.locator('.stage[data-stage="support"]')).to_have_attribute("data-status", "red")
    # Every touchpoint has its trend; three answers of 1 are open alerts.
    expect(page.locator(".trend svg.chart")).to_have_count(len(SEEDED))
    expect(page.locator("#alerts .alert")).to_have_count(3)
    expect(page.locator("#alert-count")).to_have_text("3")

    # An answer posted now reaches the open page through the stream, and moves the map.
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    with stack.client("ingest", answers_key) as ingest:
        live = {"id": "checkout-live", "touchpoint": "checkout", "customer_id": "c-live"}
        response_id = post_answer(ingest, {**live, "score": 5, "comment": LIVE_COMMENT})
    arrived = page.locator(f'#feed .answer[data-response-id="{response_id}"]')
    expect(arrived).to_contain_text(LIVE_COMMENT)
    expect(arrived.locator(".answer-score")).to_have_text("5")
    expect(page.locator('.tile[data-touchpoint="checkout"] .tile-n')).to_have_text("n 5")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    desktop = ARTIFACTS / "desktop.png"
    page.screenshot(path=desktop, full_page=True)

    # A phone opens it again: the key and journey are remembered; nothing overflows sideways.
    phone = browser.new_page()
    phone.on("pageerror", lambda error: problems.append(f"page error (phone): {error}"))
    phone.set_viewport_size(PHONE)
    phone.goto(stack.settings.url("gateway") + "/")
    expect(phone.locator('.tile[data-touchpoint="ticket_closed"]')).to_have_attribute(
        "data-status", "red"
    )
    expect(phone.locator("#feed")).to_contain_text(LIVE_COMMENT)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone_shot = ARTIFACTS / "phone.png"
    phone.screenshot(path=phone_shot, full_page=True)

    assert_png(desktop)
    assert_png(phone_shot)
    assert problems == [], "no script error, no CSP violation, no failed request"


# Chunks as a network may cut them: a CRLF split across two reads, comments, multi-line data.
STREAM_CHUNKS = [
    "retry: 3000\n: connected\n\n",
    "id: r-1/1\nevent: resp",
    "onse\r",
    '\ndata: {"score":',
    " 5}\r\n\r",
    "\n",
    ": heartbeat\n\n",
    "data: line one\ndata: line two\n\n",
    "event: metrics\n\n",
    "event: alert\ndata\n\n",
]
PARSE_IN_PAGE = """async (chunks) => {
  const href = document.querySelector('link[rel=modulepreload][href$="/stream.js"]').href;
  const { EventStreamParser } = await import(href);
  const events = [];
  const parser = new EventStreamParser((event) => events.push(event));
  for (const chunk of chunks) parser.push(chunk);
  return { events, retry: parser.retry };
}"""


def test_the_dashboards_stream_reader_parses_events_cut_anywhere(
    chromium: Path, browser: BrowserContext, stack: Stack
) -> None:
    page = browser.new_page()
    page.goto(stack.settings.url("gateway") + "/")

    parsed = page.evaluate(PARSE_IN_PAGE, STREAM_CHUNKS)

    assert parsed["retry"] == 3000
    assert parsed["events"] == [
        {"type": "response", "data": '{"score": 5}', "id": "r-1/1"},
        {"type": "message", "data": "line one\nline two", "id": "r-1/1"},
        # `metrics` without data is no event; `data` alone is one with empty data.
        {"type": "alert", "data": "", "id": "r-1/1"},
    ]
