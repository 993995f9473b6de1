"""Pure rules of a configuration change: validation, write-only secrets, what changed.

Secrets are write-only: the API shows them as MASK, and a MASK sent back in a PUT means
"keep the stored secret", so export → edit → apply round-trips without ever revealing one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cxloop_shared.config import WorkspaceConfig
from cxloop_shared.errors import BadRequest, Unprocessable
from pydantic import BaseModel, SecretStr, ValidationError

MASK = "**********"
Path = tuple[str | int, ...]


def dotted(path: Iterable[str | int]) -> str:
    """`("touchpoints", "checkout", "policy", "delay")` → `touchpoints.checkout.policy.delay`."""
    return ".".join(str(part) for part in path)


def parse(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; BadRequest or Unprocessable otherwise."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise Unprocessable("the configuration must be a JSON object")
    return document


def validate(document: Mapping[str, Any]) -> WorkspaceConfig:
    """The document as a WorkspaceConfig, or Unprocessable naming every invalid field."""
    unstorable = [dotted(path) for path in nul_paths(document)]
    if unstorable:
        raise Unprocessable(
            f"{', '.join(unstorable[:5])}: text may not contain the NUL character",
            errors=[
                {"location": path, "message": "contains the NUL character"}
                for path in unstorable[:100]
            ],
        )
    try:
        return WorkspaceConfig.model_validate(document)
    except ValidationError as exc:
        raise invalid(exc) from None


def nul_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """Where the document has text with a NUL character, which Postgres cannot store."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield (*path, key)
            yield from nul_paths(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from nul_paths(item, (*path, index))


def invalid(exc: ValidationError) -> Unprocessable:
    """A validation error as problem+json, shaped like the shared request-validation handler."""
    # Never echo inputs: they may be secrets.
    errors = [
        {"location": dotted(error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{e['location'] or 'config'}: {e['message']}" for e in errors[:5])
    return Unprocessable(summary, errors=errors[:100])


def secret_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """Where the configuration holds secrets, as paths into its stored document."""
    if isinstance(value, SecretStr):
        yield path
    elif isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            yield from secret_paths(getattr(value, name), (*path, field.alias or name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from secret_paths(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from secret_paths(item, (*path, index))


def _lookup(document: Any, path: Path) -> Any:
    for part in path:
        found = (isinstance(document, Mapping) and part in document) or (
            isinstance(document, list) and isinstance(part, int) and part < len(document)
        )
        if not found:
            return None
        document = document[part]
    return document


def keep_stored_secrets(
    document: Mapping[str, Any], *, stored: Mapping[str, Any] | None, secrets: Iterable[Path]
) -> tuple[dict[str, Any], list[str]]:
    """The document with every masked secret replaced by the stored one at the same path.

    Also returns the paths of masked secrets with nothing stored to keep: a mask is never
    stored as if it were the secret.
    """
    merged = copy.deepcopy(dict(document))
    unresolved: list[str] = []
    for path in secrets:
        if _lookup(merged, path) != MASK:
            continue
        kept = _lookup(stored, path) if stored is not None else None
        if isinstance(kept, str) and kept != MASK:
            parent = _lookup(merged, path[:-1])
            parent[path[-1]] = kept
        else:
            unresolved.append(dotted(path))
    return merged, unresolved


def changed_paths(before: Any, after: Any, *, path: Path = ()) -> list[str]:
    """The paths at which two stored documents differ, as deep as both sides have structure."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = [*after, *(key for key in before if key not in after)]
        return [
            changed
            for key in keys
            for changed in (
                changed_paths(before[key], after[key], path=(*path, key))
                if key in before and key in after
                else [dotted((*path, key))]
            )
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            changed
            for index, (old, new) in enumerate(zip(before, after, strict=True))
            for changed in changed_paths(old, new, path=(*path, index))
        ]
    return [] if before == after else [dotted(path)]
