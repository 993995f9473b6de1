"""Reading and replacing a workspace's configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.errors import Conflict, Unprocessable
from sqlalchemy.ext.asyncio import AsyncSession

from cxloop_gateway.config import documents, repository
from cxloop_gateway.config.schemas import ConfigApplied
from cxloop_gateway.workspaces import repository as workspaces_repository
from cxloop_gateway.workspaces import service as workspaces_service


async def stored(
    session: AsyncSession, workspace_id: str, *, for_update: bool = False
) -> tuple[dict[str, Any], int]:
    """The stored document (secrets in clear) and its version; 0 and defaults: none yet."""
    row = await repository.get(session, workspace_id, for_update=for_update)
    if row is None:
        workspace = await workspaces_service.get(session, workspace_id)
        config = WorkspaceConfig(workspace=workspace_id, timezone=workspace.timezone)
        return config.to_document(), 0
    document, version = row
    return dict(document), version


async def read_public(session: AsyncSession, workspace_id: str) -> tuple[dict[str, Any], int]:
    """The configuration with secrets masked, and its version."""
    document, version = await stored(session, workspace_id)
    return WorkspaceConfig.model_validate(document).to_public(), version


async def read(session: AsyncSession, workspace_id: str) -> dict[str, Any]:
    """The configuration with secrets masked, plus its `version` (0 and defaults: none yet)."""
    document, version = await read_public(session, workspace_id)
    return {**document, "version": version}


async def change(
    session: AsyncSession,
    *,
    workspace_id: str,
    edit: Callable[[dict[str, Any]], dict[str, Any]],
    version: int | None,
    dry_run: bool,
) -> ConfigApplied:
    """Apply `edit` to the stored document, then validate and store the whole as `apply` does.

    The workspace's configuration stays locked from the read to the write, so two parts
    changed at once both land. `version`, if given, must be the stored one (else 409).
    """
    await repository.lock(session, workspace_id)
    document, stored_version = await stored(session, workspace_id, for_update=True)
    proposed = edit(document)
    if version is not None:
        proposed["version"] = version
    return await apply(
        session,
        workspace_id=workspace_id,
        proposed=proposed,
        dry_run=dry_run,
        # A part's first write reports the part, not every default around it.
        baseline=document if stored_version == 0 else None,
    )


async def apply(
    session: AsyncSession,
    *,
    workspace_id: str,
    proposed: dict[str, Any],
    dry_run: bool,
    baseline: dict[str, Any] | None = None,
) -> ConfigApplied:
    """Validate the proposed configuration and, unless a dry run or unchanged, store it.

    A top-level `version` (as GET returns it) makes the write conditional on it being
    the stored version, so two editors cannot silently overwrite each other. `changed`
    is relative to the stored document, or, while there is none, to `baseline` (None: to
    nothing, so every top-level field counts as changed).
    """
    proposed = dict(proposed)
    expected_version = proposed.pop("version", None)
    if expected_version is not None and type(expected_version) is not int:
        raise Unprocessable(
            "version: must be the integer version the change is based on",
            errors=[{"location": "version", "message": "not an integer"}],
        )
    config = documents.validate(proposed)
    await repository.lock(session, workspace_id)
    if config.workspace != workspace_id:
        raise Unprocessable(
            f"workspace: this configuration is for {config.workspace!r}, the caller acts on "
            f"{workspace_id!r}",
            errors=[{"location": "workspace", "message": "not the caller's workspace"}],
        )
    stored = await repository.get(session, workspace_id, for_update=True)
    stored_document, stored_version = stored if stored is not None else (None, 0)
    if expected_version is not None and expected_version != stored_version:
        raise Conflict(
            f"the configuration is at version {stored_version}, not {expected_version!r}; "
            "read it again and reapply your change"
        )
    document, unresolved = documents.keep_stored_secrets(
        config.to_document(), stored=stored_document, secrets=documents.secret_paths(config)
    )
    if unresolved:
        raise Unprocessable(
            f"masked secrets with no stored value to keep: {', '.join(unresolved)}",
            errors=[
                {"location": path, "message": "masked secret with no stored value to keep"}
                for path in unresolved
            ],
        )
    config = documents.validate(document)
    document = config.to_document()
    changed = documents.changed_paths(stored_document or baseline or {}, document)
    if dry_run or not changed:
        return ConfigApplied(version=stored_version, changed=changed, dry_run=dry_run)
    version = await repository.save(session, workspace_id=workspace_id, document=document)
    await workspaces_repository.set_timezone(
        session, workspace_id=workspace_id, timezone=config.timezone
    )
    return ConfigApplied(version=version, changed=changed, dry_run=False)
