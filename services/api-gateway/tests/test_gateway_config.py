from __future__ import annotations

import copy
from typing import Any

import httpx
from cxloop_shared.config import ConfigCache
from fastapi import FastAPI
from gateway_support import NewWorkspace, issue_key
from sqlalchemy import text

MASK = "**********"


def acme(workspace_id: str) -> dict[str, Any]:
    """The configuration of DESIGN.md, with secrets in every place one can be."""
    return {
        "workspace": workspace_id,
        "timezone": "Europe/Berlin",
        "touchpoints": {
            "ticket_closed": {
                "stage": "support",
                "survey": "csat_support",
                "policy": {
                    "delay": "PT2H",
                    "send_window": {"start": "09:00", "end": "20:00"},
                    "expire_after": "P3D",
                    "sample": 0.5,
                    "eligible_if": "attributes.auto_resolved != true",
                    "channels": ["preferred", "email"],
                    "reminder": {"after": "P2D", "max": 1},
                },
            }
        },
        "fatigue": [{"scope": "any_survey", "max": 1, "per": "P7D"}],
        "surveys": {
            "csat_support": {
                "metric": "csat",
                "question": {"en": "How satisfied are you with the help you got?"},
            }
        },
        "sources": {
            "billing": {
                "kind": "stripe",
                "secrets": ["whsec_stripe_one", "whsec_stripe_two"],
                "touchpoints": {"invoice.paid": "ticket_closed"},
            }
        },
        "channels": {
            "email": {
                "kind": "smtp",
                "host": "smtp.acme.test",
                "port": 587,
                "from": "Acme <cx@acme.test>",
                "username": "cx",
                "password": "smtp-password",
            }
        },
        "endpoints": {
            "crm": {
                "url": "https://crm.acme.test/hooks/cx",
                "secret": "whsec_crm",
                "events": ["alert.created"],
            }
        },
        "alerts": [{"when": "csat <= 2", "notify": ["crm"]}],
        "settings": {"min_n": 5, "answer_window": "P7D"},
    }


async def stored(app: FastAPI, workspace_id: str) -> tuple[dict[str, Any], int] | None:
    async with app.state.sessions() as session:
        row = (
            await session.execute(
                text(
                    "select document, version from gateway.workspace_configs "
                    "where workspace_id = :w"
                ),
                {"w": workspace_id},
            )
        ).one_or_none()
    return None if row is None else (row[0], row[1])


async def test_a_new_workspace_has_the_default_configuration(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    answer = await gateway.get("/v1/config", headers=workspace.admin)
    assert answer.status_code == 200
    assert answer.json()["workspace"] == workspace.id
    assert answer.json()["version"] == 0
    assert answer.json()["touchpoints"] == {}


async def test_secrets_are_stored_in_clear_shown_masked_and_kept_when_masked(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, workspace: NewWorkspace
) -> None:
    put = await gateway.put("/v1/config", json=acme(workspace.id), headers=workspace.admin)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1
    assert put.json()["dry_run"] is False
    assert "touchpoints" in put.json()["changed"]

    shown = (await gateway.get("/v1/config", headers=workspace.admin)).json()
    assert shown["version"] == 1
    assert shown["sources"]["billing"]["secrets"] == [MASK, MASK]
    assert shown["channels"]["email"]["password"] == MASK
    assert shown["endpoints"]["crm"]["secret"] == MASK
    assert shown["touchpoints"]["ticket_closed"]["policy"]["delay"] == "PT2H"
    document, _ = await stored(gateway_app, workspace.id) or ({}, 0)
    assert document["endpoints"]["crm"]["secret"] == "whsec_crm"

    # export → edit → apply: the masks keep the stored secrets.
    edited = copy.deepcopy(shown)
    edited["touchpoints"]["ticket_closed"]["policy"]["delay"] = "PT3H"
    edited["sources"]["billing"]["secrets"][1] = "whsec_stripe_rotated"
    put = await gateway.put("/v1/config", json=edited, headers=workspace.admin)
    assert put.status_code == 200, put.text
    assert put.json() == {
        "version": 2,
        "changed": ["touchpoints.ticket_closed.policy.delay", "sources.billing.secrets.1"],
        "dry_run": False,
    }
    document, version = await stored(gateway_app, workspace.id) or ({}, 0)
    assert version == 2
    assert document["sources"]["billing"]["secrets"] == ["whsec_stripe_one", "whsec_stripe_rotated"]
    assert document["channels"]["email"]["password"] == "smtp-password"
    assert document["endpoints"]["crm"]["secret"] == "whsec_crm"

    # What other services read through the shared cache is the stored configuration.
    config = await ConfigCache(gateway_app.state.sessions, ttl=0).get(workspace.id)
    assert config is not None
    assert config.endpoints["crm"].secret.get_secret_value() == "whsec_crm"
    workspace_row = await gateway.get("/v1/workspaces/current", headers=workspace.admin)
    assert workspace_row.json()["timezone"] == "Europe/Berlin"


async def test_an_unchanged_configuration_is_not_stored_again(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    await gateway.put("/v1/config", json=acme(workspace.id), headers=workspace.admin)
    again = await gateway.put("/v1/config", json=acme(workspace.id), headers=workspace.admin)
    assert again.json() == {"version": 1, "changed": [], "dry_run": False}


async def test_a_dry_run_stores_nothing(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, workspace: NewWorkspace
) -> None:
    dry = await gateway.put(
        "/v1/config", params={"dry_run": "true"}, json=acme(workspace.id), headers=workspace.admin
    )
    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True
    assert dry.json()["version"] == 0
    assert "channels" in dry.json()["changed"]
    assert await stored(gateway_app, workspace.id) is None

    await gateway.put("/v1/config", json=acme(workspace.id), headers=workspace.admin)
    edited = acme(workspace.id)
    edited["settings"]["min_n"] = 10
    dry = await gateway.put(
        "/v1/config", params={"dry_run": "true"}, json=edited, headers=workspace.admin
    )
    assert dry.json() == {"version": 1, "changed": ["settings.min_n"], "dry_run": True}
    document, version = await stored(gateway_app, workspace.id) or ({}, 0)
    assert (document["settings"]["min_n"], version) == (5, 1)


async def test_an_invalid_configuration_is_refused_naming_the_field(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    config = acme(workspace.id)
    config["touchpoints"]["ticket_closed"]["policy"]["delay"] = "two hours"
    config["touchpoints"]["ticket_closed"]["policy"]["sample"] = 2
    answer = await gateway.put("/v1/config", json=config, headers=workspace.admin)

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    locations = {error["location"] for error in answer.json()["errors"]}
    assert locations == {
        "touchpoints.ticket_closed.policy.delay",
        "touchpoints.ticket_closed.policy.sample",
    }
    assert "touchpoints.ticket_closed.policy.delay" in answer.json()["detail"]


async def test_a_dangling_reference_is_refused(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    config = acme(workspace.id)
    config["touchpoints"]["ticket_closed"]["survey"] = "nps_missing"
    answer = await gateway.put("/v1/config", json=config, headers=workspace.admin)
    assert answer.status_code == 422
    assert "touchpoints.ticket_closed.survey" in answer.json()["detail"]


async def test_a_configuration_for_another_workspace_is_refused(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    answer = await gateway.put("/v1/config", json=acme("elsewhere"), headers=workspace.admin)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["location"] == "workspace"


async def test_a_masked_secret_with_nothing_stored_is_refused(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    config = acme(workspace.id)
    config["endpoints"]["crm"]["secret"] = MASK
    answer = await gateway.put("/v1/config", json=config, headers=workspace.admin)
    assert answer.status_code == 422
    assert "endpoints.crm.secret" in answer.json()["detail"]


async def test_a_stale_version_is_a_conflict(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    await gateway.put("/v1/config", json=acme(workspace.id), headers=workspace.admin)
    stale = acme(workspace.id) | {"version": 0, "timezone": "UTC"}
    answer = await gateway.put("/v1/config", json=stale, headers=workspace.admin)
    assert answer.status_code == 409
    current = acme(workspace.id) | {"version": 1, "timezone": "UTC"}
    answer = await gateway.put("/v1/config", json=current, headers=workspace.admin)
    assert answer.json()["changed"] == ["timezone"]


async def test_malformed_and_oversized_bodies_are_refused(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    headers = workspace.admin | {"Content-Type": "application/json"}
    not_json = await gateway.put("/v1/config", content=b"{nope", headers=headers)
    assert not_json.status_code == 400
    a_list = await gateway.put("/v1/config", content=b"[]", headers=headers)
    assert a_list.status_code == 422
    huge = b'{"workspace": "' + b"x" * (1024 * 1024) + b'"}'
    too_big = await gateway.put("/v1/config", content=huge, headers=headers)
    assert too_big.status_code == 413


async def test_configuration_needs_the_config_scope(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    writer = await issue_key(gateway, workspace, "config:write")
    headers = {"Authorization": f"Bearer {writer['key']}"}
    put = await gateway.put("/v1/config", json=acme(workspace.id), headers=headers)
    assert put.status_code == 200
    assert (await gateway.get("/v1/config", headers=headers)).status_code == 200
