"""Every authenticated operation of the gateway, taken from the app's own routes, against
the same attacks: no key, a revoked key, a key without the scope, another workspace's key
(or one naming another workspace), an oversize page. And no plaintext key anywhere in the
database afterwards.

The tables below say what each route needs and how to make a real object of workspace A
for each path parameter. A route they do not know fails the first test: whoever adds a
route adds it here, and so to every check.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cxloop_gateway.deps import MAX_PAGE_SIZE
from cxloop_gateway.openapi import ADMIN_TOKEN_ROLE, BEARER, api_routes, required_roles
from cxloop_gateway.settings import Settings
from cxloop_shared.apikeys import ALL_SCOPES
from cxloop_shared.db import create_engine, session_factory
from cxloop_shared.events import Customer, ResponseRecorded, Touchpoint, TouchpointReceived
from gateway_customers_support import Services
from gateway_parts_support import KEYED_PATHS, LISTED_PATHS, probe_config
from gateway_stack_support import Stack, gateway_stack
from gateway_support import ADMIN, ADMIN_TOKEN, NewWorkspace, bearer
from sqlalchemy import text

ANY_KEY = None  # any valid key of the workspace, whatever its scopes
PUBLIC = "public"

# What each route's caller must present: a scope, ANY_KEY, the admin token, or nothing.
_CONFIG_ROUTES = {
    *((method, f"{path}{item}") for path in KEYED_PATHS.values()
      for method, item in (("GET", ""), ("GET", "/{key}"), ("PUT", "/{key}"),
                           ("DELETE", "/{key}"))),
    *((method, f"{path}{item}") for path in LISTED_PATHS.values()
      for method, item in (("GET", ""), ("PUT", ""), ("POST", ""), ("GET", "/{index}"),
                           ("PUT", "/{index}"), ("DELETE", "/{index}"))),
    ("GET", "/v1/config"),
    ("PUT", "/v1/config"),
}  # fmt: skip
NEEDS: dict[tuple[str, str], str | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/dashboard/assets/{version}/{name}"): PUBLIC,
    ("POST", "/v1/workspaces"): ADMIN_TOKEN_ROLE,
    ("GET", "/v1/workspaces/current"): ANY_KEY,
    ("POST", "/v1/api-keys"): "admin",
    ("GET", "/v1/api-keys"): "admin",
    ("GET", "/v1/api-keys/{key_id}"): "admin",
    ("DELETE", "/v1/api-keys/{key_id}"): "admin",
    **dict.fromkeys(_CONFIG_ROUTES, "config:write"),
    ("GET", "/v1/metrics"): "metrics:read",
    ("GET", "/v1/journeys/{key}/map"): "metrics:read",
    ("GET", "/v1/responses"): "metrics:read",
    ("GET", "/v1/responses/export"): "metrics:read",
    ("GET", "/v1/alerts"): "metrics:read",
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): "customers:write",
    ("POST", "/v1/alerts/{alert_id}/resolve"): "customers:write",
    ("GET", "/v1/stream"): "metrics:read",
    ("GET", "/v1/outcomes"): "metrics:read",
    ("GET", "/v1/contact-resolution"): "metrics:read",
    ("GET", "/v1/customers/{customer_id}"): "customers:read",
    ("DELETE", "/v1/customers/{customer_id}"): "customers:write",
    ("GET", "/v1/events/{event_id}/trace"): "customers:read",
}
# Routes where another workspace's key acts on its own workspace under the same name (a
# create-or-replace, an erasure of whoever has that id there): no 404 to expect, but
# workspace A's object must come out unchanged.
OWN_NAMESPACE = {
    *(("PUT", f"{path}/{{key}}") for path in KEYED_PATHS.values()),
    ("DELETE", "/v1/customers/{customer_id}"),
}
# Never read to the end: a live stream.
ENDLESS = {("GET", "/v1/stream")}
# The query a route cannot do without, for the control reads of A's objects.
REQUIRED_QUERY: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/v1/outcomes"): {"metric": "csat", "return_touchpoint": "probe"},
    ("GET", "/v1/contact-resolution"): {"touchpoint": "probe"},
}
# A page size whose cap is not PageLimit's, and why.
OTHER_CAPS = {("GET", "/v1/customers/{customer_id}"): 500}  # a whole timeline, MAX_TIMELINE

CUSTOMER, EVENT = "c-probe", "ev-probe"


@dataclass(frozen=True)
class Operation:
    """One method of one route."""

    method: str
    path: str
    roles: list[str] | None
    query: frozenset[str]

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, values: dict[str, str]) -> str:
        return re.sub(r"{(\w+)}", lambda m: quote(values[m.group(1)], safe=""), self.path)


@dataclass
class World:
    """Workspaces A and B, one object of every kind in A, and keys to try."""

    api: httpx.AsyncClient
    a: NewWorkspace
    b: NewWorkspace
    values: dict[str, str]
    operations: list[Operation]
    issued: list[str] = field(default_factory=list)  # every plaintext key handed out

    async def issue(self, scopes: list[str]) -> Any:
        """A new key of A (recorded, so the last test can look for it in the database)."""
        issued = await issue(self.api, self.a, scopes)
        self.issued.append(issued["key"])
        return issued

    def secured(self) -> list[Operation]:
        return [op for op in self.operations if NEEDS.get((op.method, op.path)) != PUBLIC]

    async def call(self, op: Operation, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        url = op.url(self.values)
        if (op.method, op.path) not in ENDLESS:
            return await self.api.request(op.method, url, headers=headers, **kwargs)
        # A stream that opens is answered by its status; its body would never end.
        async with self.api.stream(op.method, url, headers=headers, **kwargs) as response:
            if response.status_code >= 300:
                await response.aread()
            return response


def operations(stack: Stack) -> list[Operation]:
    found = []
    for route in api_routes(stack.app):
        query = frozenset(param.alias for param in route.dependant.query_params)
        for method in sorted(route.methods or ()):
            found.append(Operation(method, route.path_format, required_roles(route), query))
    return found


@pytest.fixture(scope="module")
def stack(settings: Settings, kafka_bootstrap: str, kafka_idempotence: bool) -> Iterator[Stack]:
    with gateway_stack(
        settings, kafka_bootstrap=kafka_bootstrap, kafka_idempotence=kafka_idempotence
    ) as served:
        yield served


async def new_workspace(api: httpx.AsyncClient, workspace_id: str) -> NewWorkspace:
    created = await api.post("/v1/workspaces", json={"id": workspace_id}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return NewWorkspace(workspace_id, created.json()["admin_key"]["key"])


async def issue(api: httpx.AsyncClient, workspace: NewWorkspace, scopes: list[str]) -> Any:
    issued = await api.post(
        "/v1/api-keys", json={"name": "matrix", "scopes": scopes}, headers=workspace.admin
    )
    assert issued.status_code == 201, issued.text
    return issued.json()


async def customer_and_event(database_url: str, workspace_id: str) -> None:
    """A's customer, their touchpoint event (decided by dispatch) and a detractor's answer
    (an alert, raised by scoring), through the services' own handlers."""
    engine = create_engine(database_url, pool_size=2)
    try:
        services = Services(session_factory(engine))
        now = datetime.now(UTC)
        customer = Customer(id=CUSTOMER, email="probe@example.test", preferred_channel="email")
        touchpoint = Touchpoint(id=EVENT, touchpoint="probe", occurred_at=now, customer=customer)
        await services.handle(
            [
                TouchpointReceived(
                    workspace_id=workspace_id, source="probe", received_at=now, event=touchpoint
                ),
                ResponseRecorded(
                    workspace_id=workspace_id,
                    response_id="r-probe",
                    customer_id=CUSTOMER,
                    touchpoint="probe",
                    metric="csat",
                    score=1,
                    answered_at=now,
                    collected_via="api",
                ),
            ]
        )
    finally:
        await engine.dispose()


# How to get a real object of workspace A for each path parameter.
async def path_values(api: httpx.AsyncClient, a: NewWorkspace, database_url: str) -> dict[str, str]:
    applied = await api.put("/v1/config", json=probe_config(a.id), headers=a.admin)
    assert applied.status_code == 200, applied.text
    await customer_and_event(database_url, a.id)
    alerts = await api.get("/v1/alerts", headers=a.admin)
    assert alerts.status_code == 200, alerts.text
    assert alerts.json()["items"], "the detractor's answer raised no alert"
    return {
        "key": "probe",  # every keyed part, and the journey's map
        "index": "0",  # every listed part
        "key_id": (await issue(api, a, ["metrics:read"]))["id"],
        "customer_id": CUSTOMER,
        "event_id": EVENT,
        "alert_id": alerts.json()["items"][0]["alert_id"],
    }


@pytest.fixture(scope="module")
async def world(stack: Stack, database_url: str) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as api:
        suffix = uuid.uuid4().hex[:8]
        a = await new_workspace(api, f"ws-sec-a-{suffix}")
        b = await new_workspace(api, f"ws-sec-b-{suffix}")
        values = await path_values(api, a, database_url)
        yield World(api, a, b, values, operations(stack))


def fail_listing(problems: list[str]) -> None:
    assert not problems, "\n".join(["", *problems])


async def test_the_matrix_knows_every_route_its_scope_and_its_path_parameters(
    world: World, stack: Stack
) -> None:
    document = stack.app.openapi()
    problems = []
    for op in world.operations:
        if (op.method, op.path) not in NEEDS:
            problems.append(f"{op.label}: not in NEEDS (which scope does it need?)")
            continue
        needed = NEEDS[(op.method, op.path)]
        roles = None if needed == PUBLIC else [] if needed is ANY_KEY else [needed]
        if op.roles != roles:
            problems.append(f"{op.label}: needs {op.roles}, the matrix says {roles}")
        problems += [
            f"{op.label}: no factory for path parameter {param!r}"
            for param in op.params
            if needed != PUBLIC and param not in world.values
        ]
        documented = document["paths"].get(op.path, {}).get(op.method.lower())
        if documented and roles is not None and documented.get("security") != [{BEARER: roles}]:
            problems.append(f"{op.label}: documented as {documented.get('security')}")
    known = {(op.method, op.path) for op in world.operations}
    problems += [f"{method} {path}: in NEEDS, but no such route" for method, path in NEEDS
                 if (method, path) not in known]  # fmt: skip
    fail_listing(problems)


async def test_without_a_key_every_operation_is_401(world: World) -> None:
    problems = []
    for op in world.secured():
        for headers in ({}, {"Authorization": "Basic YTpi"}, bearer("cxk_00000000_not-a-key")):
            answer = await world.call(op, headers)
            if answer.status_code != 401:
                problems.append(f"{op.label} with {headers}: {answer.status_code}")
            elif answer.headers["content-type"] != "application/problem+json":
                problems.append(f"{op.label}: 401 as {answer.headers['content-type']}")
    fail_listing(problems)


async def test_a_revoked_key_is_401_everywhere(world: World) -> None:
    revoked = await world.issue(list(ALL_SCOPES))
    headers = bearer(revoked["key"])
    assert (await world.api.get("/v1/workspaces/current", headers=headers)).status_code == 200
    gone = await world.api.delete(f"/v1/api-keys/{revoked['id']}", headers=world.a.admin)
    assert gone.status_code == 204
    problems = []
    for op in world.secured():
        answer = await world.call(op, headers)
        if answer.status_code != 401:
            problems.append(f"{op.label}: {answer.status_code} {answer.text[:200]}")
    fail_listing(problems)


async def test_a_key_without_the_scope_is_403_and_a_key_is_no_admin_token(world: World) -> None:
    problems = []
    for op in world.secured():
        needed = NEEDS[(op.method, op.path)]
        if needed is ANY_KEY:
            continue
        if needed == ADMIN_TOKEN_ROLE:
            headers, expected = world.a.admin, 401  # a workspace's admin key is not enough
        else:
            others = [scope for scope in ALL_SCOPES if scope not in (needed, "admin")]
            headers, expected = bearer((await world.issue(others))["key"]), 403
        answer = await world.call(op, headers)
        if answer.status_code != expected:
            problems.append(f"{op.label}: {answer.status_code}, not {expected}")
        elif expected == 403 and str(needed) not in answer.json()["detail"]:
            problems.append(f"{op.label}: 403 without naming {needed!r}")
    fail_listing(problems)


async def readable(world: World, op: Operation) -> httpx.Response | None:
    """A's own GET of the same path, if there is one: what must stay as it was."""
    if ("GET", op.path) not in NEEDS or ("GET", op.path) in ENDLESS:
        return None
    return await world.api.get(op.url(world.values), headers=world.a.admin)


async def test_another_workspaces_key_finds_none_of_its_objects(world: World) -> None:
    problems = []
    # Last, what B may do in its own workspace, so it creates nothing the 404s are about.
    ordered = sorted(world.secured(), key=lambda op: (op.method, op.path) in OWN_NAMESPACE)
    for op in ordered:
        if not op.params or (op.method, op.path) in ENDLESS:
            continue
        before = await readable(world, op)
        body = before.json() if before is not None and op.method in ("PUT", "POST") else None
        answer = await world.call(op, world.b.admin, json=body)
        if (op.method, op.path) in OWN_NAMESPACE:
            if answer.status_code >= 500:
                problems.append(f"{op.label}: {answer.status_code}")
        elif answer.status_code != 404:
            problems.append(f"{op.label}: {answer.status_code}, not 404: {answer.text[:200]}")
        after = await readable(world, op)
        if before is not None and after is not None:
            if before.status_code != 200:
                problems.append(f"{op.label}: A's own GET answered {before.status_code}")
            elif after.json() != before.json():
                problems.append(f"{op.label}: B's request changed A's object")
    fail_listing(problems)


async def test_a_key_naming_another_workspace_is_404(world: World) -> None:
    named = {**world.a.admin, "X-Cxloop-Workspace": world.b.id}
    problems = []
    for op in world.secured():
        if NEEDS[(op.method, op.path)] == ADMIN_TOKEN_ROLE:
            continue
        answer = await world.call(op, named)
        if answer.status_code != 404:
            problems.append(f"{op.label}: {answer.status_code}")
    fail_listing(problems)


async def test_every_read_of_a_objects_works_for_a(world: World) -> None:
    """The control: the objects the 404s above were about do exist for A."""
    problems = []
    for op in world.secured():
        if op.method != "GET" or (op.method, op.path) in ENDLESS:
            continue
        query = REQUIRED_QUERY.get((op.method, op.path), {})
        answer = await world.call(op, world.a.admin, params=query)
        if answer.status_code != 200:
            problems.append(f"{op.label}: {answer.status_code} {answer.text[:200]}")
    fail_listing(problems)


async def test_an_oversize_page_is_422(world: World, stack: Stack) -> None:
    document = stack.app.openapi()
    problems = []
    for op in world.secured():
        if "limit" not in op.query:
            continue
        parameters = document["paths"][op.path][op.method.lower()]["parameters"]
        (limit,) = [p for p in parameters if p["name"] == "limit"]
        cap = OTHER_CAPS.get((op.method, op.path), MAX_PAGE_SIZE)
        if limit["schema"].get("maximum") != cap:
            problems.append(f"{op.label}: limit's documented maximum is not {cap}")
        query = {**REQUIRED_QUERY.get((op.method, op.path), {}), "limit": str(cap + 1)}
        answer = await world.call(op, world.a.admin, params=query)
        if answer.status_code != 422 or "limit" not in answer.json()["detail"]:
            problems.append(f"{op.label}: limit={cap + 1} answered {answer.status_code}")
    fail_listing(problems)


async def test_no_plaintext_key_or_admin_token_is_stored_anywhere(
    world: World, database_url: str
) -> None:
    """After every key above was issued and used: search every table of every schema."""
    used = (await world.issue(["metrics:read"]))["key"]
    assert (await world.api.get("/v1/metrics", headers=bearer(used))).status_code == 200
    secrets = [world.a.admin_key, world.b.admin_key, ADMIN_TOKEN, *world.issued]
    engine = create_engine(database_url, pool_size=1)
    async with session_factory(engine)() as session:
        tables = (
            await session.execute(
                text(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_type = 'BASE TABLE' "
                    "and table_schema not in ('pg_catalog', 'information_schema')"
                )
            )
        ).all()
        assert {schema for schema, _ in tables} >= {"gateway", "ingest", "dispatch", "scoring"}
        for schema, table in tables:
            for secret in secrets:
                found = await session.scalar(
                    text(
                        f'select count(*) from "{schema}"."{table}" as row '  # noqa: S608
                        "where strpos(row::text, :secret) > 0"
                    ),
                    {"secret": secret},
                )
                assert found == 0, f"a plaintext secret is stored in {schema}.{table}"
    await engine.dispose()


async def test_text_postgres_cannot_hold_is_a_422_not_a_500(world: World) -> None:
    """A NUL character passes JSON and pydantic, but no Postgres text or jsonb takes it."""
    nul = "a\u0000b"
    for method, path, body, field_name in (
        ("PUT", "/v1/endpoints/e", {"url": f"http://{nul}", "secret": "s", "events": ["x"]},
         "endpoints.e.url"),
        ("PUT", "/v1/config", {"workspace": world.a.id, "locale": nul}, "locale"),
        ("POST", "/v1/alert-rules", {"when": f'"{nul}" in comment'}, "body.when"),
        ("POST", "/v1/api-keys", {"name": nul, "scopes": ["admin"]}, "body.name"),
    ):  # fmt: skip
        answer = await world.api.request(method, path, json=body, headers=world.a.admin)
        assert answer.status_code == 422, (path, answer.text)
        assert field_name in answer.json()["detail"], (path, answer.text)
    named = await world.api.post(
        "/v1/workspaces", json={"id": f"ws-nul-{uuid.uuid4().hex[:8]}", "name": nul}, headers=ADMIN
    )
    assert named.status_code == 422, named.text
