"""`cxloop` against the gateway served over real HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import yaml
from cxloop_gateway.cli import run
from gateway_support import ADMIN_TOKEN

EXAMPLE = Path(__file__).parents[3] / "examples" / "cxloop.yaml"


def cxloop(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(list(argv), env=env, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def write_config(tmp_path: Path, workspace_id: str, **changes: object) -> Path:
    config = yaml.safe_load(EXAMPLE.read_text())
    config.update(workspace=workspace_id, **changes)
    config["channels"]["email"]["password"] = "smtp-password"
    path = tmp_path / "cxloop.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_apply_creates_the_workspace_and_round_trips_through_export(
    gateway_url: str, workspace_id: str, tmp_path: Path
) -> None:
    admin = {"CXLOOP_URL": gateway_url, "CXLOOP_ADMIN_TOKEN": ADMIN_TOKEN}
    config = write_config(tmp_path, workspace_id)

    status, out, err = cxloop("apply", "-f", str(config), "--dry-run", env=admin)
    assert status == 1, "a dry run creates nothing, so the workspace is not there yet"
    assert "404" in err

    status, out, err = cxloop("apply", "-f", str(config), env=admin)
    assert status == 0, err
    assert "touchpoints" in out.splitlines()
    assert "version 1" in err

    status, out, err = cxloop("apply", "-f", str(config), env=admin)
    assert (status, out) == (0, "")

    exported = tmp_path / "exported.yaml"
    as_admin = admin | {"CXLOOP_WORKSPACE": workspace_id}
    status, _, err = cxloop("export", "-o", str(exported), env=as_admin)
    assert status == 0, err
    document = yaml.safe_load(exported.read_text())
    assert "version" not in document
    assert document["channels"]["email"]["password"] == "**********"
    status, out, _ = cxloop("apply", "-f", str(exported), env=admin)
    assert (status, out) == (0, ""), "the export is the configuration, secrets kept"

    edited = write_config(tmp_path, workspace_id, timezone="Asia/Kathmandu")
    status, out, err = cxloop("apply", "-f", str(edited), "--dry-run", env=admin)
    assert (status, out) == (0, "timezone\n")
    assert "would change" in err


def test_keys_are_created_and_revoked_from_the_command_line(
    gateway_url: str, workspace_id: str
) -> None:
    admin = {
        "CXLOOP_URL": gateway_url,
        "CXLOOP_ADMIN_TOKEN": ADMIN_TOKEN,
        "CXLOOP_WORKSPACE": workspace_id,
    }
    with httpx.Client(base_url=gateway_url) as client:
        created = client.post(
            "/v1/workspaces",
            json={"id": workspace_id},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert created.status_code == 201

    status, out, err = cxloop(
        "keys",
        "create",
        "--name",
        "shop",
        "--scope",
        "events:write",
        "--scope",
        "metrics:read",
        env=admin,
    )
    assert status == 0, err
    key = out.strip()
    assert key.startswith("cxk_")
    assert len(out.splitlines()) == 1, "only the key, so scripts can capture it"

    with_key = {"CXLOOP_URL": gateway_url, "CXLOOP_API_KEY": key}
    status, _, err = cxloop("export", env=with_key)
    assert status == 1
    assert "config:write" in err

    with httpx.Client(base_url=gateway_url) as client:
        keys = client.get(
            "/v1/api-keys",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Cxloop-Workspace": workspace_id},
        ).json()["items"]
    (shop,) = [item for item in keys if item["name"] == "shop"]
    status, _, err = cxloop("keys", "revoke", shop["id"], env=admin)
    assert status == 0, err
    status, _, err = cxloop("export", env=with_key)
    assert status == 1
    assert "401" in err


def test_an_invalid_file_exits_non_zero_with_the_problem(
    gateway_url: str, workspace_id: str, tmp_path: Path
) -> None:
    admin = {"CXLOOP_URL": gateway_url, "CXLOOP_ADMIN_TOKEN": ADMIN_TOKEN}
    config = write_config(tmp_path, workspace_id, settings={"min_n": 0})
    status, out, err = cxloop("apply", "-f", str(config), env=admin)
    assert status == 1
    assert out == ""
    assert "settings.min_n" in err


def test_missing_credentials_and_unreachable_gateways_are_reported(tmp_path: Path) -> None:
    config = write_config(tmp_path, "acme")
    status, _, err = cxloop("apply", "-f", str(config), env={})
    assert status == 1
    assert "CXLOOP_API_KEY" in err
    unreachable = {"CXLOOP_URL": "http://127.0.0.1:9", "CXLOOP_API_KEY": "cxk_x"}
    status, _, err = cxloop("apply", "-f", str(config), env=unreachable)
    assert status == 1
    assert "cannot reach" in err
