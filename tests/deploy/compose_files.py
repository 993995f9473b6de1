"""Reading docker-compose.yml as Compose does: variables, defaults, durations."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from tests.deploy.deploy_support import REPO

_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$\$")


def compose_variables(value: object) -> Iterator[tuple[str, str | None]]:
    """(name, default) of every ${...} in a loaded compose file."""
    if isinstance(value, str):
        for match in _VARIABLE.finditer(value):
            if match.group(1):
                yield match.group(1), match.group(3) if match.group(2) else None
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from compose_variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from compose_variables(item)


def interpolate(value: object, environment: Mapping[str, str] | None = None) -> Any:
    """The loaded compose file as Compose sees it with `environment` (defaults otherwise)."""
    environment = environment or {}

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, default = match.groups()
        found = environment.get(name)
        if found is None or (found == "" and operator and operator.startswith(":")):
            return default or ""
        return found

    if isinstance(value, str):
        return _VARIABLE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    return value


def load_compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return compose


def compose_environment(definition: Mapping[str, Any]) -> dict[str, str]:
    environment = definition.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(name): str(value) for name, value in environment.items()}


def seconds(duration: str | int | float) -> float:
    """A Compose duration (`1m30s`, `60s`, `500ms`) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Compose duration: {duration}")
    return sum(float(number) * units[unit] for number, unit in parts)
