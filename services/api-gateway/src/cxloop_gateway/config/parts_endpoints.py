"""Routes of the configuration's parts: /v1/touchpoints, /v1/surveys, /v1/journeys,
/v1/sources, /v1/channels and /v1/endpoints by key; /v1/alert-rules and /v1/fatigue-rules
by index.

Every write goes through the same validation and versioning as PUT /v1/config (the
whole configuration is validated again, so a touchpoint naming an unknown survey is a
422 naming the field), takes `dry_run` and `version`, and answers what changed. Secrets
read masked; a masked secret written back keeps the stored one. Writes answer 200 with
the change whether they create or replace. Alert and fatigue rules are lists: replace
the whole list, append one, or read, replace and delete one by its index (deleting one
moves the later ones up).

The routes of every part are the same few functions, made once per part below.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field, create_model

from cxloop_gateway.config import parts, service
from cxloop_gateway.config.parts import KeyedPart, ListedPart, PartKey
from cxloop_gateway.config.schemas import ConfigApplied
from cxloop_gateway.deps import ConfigWriter, SessionDep

router = APIRouter(tags=["configuration"])

KeyPath = Annotated[PartKey, Path(description="The item's key, as in the configuration.")]
IndexPath = Annotated[int, Path(ge=0, le=10_000, description="The rule's position, from 0.")]
DryRun = Annotated[bool, Query(description="Only report what would change; store nothing.")]
BaseVersion = Annotated[
    int | None,
    Query(ge=0, description="Apply only if the configuration is still at this version (409)."),
]
_VERSION = Field(description="The configuration's version; pass it as `version` on a write.")


def _plural(part: KeyedPart | ListedPart) -> str:
    return part.path.rsplit("/", 1)[1].replace("-", "_")


def _title(part: KeyedPart | ListedPart) -> str:
    return "".join(word.capitalize() for word in part.singular.split("_"))


def _add_keyed(part: KeyedPart) -> None:
    plural, singular = _plural(part), part.singular.replace("_", " ")
    items = create_model(
        f"{_title(part)}Items",
        items=(dict[str, part.model], Field(description=f"Every {singular}, by key.")),  # type: ignore[name-defined]
        version=(int, _VERSION),
    )

    async def list_items(session: SessionDep, caller: ConfigWriter) -> Any:
        document, version = await service.read_public(session, caller.workspace_id)
        return {"items": document.get(part.field, {}), "version": version}

    async def get_item(key: KeyPath, session: SessionDep, caller: ConfigWriter) -> Any:
        document, _ = await service.read_public(session, caller.workspace_id)
        return parts.item(document, part=part, key=key)

    async def put_item(
        key: KeyPath,
        value: BaseModel,
        session: SessionDep,
        caller: ConfigWriter,
        dry_run: DryRun = False,
        version: BaseVersion = None,
    ) -> ConfigApplied:
        stored = parts.stored_form(value)
        return await service.change(
            session,
            workspace_id=caller.workspace_id,
            edit=lambda document: parts.with_item(document, part=part, key=key, value=stored),
            version=version,
            dry_run=dry_run,
        )

    put_item.__annotations__["value"] = part.model  # the body is this part's model

    async def delete_item(
        key: KeyPath,
        session: SessionDep,
        caller: ConfigWriter,
        dry_run: DryRun = False,
        version: BaseVersion = None,
    ) -> ConfigApplied:
        return await service.change(
            session,
            workspace_id=caller.workspace_id,
            edit=lambda document: parts.without_item(document, part=part, key=key),
            version=version,
            dry_run=dry_run,
        )

    item_path = f"{part.path}/{{key}}"
    words = plural.replace("_", " ")
    _add_routes(
        (part.path, list_items, "GET", f"list_{plural}", f"List the {words}",
         f"Every {singular}, by key (secrets masked), with the configuration's version.", items),
        (item_path, get_item, "GET", f"get_{part.singular}", f"Get a {singular}",
         f"The {singular} `key` (secrets masked).", part.model),
        (item_path, put_item, "PUT", f"put_{part.singular}", f"Create or replace a {singular}",
         f"Create or replace the {singular} `key`; the whole configuration is validated "
         "again, and a masked secret keeps the stored one.", None),
        (item_path, delete_item, "DELETE", f"delete_{part.singular}", f"Delete a {singular}",
         f"Delete the {singular} `key`; refused (422) while another part names it.", None),
    )  # fmt: skip


def _add_listed(part: ListedPart) -> None:
    plural, singular = _plural(part), part.singular.replace("_", " ")
    entries = create_model(
        f"{_title(part)}Items",
        items=(list[part.model], Field(description=f"Every {singular}, in order.")),  # type: ignore[name-defined]
        version=(int, _VERSION),
    )

    async def list_entries(session: SessionDep, caller: ConfigWriter) -> Any:
        document, version = await service.read_public(session, caller.workspace_id)
        return {"items": document.get(part.field, []), "version": version}

    async def put_entries(
        values: Any,
        session: SessionDep,
        caller: ConfigWriter,
        dry_run: DryRun = False,
        version: BaseVersion = None,
    ) -> ConfigApplied:
        stored = [parts.stored_form(value) for value in values]
        return await service.change(
            session,
            workspace_id=caller.workspace_id,
            edit=lambda document: parts.with_entries(document, part=part, entries=stored),
            version=version,
            dry_run=dry_run,
        )

    put_entries.__annotations__["values"] = Annotated[list[part.model], Body()]  # type: ignore[name-defined]

    async def get_entry(index: IndexPath, session: SessionDep, caller: ConfigWriter) -> Any:
        document, _ = await service.read_public(session, caller.workspace_id)
        return parts.entry(document, part=part, index=index)

    async def write_entry(
        session: SessionDep,
        caller: ConfigWriter,
        *,
        index: int | None,
        value: BaseModel,
        dry_run: bool,
        version: int | None,
    ) -> ConfigApplied:
        stored = parts.stored_form(value)
        return await service.change(
            session,
            workspace_id=caller.workspace_id,
            edit=lambda document: parts.with_entry(document, part=part, index=index, value=stored),
            version=version,
            dry_run=dry_run,
        )

    async def put_entry(
        index: IndexPath,
        value: BaseModel,
        session: SessionDep,
        caller: ConfigWriter,
        dry_run: DryRun = False,
        version: BaseVersion = None,
    ) -> ConfigApplied:
        return await write_entry(
            session, caller, index=index, value=value, dry_run=dry_run, version=version
        )

    async def append_entry(
        value: BaseModel,
        session: SessionDep,
        caller: ConfigWriter,
        dry_run: DryRun = False,
        version: BaseVersion = None,
    ) -> ConfigApplied:
        return await write_entry(
            session, caller, index=None, value=value, dry_run=dry_run, version=version
        )

    put_entry.__annotations__["value"] = append_entry.__annotations__["value"] = part.model

    async def delete_entry(
        index: IndexPath,
        session: SessionDep,
        caller: ConfigWriter,
        dry_run: DryRun = False,
        version: BaseVersion = None,
    ) -> ConfigApplied:
        return await service.change(
            session,
            workspace_id=caller.workspace_id,
            edit=lambda document: parts.without_entry(document, part=part, index=index),
            version=version,
            dry_run=dry_run,
        )

    entry_path = f"{part.path}/{{index}}"
    words = plural.replace("_", " ")
    _add_routes(
        (part.path, list_entries, "GET", f"list_{plural}", f"List the {words}",
         f"Every {singular}, in order, with the configuration's version.", entries),
        (part.path, put_entries, "PUT", f"put_{plural}", f"Replace the {words}",
         f"Replace the whole list of {words}.", None),
        (part.path, append_entry, "POST", f"add_{part.singular}", f"Add a {singular}",
         f"Append a {singular} to the list.", None),
        (entry_path, get_entry, "GET", f"get_{part.singular}", f"Get a {singular}",
         f"The {singular} at `index`.", part.model),
        (entry_path, put_entry, "PUT", f"put_{part.singular}", f"Replace a {singular}",
         f"Replace the {singular} at `index`.", None),
        (entry_path, delete_entry, "DELETE", f"delete_{part.singular}", f"Delete a {singular}",
         f"Delete the {singular} at `index`; the later ones move up one.", None),
    )  # fmt: skip


# path, endpoint, method, name (the operationId), summary, description, response model
Route = tuple[str, Any, str, str, str, str, Any]


def _add_routes(*routes: Route) -> None:
    for path, endpoint, method, name, summary, description, response_model in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=name,
            summary=summary,
            description=description,
            **({"response_model": response_model} if response_model is not None else {}),
        )


for keyed in parts.KEYED_PARTS:
    _add_keyed(keyed)
for listed in parts.LISTED_PARTS:
    _add_listed(listed)
