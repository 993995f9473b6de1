"""`cxloop`: apply and export a workspace's configuration, issue and revoke API keys.

    cxloop apply -f cxloop.yaml [--dry-run]
    cxloop export [-o cxloop.yaml]
    cxloop keys create --name NAME --scope SCOPE [--scope SCOPE ...]
    cxloop keys revoke KEY_ID

It talks to the gateway at CXLOOP_URL with CXLOOP_API_KEY or, failing that, the bootstrap
CXLOOP_ADMIN_TOKEN; with the admin token the workspace is the file's `workspace` (apply) or
--workspace / CXLOOP_WORKSPACE, and `apply` creates the workspace when it does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO

import httpx
import yaml
from cxloop_shared.apikeys import ALL_SCOPES

DEFAULT_URL = "http://127.0.0.1:8000"
WORKSPACE_HEADER = "X-Cxloop-Workspace"


class CliError(Exception):
    """A failure to report in one line and exit non-zero."""


def problem_message(response: httpx.Response) -> str:
    """The gateway's problem+json as one readable message."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return f"{response.status_code} {response.reason_phrase}: {response.text[:500]}"
    message = f"{response.status_code} {problem.get('title', '')}: {problem.get('detail', '')}"
    for error in problem.get("errors", [])[:20]:
        if isinstance(error, dict):
            message += f"\n  {error.get('location') or 'config'}: {error.get('message')}"
    return message


def checked(response: httpx.Response) -> httpx.Response:
    """The response, or CliError with the problem detail."""
    if response.is_error:
        raise CliError(problem_message(response))
    return response


def _plain(value: Any) -> str:
    # YAML turns unquoted dates and times into objects; the API wants their ISO text.
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def load_config(path: Path) -> dict[str, Any]:
    """The configuration file as a mapping with a `workspace`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("workspace"), str):
        raise CliError(f"{path} must be a mapping with a `workspace`")
    return document


def ensure_workspace(client: httpx.Client, *, workspace_id: str, timezone: str) -> bool:
    """Create the workspace if it does not exist (admin token); True if it was created."""
    found = client.get("/v1/workspaces/current", headers={WORKSPACE_HEADER: workspace_id})
    if found.status_code != 404:
        checked(found)
        return False
    created = client.post(
        "/v1/workspaces",
        json={"id": workspace_id, "timezone": timezone, "issue_admin_key": False},
    )
    if created.status_code == 409:  # someone else just created it
        return False
    checked(created)
    return True


def apply(
    client: httpx.Client, *, config: Mapping[str, Any], dry_run: bool, as_admin: bool
) -> dict[str, Any]:
    """PUT the configuration; returns the gateway's {version, changed, dry_run}."""
    headers = {"Content-Type": "application/json"}
    if as_admin:
        workspace_id = str(config["workspace"])
        headers[WORKSPACE_HEADER] = workspace_id
        if not dry_run:
            ensure_workspace(
                client, workspace_id=workspace_id, timezone=str(config.get("timezone", "UTC"))
            )
    response = client.put(
        "/v1/config",
        params={"dry_run": "true" if dry_run else "false"},
        content=json.dumps(config, default=_plain),
        headers=headers,
    )
    result: dict[str, Any] = checked(response).json()
    return result


def export(client: httpx.Client) -> dict[str, Any]:
    """The workspace configuration, secrets masked, without its version (files never go stale)."""
    document: dict[str, Any] = checked(client.get("/v1/config")).json()
    document.pop("version", None)
    return document


def create_key(client: httpx.Client, *, name: str, scopes: Sequence[str]) -> str:
    """Issue a key and return its plaintext."""
    response = client.post("/v1/api-keys", json={"name": name, "scopes": list(scopes)})
    return str(checked(response).json()["key"])


def revoke_key(client: httpx.Client, key_id: str) -> None:
    """Revoke a key by its id."""
    checked(client.delete(f"/v1/api-keys/{key_id}"))


def parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    root = argparse.ArgumentParser(prog="cxloop", description=__doc__.split("\n\n")[0])
    root.add_argument("--url", help=f"gateway base URL (CXLOOP_URL, default {DEFAULT_URL})")
    root.add_argument("--workspace", help="workspace to act on with the admin token")
    commands = root.add_subparsers(dest="command", required=True)

    apply_command = commands.add_parser("apply", help="apply a configuration file")
    apply_command.add_argument("-f", "--file", type=Path, required=True)
    apply_command.add_argument("--dry-run", action="store_true", help="only show what changes")

    export_command = commands.add_parser("export", help="print the configuration as YAML")
    export_command.add_argument("-o", "--output", type=Path, help="write to a file instead")

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="issue a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, choices=ALL_SCOPES)
    revoke = keys.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id")
    return root


def client_for(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[httpx.Client, bool]:
    """An HTTP client carrying the caller's credentials, and whether they are the admin token."""
    token = env.get("CXLOOP_API_KEY") or env.get("CXLOOP_ADMIN_TOKEN")
    if not token:
        raise CliError("set CXLOOP_API_KEY (or CXLOOP_ADMIN_TOKEN) to talk to the gateway")
    as_admin = not env.get("CXLOOP_API_KEY")
    headers = {"Authorization": f"Bearer {token}"}
    workspace = args.workspace or env.get("CXLOOP_WORKSPACE")
    if workspace:
        headers[WORKSPACE_HEADER] = workspace
    url = args.url or env.get("CXLOOP_URL") or DEFAULT_URL
    return httpx.Client(base_url=url, headers=headers, timeout=30.0), as_admin


def run(argv: Sequence[str], *, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Run one command; the exit status."""
    args = parser().parse_args(argv)
    try:
        client, as_admin = client_for(args, env)
        with client:
            if args.command == "apply":
                result = apply(
                    client,
                    config=load_config(args.file),
                    dry_run=args.dry_run,
                    as_admin=as_admin,
                )
                out.writelines(f"{path}\n" for path in result["changed"])
                verb = "would change" if result["dry_run"] else "changed"
                print(
                    f"{len(result['changed'])} path(s) {verb}; version {result['version']}",
                    file=err,
                )
            elif args.command == "export":
                text = yaml.safe_dump(export(client), sort_keys=False, allow_unicode=True)
                if args.output:
                    args.output.write_text(text, encoding="utf-8")
                else:
                    out.write(text)
            elif args.action == "create":
                print(create_key(client, name=args.name, scopes=args.scope), file=out)
            else:
                revoke_key(client, args.key_id)
                print(f"revoked {args.key_id}", file=err)
    except CliError as exc:
        print(f"cxloop: {exc}", file=err)
        return 1
    except httpx.HTTPError as exc:
        print(f"cxloop: cannot reach the gateway: {exc!r}", file=err)
        return 1
    return 0


def main() -> None:
    """Entry point of the `cxloop` command."""
    sys.exit(run(sys.argv[1:], env=os.environ, out=sys.stdout, err=sys.stderr))


if __name__ == "__main__":
    main()
