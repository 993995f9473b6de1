"""API keys: their shape, scopes, the Authorization header, and checks against the table."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from cxloop_shared.apikeys import (
    ALL_SCOPES,
    PREFIX_LENGTH,
    KeyVerifier,
    NewKey,
    Principal,
    Scope,
    bearer_token,
    digest,
    issue,
)
from cxloop_shared.db import session_factory
from cxloop_shared.errors import Forbidden, Unauthorized
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def test_an_issued_key_has_an_id_and_a_secret() -> None:
    key = issue()

    assert re.fullmatch(r"cxk_[0-9a-f]{8}_[A-Za-z0-9_-]{32}", key.plaintext)
    assert PREFIX_LENGTH == 12
    assert key.prefix == key.plaintext[:PREFIX_LENGTH]
    assert key.digest == hashlib.sha256(key.plaintext.encode()).hexdigest() == digest(key.plaintext)


def test_issued_keys_differ() -> None:
    keys = [issue() for _ in range(20)]
    assert len({key.plaintext for key in keys}) == len({key.prefix for key in keys}) == 20


def test_a_key_without_the_scope_is_forbidden() -> None:
    principal = Principal("k-1", "acme", frozenset({"metrics:read"}))

    with pytest.raises(Forbidden, match="config:write"):
        principal.require("config:write")


@pytest.mark.parametrize("scope", ALL_SCOPES)
def test_a_key_with_the_scope_or_admin_passes(scope: Scope) -> None:
    Principal("k-1", "acme", frozenset({scope})).require(scope)
    Principal("k-1", "acme", frozenset({"admin"})).require(scope)


@pytest.mark.parametrize(
    ("authorization", "token"),
    [("Bearer cxk_x", "cxk_x"), ("bearer cxk_x", "cxk_x"), ("BEARER  cxk_x ", "cxk_x")],
)
def test_the_bearer_token_is_read_from_the_header(authorization: str, token: str) -> None:
    assert bearer_token(authorization) == token


@pytest.mark.parametrize(
    "authorization", [None, "", "cxk_x", "Basic cxk_x", "Bearer", "Bearer ", "Bearer    "]
)
def test_a_missing_or_malformed_header_is_unauthorized(authorization: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(authorization)


async def _store(engine: AsyncEngine, workspace_id: str, key: NewKey, scopes: list[str]) -> str:
    key_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        await connection.execute(
            text("insert into gateway.workspaces (id, name, timezone) values (:w, :w, 'UTC')"),
            {"w": workspace_id},
        )
        await connection.execute(
            text(
                "insert into gateway.api_keys (id, workspace_id, name, prefix, key_hash, scopes)"
                " values (cast(:id as uuid), :w, 'test', :prefix, :hash, :scopes)"
            ),
            {
                "id": key_id,
                "w": workspace_id,
                "prefix": key.prefix,
                "hash": key.digest,
                "scopes": scopes,
            },
        )
    return key_id


async def _revoke(engine: AsyncEngine, key_id: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("update gateway.api_keys set revoked_at = now() where id = cast(:id as uuid)"),
            {"id": key_id},
        )


async def test_a_stored_key_authenticates(engine: AsyncEngine, workspace_id: str) -> None:
    key = issue()
    key_id = await _store(engine, workspace_id, key, ["metrics:read", "events:write"])
    verifier = KeyVerifier(session_factory(engine), ttl=0)

    principal = await verifier.authenticate(f"Bearer {key.plaintext}", "metrics:read")

    assert principal == Principal(key_id, workspace_id, frozenset({"metrics:read", "events:write"}))
    with pytest.raises(Forbidden):
        await verifier.authenticate(f"Bearer {key.plaintext}", "config:write")


async def test_a_wrong_key_with_a_known_prefix_is_unauthorized(
    engine: AsyncEngine, workspace_id: str
) -> None:
    key = issue()
    await _store(engine, workspace_id, key, ["admin"])
    verifier = KeyVerifier(session_factory(engine), ttl=0)
    forged = key.prefix + "_" + "A" * 32

    with pytest.raises(Unauthorized):
        await verifier.principal(forged)
    with pytest.raises(Unauthorized):
        await verifier.principal(key.prefix)
    with pytest.raises(Unauthorized):
        await verifier.principal(key.plaintext.replace("cxk_", "cxz_"))


async def test_a_revoked_key_is_unauthorized(engine: AsyncEngine, workspace_id: str) -> None:
    key = issue()
    key_id = await _store(engine, workspace_id, key, ["admin"])
    verifier = KeyVerifier(session_factory(engine), ttl=0)
    assert (await verifier.principal(key.plaintext)).key_id == key_id

    await _revoke(engine, key_id)

    with pytest.raises(Unauthorized):
        await verifier.principal(key.plaintext)


async def test_a_caching_verifier_notices_revocation_only_after_its_ttl(
    engine: AsyncEngine, workspace_id: str
) -> None:
    key = issue()
    key_id = await _store(engine, workspace_id, key, ["admin"])
    cached = KeyVerifier(session_factory(engine), ttl=60)
    await cached.principal(key.plaintext)

    await _revoke(engine, key_id)

    assert (await cached.principal(key.plaintext)).key_id == key_id
    with pytest.raises(Unauthorized):
        await KeyVerifier(session_factory(engine), ttl=0).principal(key.plaintext)
