"""The pure rules of a configuration change, without a database."""

from __future__ import annotations

import pytest
from cxloop_gateway.config.documents import (
    MASK,
    changed_paths,
    keep_stored_secrets,
    secret_paths,
)
from cxloop_shared.config import WorkspaceConfig


def test_changed_paths_go_as_deep_as_both_sides() -> None:
    before = {"a": {"b": 1, "c": [1, 2]}, "gone": 1, "same": "x"}
    after = {"a": {"b": 2, "c": [1, 3]}, "new": 1, "same": "x"}
    assert changed_paths(before, after) == ["a.b", "a.c.1", "new", "gone"]


def test_a_list_that_changes_length_changes_as_a_whole() -> None:
    assert changed_paths({"fatigue": [1]}, {"fatigue": [1, 2]}) == ["fatigue"]


def test_nothing_changed() -> None:
    assert changed_paths({"a": [{"b": 1}]}, {"a": [{"b": 1}]}) == []


def test_secret_paths_follow_the_stored_document() -> None:
    config = WorkspaceConfig.model_validate(
        {
            "workspace": "acme",
            "sources": {"shop": {"kind": "shopify", "secrets": ["one", "two"]}},
            "channels": {"email": {"kind": "smtp", "password": "pw", "from": "a@b.test"}},
            "endpoints": {"crm": {"url": "https://crm.test", "secret": "s", "events": ["x"]}},
        }
    )
    assert sorted(secret_paths(config)) == [
        ("channels", "email", "password"),
        ("endpoints", "crm", "secret"),
        ("sources", "shop", "secrets", 0),
        ("sources", "shop", "secrets", 1),
    ]


@pytest.mark.parametrize(
    ("stored", "expected", "unresolved"),
    [
        ({"endpoints": {"crm": {"secret": "kept"}}}, "kept", []),
        (None, MASK, ["endpoints.crm.secret"]),
        ({"endpoints": {}}, MASK, ["endpoints.crm.secret"]),
    ],
)
def test_a_masked_secret_keeps_the_stored_one(
    stored: dict[str, object] | None, expected: str, unresolved: list[str]
) -> None:
    document = {"endpoints": {"crm": {"secret": MASK, "url": "u"}}}
    secrets = [("endpoints", "crm", "secret")]

    merged, missing = keep_stored_secrets(document, stored=stored, secrets=secrets)

    assert merged["endpoints"]["crm"]["secret"] == expected
    assert missing == unresolved
    assert document["endpoints"]["crm"]["secret"] == MASK, "the input is left alone"


def test_a_new_secret_replaces_the_stored_one() -> None:
    merged, missing = keep_stored_secrets(
        {"endpoints": {"crm": {"secret": "new"}}},
        stored={"endpoints": {"crm": {"secret": "old"}}},
        secrets=[("endpoints", "crm", "secret")],
    )
    assert merged["endpoints"]["crm"]["secret"] == "new"
    assert missing == []
