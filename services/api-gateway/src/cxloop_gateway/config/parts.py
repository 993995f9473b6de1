"""The parts of a workspace configuration that have their own routes, and how a change to
one part becomes a change of the whole stored document.

Pure: each edit takes the stored document and returns a new one; the service then
validates and stores the whole, exactly as PUT /v1/config does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Annotated, Any

from cxloop_shared.config import (
    AlertRule,
    ChannelConfig,
    EndpointConfig,
    FatigueRule,
    JourneyConfig,
    SourceConfig,
    SurveyConfig,
    TouchpointConfig,
)
from cxloop_shared.errors import NotFound
from pydantic import BaseModel, StringConstraints

# A part's key as a path segment: a configuration Key without `/` (a key with one can
# still be set through /v1/config, but it cannot be named in a URL path).
PartKey = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]


@dataclass(frozen=True)
class KeyedPart:
    """A mapping of the configuration (`touchpoints`, …), served at `path`/{key}."""

    field: str
    path: str
    singular: str
    model: type[BaseModel]


@dataclass(frozen=True)
class ListedPart:
    """A list of the configuration (`alerts`, `fatigue`), served at `path`/{index}."""

    field: str
    path: str
    singular: str
    model: type[BaseModel]


KEYED_PARTS = (
    KeyedPart("touchpoints", "/v1/touchpoints", "touchpoint", TouchpointConfig),
    KeyedPart("surveys", "/v1/surveys", "survey", SurveyConfig),
    KeyedPart("journeys", "/v1/journeys", "journey", JourneyConfig),
    KeyedPart("sources", "/v1/sources", "source", SourceConfig),
    KeyedPart("channels", "/v1/channels", "channel", ChannelConfig),
    KeyedPart("endpoints", "/v1/endpoints", "endpoint", EndpointConfig),
)
LISTED_PARTS = (
    ListedPart("alerts", "/v1/alert-rules", "alert_rule", AlertRule),
    ListedPart("fatigue", "/v1/fatigue-rules", "fatigue_rule", FatigueRule),
)


def stored_form(value: BaseModel) -> Any:
    """A part as the stored document holds it: JSON, aliases, secrets in clear."""
    return value.model_dump(mode="json", by_alias=True, context={"reveal_secrets": True})


def item(document: dict[str, Any], *, part: KeyedPart, key: str) -> Any:
    """The part's item `key`, or NotFound."""
    items = document.get(part.field) or {}
    if key not in items:
        raise NotFound(f"no {part.singular} {key!r}")
    return items[key]


def with_item(document: dict[str, Any], *, part: KeyedPart, key: str, value: Any) -> dict[str, Any]:
    """The document with item `key` of the part created or replaced."""
    changed = copy.deepcopy(document)
    changed.setdefault(part.field, {})[key] = value
    return changed


def without_item(document: dict[str, Any], *, part: KeyedPart, key: str) -> dict[str, Any]:
    """The document without item `key` of the part, or NotFound."""
    item(document, part=part, key=key)
    changed = copy.deepcopy(document)
    del changed[part.field][key]
    return changed


def entry(document: dict[str, Any], *, part: ListedPart, index: int) -> Any:
    """The part's entry at `index`, or NotFound."""
    entries = document.get(part.field) or []
    if not 0 <= index < len(entries):
        raise NotFound(f"no {part.singular} at index {index} (there are {len(entries)})")
    return entries[index]


def with_entries(
    document: dict[str, Any], *, part: ListedPart, entries: list[Any]
) -> dict[str, Any]:
    """The document with the part's whole list replaced."""
    changed = copy.deepcopy(document)
    changed[part.field] = list(entries)
    return changed


def with_entry(
    document: dict[str, Any], *, part: ListedPart, index: int | None, value: Any
) -> dict[str, Any]:
    """The document with the entry at `index` replaced (NotFound if none), or appended (None)."""
    changed = copy.deepcopy(document)
    entries = changed.setdefault(part.field, [])
    if index is None:
        entries.append(value)
    else:
        entry(document, part=part, index=index)
        entries[index] = value
    return changed


def without_entry(document: dict[str, Any], *, part: ListedPart, index: int) -> dict[str, Any]:
    """The document without the entry at `index` (later entries move up one), or NotFound."""
    entry(document, part=part, index=index)
    changed = copy.deepcopy(document)
    del changed[part.field][index]
    return changed
