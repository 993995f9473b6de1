"""The configuration's parts: each part's routes change the one versioned configuration,
validated as a whole, with secrets write-only and other workspaces out of sight."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gateway_parts_support import KEYED_PATHS, LISTED_PATHS, MASK, part_values, probe_config
from gateway_support import ADMIN, NewWorkspace, bearer, issue_key
from sqlalchemy import text


async def stored_document(app: FastAPI, workspace_id: str) -> dict[str, Any]:
    async with app.state.sessions() as session:
        document = await session.scalar(
            text("select document from gateway.workspace_configs where workspace_id = :w"),
            {"w": workspace_id},
        )
    assert document is not None
    return dict(document)


async def version(gateway: httpx.AsyncClient, workspace: NewWorkspace) -> int:
    answer = await gateway.get("/v1/config", headers=workspace.admin)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["version"])


def subset(shown: Any, written: Any) -> Any:
    """`shown` cut down to the fields `written` has (reads add every default)."""
    if isinstance(shown, dict) and isinstance(written, dict):
        return {name: subset(shown.get(name), value) for name, value in written.items()}
    if isinstance(shown, list) and isinstance(written, list) and len(shown) == len(written):
        return [subset(item, value) for item, value in zip(shown, written, strict=True)]
    return shown


def masked(field: str, value: dict[str, Any]) -> dict[str, Any]:
    """What a read shows of an item written as `value`: its secrets masked."""
    shown = dict(value)
    for secret in ("auth_token", "secret"):
        if secret in shown:
            shown[secret] = MASK
    if field == "sources":
        shown["secrets"] = [MASK for _ in shown["secrets"]]
    return shown


@pytest.mark.parametrize("field", list(KEYED_PATHS))
async def test_a_keyed_part_is_created_read_replaced_and_deleted(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, workspace: NewWorkspace, field: str
) -> None:
    path, values, headers = KEYED_PATHS[field], part_values("item"), workspace.admin
    if field == "touchpoints":
        survey = await gateway.put("/v1/surveys/item", json=values["surveys"], headers=headers)
        assert survey.status_code == 200, survey.text
    empty = await gateway.get(path, headers=headers)
    assert empty.status_code == 200
    assert empty.json()["items"] == {}
    before = await version(gateway, workspace)

    created = await gateway.put(f"{path}/item", json=values[field], headers=headers)
    assert created.status_code == 200, created.text
    assert created.json() == {"version": before + 1, "changed": [f"{field}.item"], "dry_run": False}
    read = await gateway.get(f"{path}/item", headers=headers)
    assert read.status_code == 200, read.text
    shown = read.json()
    assert subset(shown, values[field]) == masked(field, values[field])
    listed = (await gateway.get(path, headers=headers)).json()
    assert listed == {"items": {"item": shown}, "version": before + 1}
    whole = (await gateway.get("/v1/config", headers=headers)).json()
    assert whole[field]["item"] == shown

    replaced = await gateway.put(f"{path}/item", json=shown, headers=headers)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["changed"] == [], "the masked read written back changes nothing"
    assert (await stored_document(gateway_app, workspace.id))[field]["item"] == {
        **shown,
        **{name: values[field][name] for name in ("auth_token", "secret", "secrets")
           if name in values[field]},
    }  # fmt: skip

    deleted = await gateway.delete(f"{path}/item", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["changed"] == [f"{field}.item"]
    assert (await gateway.get(f"{path}/item", headers=headers)).status_code == 404
    again = await gateway.delete(f"{path}/item", headers=headers)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"
    assert "item" in again.json()["detail"]


async def test_a_changed_item_reports_the_paths_that_changed(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    values = part_values("tp")
    await gateway.put("/v1/surveys/tp", json=values["surveys"], headers=workspace.admin)
    await gateway.put("/v1/touchpoints/tp", json=values["touchpoints"], headers=workspace.admin)
    changed = {
        **values["touchpoints"],
        "policy": {**values["touchpoints"]["policy"], "delay": "PT3H"},
    }
    answer = await gateway.put("/v1/touchpoints/tp", json=changed, headers=workspace.admin)
    assert answer.json()["changed"] == ["touchpoints.tp.policy.delay"]


@pytest.mark.parametrize("field", list(LISTED_PATHS))
async def test_a_listed_part_is_replaced_appended_and_edited_by_index(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, field: str
) -> None:
    path, headers = LISTED_PATHS[field], workspace.admin
    first, second, third = (
        [{"when": "csat <= 2"}, {"when": "nps <= 6"}, {"when": '"refund" in comment'}]
        if field == "alerts"
        else [
            {"scope": "any_survey", "max": 1, "per": "P7D"},
            {"scope": "same_touchpoint", "max": 1, "per": "P30D"},
            {"scope": "same_channel", "max": 2, "per": "P1D", "on_exceed": "defer"},
        ]
    )
    assert (await gateway.get(path, headers=headers)).json()["items"] == []

    replaced = await gateway.put(path, json=[first, second], headers=headers)
    assert replaced.status_code == 200, replaced.text
    appended = await gateway.post(path, json=third, headers=headers)
    assert appended.status_code == 200, appended.text
    assert appended.json()["changed"] == [field]
    items = (await gateway.get(path, headers=headers)).json()["items"]
    assert subset(items, [first, second, third]) == [first, second, third]
    assert (await gateway.get(f"{path}/2", headers=headers)).json() == items[2]

    edited = await gateway.put(f"{path}/0", json=third, headers=headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["changed"][0].startswith(f"{field}.0")
    deleted = await gateway.delete(f"{path}/1", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert (await gateway.get(path, headers=headers)).json()["items"] == [items[2], items[2]]
    missing = await gateway.get(f"{path}/2", headers=headers)
    assert missing.status_code == 404
    assert "index 2" in missing.json()["detail"]
    assert (await gateway.put(f"{path}/5", json=first, headers=headers)).status_code == 404
    assert (await gateway.delete(f"{path}/5", headers=headers)).status_code == 404


async def test_a_dry_run_reports_and_stores_nothing(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    values, headers = part_values("s"), workspace.admin
    before = await version(gateway, workspace)
    dry = await gateway.put(
        "/v1/surveys/s", json=values["surveys"], params={"dry_run": "true"}, headers=headers
    )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"version": before, "changed": ["surveys.s"], "dry_run": True}
    assert (await gateway.get("/v1/surveys/s", headers=headers)).status_code == 404
    await gateway.put("/v1/surveys/s", json=values["surveys"], headers=headers)
    dry_delete = await gateway.delete("/v1/surveys/s", params={"dry_run": "true"}, headers=headers)
    assert dry_delete.json()["changed"] == ["surveys.s"]
    assert (await gateway.get("/v1/surveys/s", headers=headers)).status_code == 200
    dry_rules = await gateway.put(
        "/v1/alert-rules", json=[{"when": "csat <= 1"}], params={"dry_run": "1"}, headers=headers
    )
    assert dry_rules.json()["changed"] == ["alerts"]
    assert (await gateway.get("/v1/alert-rules", headers=headers)).json()["items"] == []
    assert await version(gateway, workspace) == before + 1


async def test_cross_references_are_checked_on_the_whole_configuration(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    values, headers = part_values("tp"), workspace.admin
    dangling = await gateway.put("/v1/touchpoints/tp", json=values["touchpoints"], headers=headers)
    assert dangling.status_code == 422
    assert dangling.headers["content-type"] == "application/problem+json"
    assert "touchpoints.tp.survey" in dangling.json()["detail"]

    await gateway.put("/v1/surveys/tp", json=values["surveys"], headers=headers)
    await gateway.put("/v1/touchpoints/tp", json=values["touchpoints"], headers=headers)
    in_use = await gateway.delete("/v1/surveys/tp", headers=headers)
    assert in_use.status_code == 422
    assert "touchpoints.tp.survey" in in_use.json()["detail"]
    assert (await gateway.get("/v1/surveys/tp", headers=headers)).status_code == 200

    unknown_channel = {**values["touchpoints"], "policy": {"channels": ["pigeon"]}}
    refused = await gateway.put("/v1/touchpoints/tp", json=unknown_channel, headers=headers)
    assert refused.status_code == 422
    assert "touchpoints.tp.policy.channels" in refused.json()["detail"]
    rule = await gateway.post("/v1/alert-rules", json={"when": "nps <= 6", "notify": ["crm"]},
                              headers=headers)  # fmt: skip
    assert rule.status_code == 422
    assert "alerts.0.notify" in rule.json()["detail"]


async def test_an_invalid_item_is_refused_naming_the_field(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    values, headers = part_values("tp"), workspace.admin
    await gateway.put("/v1/surveys/tp", json=values["surveys"], headers=headers)
    bad_sample = {**values["touchpoints"], "policy": {"sample": 2}}
    answer = await gateway.put("/v1/touchpoints/tp", json=bad_sample, headers=headers)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "policy.sample" in answer.json()["detail"]
    assert [error["location"] for error in answer.json()["errors"]] == ["body.policy.sample"]

    unknown_field = await gateway.put(
        "/v1/journeys/j", json={"stages": ["a"], "colour": "red"}, headers=headers
    )
    assert unknown_field.status_code == 422
    assert "colour" in unknown_field.json()["detail"]
    bad_rule = await gateway.post("/v1/alert-rules", json={"when": "import os"}, headers=headers)
    assert bad_rule.status_code == 422
    assert "when" in bad_rule.json()["detail"]
    bad_key = await gateway.put("/v1/journeys/-dash", json={"stages": ["a"]}, headers=headers)
    assert bad_key.status_code == 422
    assert "key" in bad_key.json()["detail"]
    assert (await gateway.get("/v1/journeys", headers=headers)).json()["items"] == {}


async def test_secrets_read_masked_and_a_masked_secret_keeps_the_stored_one(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, workspace: NewWorkspace
) -> None:
    values, headers = part_values("x"), workspace.admin
    await gateway.put("/v1/channels/sms", json=values["channels"], headers=headers)
    await gateway.put("/v1/sources/billing", json=values["sources"], headers=headers)
    channel = (await gateway.get("/v1/channels/sms", headers=headers)).json()
    source = (await gateway.get("/v1/sources/billing", headers=headers)).json()
    assert channel["auth_token"] == MASK
    assert source["secrets"] == [MASK, MASK]
    everything = (await gateway.get("/v1/config", headers=headers)).text
    for secret in ("twilio-probe-token", "whsec_probe_one", "whsec_probe_two"):
        assert secret not in everything
        assert secret not in (await gateway.get("/v1/channels", headers=headers)).text
        assert secret not in (await gateway.get("/v1/sources", headers=headers)).text

    moved = await gateway.put("/v1/channels/sms", json={**channel, "from": "+15550199"},
                              headers=headers)  # fmt: skip
    assert moved.json()["changed"] == ["channels.sms.from"]
    rotated = await gateway.put(
        "/v1/sources/billing", json={**source, "secrets": [MASK, "whsec_new"]}, headers=headers
    )
    assert rotated.json()["changed"] == ["sources.billing.secrets.1"]
    document = await stored_document(gateway_app, workspace.id)
    assert document["channels"]["sms"]["auth_token"] == "twilio-probe-token"
    assert document["channels"]["sms"]["from"] == "+15550199"
    assert document["sources"]["billing"]["secrets"] == ["whsec_probe_one", "whsec_new"]

    nothing_to_keep = await gateway.put("/v1/channels/other", json=channel, headers=headers)
    assert nothing_to_keep.status_code == 422
    assert "channels.other.auth_token" in nothing_to_keep.json()["detail"]


async def test_another_workspaces_parts_are_out_of_sight(
    gateway: httpx.AsyncClient, workspace: NewWorkspace, workspace_id: str
) -> None:
    applied = await gateway.put(
        "/v1/config", json=probe_config(workspace.id), headers=workspace.admin
    )
    assert applied.status_code == 200, applied.text
    other_id = f"{workspace_id}-b"
    created = await gateway.post("/v1/workspaces", json={"id": other_id}, headers=ADMIN)
    other = bearer(created.json()["admin_key"]["key"])

    for path in (*KEYED_PATHS.values(), *LISTED_PATHS.values()):
        listed = (await gateway.get(path, headers=other)).json()["items"]
        assert not listed, path
        item = "probe" if path in KEYED_PATHS.values() else "0"
        assert (await gateway.get(f"{path}/{item}", headers=other)).status_code == 404, path
        assert (await gateway.delete(f"{path}/{item}", headers=other)).status_code == 404, path
        mine = await gateway.get(f"{path}/{item}", headers=workspace.admin)
        assert mine.status_code == 200, path
    # A foreign key naming this workspace learns nothing either.
    named = {**other, "X-Cxloop-Workspace": workspace.id}
    assert (await gateway.get("/v1/touchpoints/probe", headers=named)).status_code == 404


async def test_parts_need_the_config_scope(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    reader = bearer((await issue_key(gateway, workspace, "metrics:read"))["key"])
    refused = await gateway.get("/v1/touchpoints", headers=reader)
    assert refused.status_code == 403
    assert "config:write" in refused.json()["detail"]


async def test_a_stale_version_is_a_conflict(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    values, headers = part_values("s"), workspace.admin
    current = await version(gateway, workspace)
    first = await gateway.put(
        "/v1/surveys/s", json=values["surveys"], params={"version": current}, headers=headers
    )
    assert first.status_code == 200, first.text
    stale = await gateway.put(
        "/v1/surveys/t", json=values["surveys"], params={"version": current}, headers=headers
    )
    assert stale.status_code == 409
    assert f"version {current + 1}" in stale.json()["detail"]


async def test_parts_changed_at_once_all_land(
    gateway: httpx.AsyncClient, workspace: NewWorkspace
) -> None:
    survey = part_values("s")["surveys"]
    keys = [f"s{index}" for index in range(8)]
    answers = await asyncio.gather(
        *(gateway.put(f"/v1/surveys/{key}", json=survey, headers=workspace.admin) for key in keys)
    )
    assert [answer.status_code for answer in answers] == [200] * len(keys)
    assert sorted(answer.json()["version"] for answer in answers) == list(range(1, 9))
    listed = (await gateway.get("/v1/surveys", headers=workspace.admin)).json()
    assert sorted(listed["items"]) == keys
    assert listed["version"] == len(keys)
