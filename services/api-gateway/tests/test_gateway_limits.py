"""Per-key rate limits (token buckets on an injected clock), request body caps, and which
browser origins may call the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from cxloop_gateway.app import create_app
from cxloop_gateway.limits import RateLimited, RateLimiter
from cxloop_gateway.settings import Settings
from fastapi import FastAPI
from gateway_support import ADMIN, NewWorkspace, bearer, issue_key
from hypothesis import given
from hypothesis import strategies as st

DASHBOARD = "https://dash.example.test"
BODY_LIMIT = 4096


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the token bucket itself: pure, for any sequence of requests ---------------------------

rates = st.floats(min_value=0.1, max_value=100.0)
bursts = st.integers(min_value=1, max_value=20)
gaps = st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=80)


def admitted_at(limiter: RateLimiter, clock: Clock, gaps: list[float]) -> list[float]:
    times = []
    for gap in gaps:
        clock.now += gap
        try:
            limiter.admit("key")
        except RateLimited:
            continue
        times.append(clock.now)
    return times


@given(per_second=rates, burst=bursts, gaps=gaps)
def test_no_window_admits_more_than_the_burst_plus_the_rate(
    per_second: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    times = admitted_at(RateLimiter(per_second=per_second, burst=burst, clock=clock), clock, gaps)
    for first in range(len(times)):
        for last in range(first, len(times)):
            allowed = burst + per_second * (times[last] - times[first]) + 1e-6
            assert last - first + 1 <= allowed


@given(per_second=rates, burst=bursts, gaps=gaps)
def test_a_refused_request_passes_once_retry_after_has_passed(
    per_second: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=per_second, burst=burst, clock=clock)
    admitted_at(limiter, clock, gaps)
    for _ in range(burst):  # spend whatever is left
        try:
            limiter.admit("key")
        except RateLimited:
            break
    with pytest.raises(RateLimited) as refused:
        limiter.admit("key")
    retry_after = refused.value.headers["Retry-After"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    clock.now += int(retry_after)
    limiter.admit("key")


def test_each_key_has_its_own_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1.0, burst=2, clock=clock)
    limiter.admit("a")
    limiter.admit("a")
    with pytest.raises(RateLimited):
        limiter.admit("a")
    limiter.admit("b")
    limiter.admit("b")


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="per_second"):
        RateLimiter(per_second=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(per_second=1, burst=0)


# --- the gateway with small limits -----------------------------------------------------------


@pytest.fixture(scope="module")
async def limited_app(settings: Settings) -> AsyncIterator[FastAPI]:
    limited = settings.model_copy(
        update={"body_limit_bytes": BODY_LIMIT, "cors_origins": [DASHBOARD]}
    )
    app = create_app(limited)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def clock(limited_app: FastAPI) -> Iterator[Clock]:
    """Three requests at once, then one per two seconds, per key, on a clock of the test's."""
    clock = Clock()
    authenticator = limited_app.state.authenticator
    kept = authenticator.limiter
    authenticator.limiter = RateLimiter(per_second=0.5, burst=3, clock=clock)
    yield clock
    authenticator.limiter = kept


@pytest.fixture
async def limited(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


async def test_a_key_past_its_burst_gets_429_with_retry_after_and_recovers(
    limited: httpx.AsyncClient, gateway: httpx.AsyncClient, workspace: NewWorkspace, clock: Clock
) -> None:
    key = bearer((await issue_key(gateway, workspace, "config:write"))["key"])
    other = bearer((await issue_key(gateway, workspace, "config:write"))["key"])
    for _ in range(3):
        assert (await limited.get("/v1/touchpoints", headers=key)).status_code == 200
    refused = await limited.get("/v1/touchpoints", headers=key)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "2"
    assert "0.5 requests per second" in refused.json()["detail"]
    # Refused for its scope, the key still spends its tokens: no free probing.
    assert (await limited.get("/v1/metrics", headers=key)).status_code == 429
    assert (await limited.get("/v1/touchpoints", headers=other)).status_code == 200

    clock.now += 1.9
    assert (await limited.get("/v1/touchpoints", headers=key)).status_code == 429
    clock.now += 0.1
    assert (await limited.get("/v1/touchpoints", headers=key)).status_code == 200
    assert (await limited.get("/v1/touchpoints", headers=key)).status_code == 429
    clock.now += 600
    for _ in range(3):
        assert (await limited.get("/v1/touchpoints", headers=key)).status_code == 200


async def test_the_admin_token_has_a_bucket_of_its_own(
    limited: httpx.AsyncClient, workspace: NewWorkspace, clock: Clock
) -> None:
    as_admin = {**ADMIN, "X-Cxloop-Workspace": workspace.id}
    for _ in range(3):
        assert (await limited.get("/v1/config", headers=as_admin)).status_code == 200
    assert (await limited.get("/v1/config", headers=as_admin)).status_code == 429
    refused = await limited.post("/v1/workspaces", json={"id": "ws-never"}, headers=ADMIN)
    assert refused.status_code == 429
    assert (await limited.get("/v1/config", headers=workspace.admin)).status_code == 200


async def test_unknown_keys_are_refused_before_any_bucket(
    limited: httpx.AsyncClient, clock: Clock
) -> None:
    for _ in range(5):
        answer = await limited.get("/v1/touchpoints", headers=bearer("cxk_00000000_nope"))
        assert answer.status_code == 401


async def test_a_declared_oversize_body_is_refused_with_413_before_anything_else(
    limited: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    body = b'{"stages": ["' + b"a" * BODY_LIMIT + b'"]}'
    for method, path, headers in (
        ("PUT", "/v1/journeys/j", workspace.admin),
        ("PUT", "/v1/config", workspace.admin),
        ("GET", "/v1/metrics", workspace.admin),
        ("POST", "/v1/workspaces", {}),
    ):
        answer = await limited.request(method, path, content=body, headers=headers)
        assert answer.status_code == 413, (method, path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert f"{BODY_LIMIT}-byte limit" in answer.json()["detail"]


async def test_a_streamed_oversize_body_is_refused_with_413(
    limited: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        yield b'{"stages": ["a"]'
        for _ in range(total // 512):
            yield b" " * 512  # JSON whitespace: a valid body of any size
        yield b"}"

    headers = workspace.admin | {"Content-Type": "application/json"}
    for path in ("/v1/journeys/j", "/v1/config"):
        answer = await limited.put(path, content=chunks(BODY_LIMIT * 2), headers=headers)
        assert "content-length" not in answer.request.headers
        assert answer.status_code == 413, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    small = await limited.put("/v1/journeys/j", content=chunks(1024), headers=headers)
    assert small.status_code == 200, small.text
    assert (await limited.get("/v1/journeys/j", headers=headers)).status_code == 200


async def test_allowed_dashboard_origins_pass_the_cors_preflight_and_others_do_not(
    limited: httpx.AsyncClient, gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    preflight = {
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = await limited.options("/v1/touchpoints/t", headers={"Origin": DASHBOARD, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    granted = allowed.headers["access-control-allow-headers"].lower()
    assert "authorization" in granted
    assert "content-type" in granted
    assert "access-control-allow-credentials" not in allowed.headers

    foreign = await limited.options(
        "/v1/touchpoints/t", headers={"Origin": "https://evil.example.test", **preflight}
    )
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers

    read = await limited.get("/v1/touchpoints", headers={"Origin": DASHBOARD, **workspace.admin})
    assert read.headers["access-control-allow-origin"] == DASHBOARD
    unread = await limited.get(
        "/v1/touchpoints", headers={"Origin": "https://evil.example.test", **workspace.admin}
    )
    assert "access-control-allow-origin" not in unread.headers
    # With no origins configured (the default), no origin is allowed.
    same_origin_only = await gateway.options(
        "/v1/touchpoints", headers={"Origin": DASHBOARD, **preflight}
    )
    assert "access-control-allow-origin" not in same_origin_only.headers


def test_the_default_limits_suit_a_local_run() -> None:
    defaults = Settings()
    assert (defaults.rate_limit_per_second, defaults.rate_limit_burst) == (50.0, 100)
    assert defaults.body_limit_bytes == 1024 * 1024
    assert defaults.cors_origins == []
