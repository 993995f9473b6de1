"""The workspace configuration: the example validates, documents round-trip, secrets stay hidden."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cxloop_shared.config import AlertRule, WorkspaceConfig
from pydantic import ValidationError

EXAMPLE = Path(__file__).parents[2] / "examples" / "cxloop.yaml"
MASK = "**********"
SECRETS = ("whsec_source_one", "whsec_source_two", "smtp-password", "whsec_endpoint")


def example() -> dict[str, Any]:
    """The example workspace `make run` loads."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return document


def with_secrets() -> dict[str, Any]:
    """The example plus every kind of secret a configuration holds."""
    document = example()
    document["sources"] = {
        "shop": {
            "kind": "shopify",
            "secrets": ["whsec_source_one", "whsec_source_two"],
            "touchpoints": {"orders/paid": "checkout"},
        }
    }
    document["channels"]["email"]["username"] = "cx"
    document["channels"]["email"]["password"] = "smtp-password"
    document["endpoints"] = {
        "crm": {
            "url": "https://crm.example.com/hooks/cx",
            "secret": "whsec_endpoint",
            "events": ["alert.raised"],
        }
    }
    document["alerts"] = [{"when": "metric == 'csat' and score <= 2", "notify": ["crm"]}]
    return document


def test_the_example_validates() -> None:
    config = WorkspaceConfig.model_validate(example())

    assert config.workspace == "acme"
    assert config.timezone == "Europe/Berlin"
    assert set(config.touchpoints) == {"checkout", "ticket_closed", "order_delivered"}
    assert config.touchpoints["ticket_closed"].policy.sample == 0.5
    assert config.channels["email"].from_ == "Acme <cx@acme.test>"
    measured = config.survey_for("order_delivered")
    assert measured is not None
    assert measured[1].metric == "nps"
    assert config.survey_for("unknown") is None


@pytest.mark.parametrize("document", [example(), with_secrets()], ids=["example", "secrets"])
def test_the_stored_document_round_trips(document: dict[str, Any]) -> None:
    config = WorkspaceConfig.model_validate(document)
    stored = config.to_document()

    assert WorkspaceConfig.model_validate(stored) == config
    assert WorkspaceConfig.model_validate(json.loads(json.dumps(stored))) == config
    assert stored["channels"]["email"]["from"] == "Acme <cx@acme.test>"


def test_the_stored_document_keeps_secrets() -> None:
    stored = WorkspaceConfig.model_validate(with_secrets()).to_document()

    assert stored["sources"]["shop"]["secrets"] == ["whsec_source_one", "whsec_source_two"]
    assert stored["channels"]["email"]["password"] == "smtp-password"
    assert stored["endpoints"]["crm"]["secret"] == "whsec_endpoint"


def test_the_public_document_masks_secrets() -> None:
    public = WorkspaceConfig.model_validate(with_secrets()).to_public()

    assert public["sources"]["shop"]["secrets"] == [MASK, MASK]
    assert public["channels"]["email"]["password"] == MASK
    assert public["endpoints"]["crm"]["secret"] == MASK
    assert public["channels"]["email"]["username"] == "cx"
    shown = json.dumps(public)
    assert not [secret for secret in SECRETS if secret in shown]


def test_a_touchpoint_naming_an_unknown_survey_is_rejected() -> None:
    document = example()
    document["touchpoints"]["checkout"]["survey"] = "csat_nowhere"

    with pytest.raises(ValidationError, match=r"touchpoints\.checkout\.survey: no survey named"):
        WorkspaceConfig.model_validate(document)


def test_a_touchpoint_naming_an_unknown_channel_is_rejected() -> None:
    document = example()
    document["touchpoints"]["order_delivered"]["policy"]["channels"] = ["email", "pigeon"]

    with pytest.raises(
        ValidationError, match=r"touchpoints\.order_delivered\.policy\.channels: unknown 'pigeon'"
    ):
        WorkspaceConfig.model_validate(document)


def test_preferred_is_not_a_channel_name_but_always_allowed() -> None:
    document = example()
    document["touchpoints"]["order_delivered"]["policy"]["channels"] = ["preferred"]

    assert WorkspaceConfig.model_validate(document).touchpoints["order_delivered"]


def test_an_alert_notifying_an_unknown_endpoint_is_rejected() -> None:
    document = with_secrets()
    document["alerts"].append({"when": "score <= 1", "notify": ["crm", "pager"]})

    with pytest.raises(ValidationError, match=r"alerts\.1\.notify: no endpoint named 'pager'"):
        WorkspaceConfig.model_validate(document)


def test_unknown_keys_are_rejected() -> None:
    document = example()
    document["touchpoints"]["checkout"]["policy"]["sampel"] = 0.5

    with pytest.raises(ValidationError, match="sampel"):
        WorkspaceConfig.model_validate(document)


def test_alert_rules_are_compiled_when_the_configuration_is_saved() -> None:
    assert AlertRule(when='nps <= 6 or csat <= 2 or "refund" in comment').when
    with pytest.raises(ValidationError, match="unknown name 'nsp'"):
        AlertRule(when="nsp <= 6")
    with pytest.raises(ValidationError, match="not allowed"):
        AlertRule(when="score ** 99 > 1")
