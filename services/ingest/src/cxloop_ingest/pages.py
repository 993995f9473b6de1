"""The customer-facing survey pages: plain, accessible HTML that works without JavaScript."""

from __future__ import annotations

from pathlib import Path

from cxloop_shared.config import SurveyConfig, WorkspaceConfig, localized
from cxloop_shared.events import CXI_ITEMS, CxiItem, CxiItems
from cxloop_shared.links import AnswerLink
from cxloop_shared.scales import scale
from jinja2 import Environment, FileSystemLoader, select_autoescape

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

# Interface words, by language. Survey questions come from the workspace's configuration.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "submit": "Send my answer",
        "comment": "Anything you would like to add? (optional)",
        "thanks": "Thank you! Your answer was recorded.",
        "revise": "You can change your answer until the survey closes.",
        "low": "Not at all likely",
        "high": "Extremely likely",
        "closed": "This survey has closed. Thank you for your time.",
        "invalid": "This link is not valid.",
        "pick": "Please choose a score.",
        "unsubscribe": "Stop receiving surveys on this channel?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed": "You are unsubscribed. You will get no more surveys on this channel.",
    },
    "de": {
        "submit": "Antwort senden",
        "comment": "Möchten Sie noch etwas ergänzen? (optional)",
        "thanks": "Vielen Dank! Ihre Antwort wurde gespeichert.",
        "revise": "Sie können Ihre Antwort ändern, bis die Umfrage endet.",
        "low": "Überhaupt nicht wahrscheinlich",
        "high": "Äußerst wahrscheinlich",
        "closed": "Diese Umfrage ist beendet. Danke für Ihre Zeit.",
        "invalid": "Dieser Link ist ungültig.",
        "pick": "Bitte wählen Sie einen Wert.",
        "unsubscribe": "Keine Umfragen mehr über diesen Kanal erhalten?",
        "unsubscribe_button": "Abmelden",
        "unsubscribed": "Sie sind abgemeldet. Sie erhalten über diesen Kanal keine Umfragen mehr.",
    },
}
# The CX Index's three questions, where the survey does not word them itself.
CXI_WORDING: dict[str, dict[CxiItem, str]] = {
    "en": {
        "effective": "How well did we meet your needs?",
        "easy": "How easy was it to get what you needed?",
        "enjoyable": "How enjoyable was it?",
    },
    "de": {
        "effective": "Wie gut haben wir Ihre Bedürfnisse erfüllt?",
        "easy": "Wie einfach war es, zu bekommen, was Sie brauchten?",
        "enjoyable": "Wie angenehm war es?",
    },
}
CXI_ENDS = {"en": ("Not at all", "Extremely"), "de": ("Überhaupt nicht", "Äußerst")}
LOW_HIGH = {
    "csat": ("Very dissatisfied", "Very satisfied"),
    "ces": ("Strongly disagree", "Strongly agree"),
    "yes_no": ("No", "Yes"),
}


def language(locale: str | None, fallback: str = "en") -> str:
    """`de-AT` → `de`, when we have words for it; else the fallback."""
    lang = (locale or fallback).split("-")[0].lower()
    return lang if lang in WORDS else "en"


def survey_page(
    *,
    link: AnswerLink,
    token: str,
    config: WorkspaceConfig,
    survey: SurveyConfig,
    selected: int | None,
    comment: str | None = None,
    error: str | None = None,
    selected_items: CxiItems | None = None,
) -> str:
    """The micro-survey with `selected` preselected (from `?s=` or a failed post); a CX
    Index survey shows its three 1-5 items instead of one scale."""
    lang = language(link.locale, config.locale)
    words = WORDS[lang]
    low, high = (words["low"], words["high"])
    if survey.metric in LOW_HIGH and lang == "en":
        low, high = LOW_HIGH[survey.metric]
    scores = list(scale(survey.metric))
    labels = {0: "No", 1: "Yes"} if survey.metric == "yes_no" else {}
    items = []
    if survey.metric == "cxi":
        low, high = CXI_ENDS.get(lang, CXI_ENDS["en"])
        wording = survey.items or {}
        items = [
            {
                "name": item,
                "text": localized(wording.get(item), link.locale, config.locale)
                or CXI_WORDING.get(lang, CXI_WORDING["en"])[item],
                "selected": (selected_items or {}).get(item),
            }
            for item in CXI_ITEMS
        ]
    return _templates.get_template("answer.html").render(
        items=items,
        lang=lang,
        words=words,
        question=localized(survey.question, link.locale, config.locale),
        follow_up=localized(survey.follow_up, link.locale, config.locale) or words["comment"],
        token=token,
        scores=scores,
        labels=labels,
        selected=selected,
        comment=comment or "",
        low=low,
        high=high,
        error=error,
    )


def message_page(*, locale: str | None, key: str, title: str | None = None) -> str:
    """A short page with one message (thanks, closed, invalid link)."""
    lang = language(locale)
    words = WORDS[lang]
    return _templates.get_template("message.html").render(
        lang=lang,
        title=title or words[key],
        message=words[key],
        extra=words["revise"] if key == "thanks" else None,
    )


def unsubscribe_page(*, locale: str | None, token: str) -> str:
    """The confirmation a customer sees before unsubscribing; following the link alone
    changes nothing, because mail scanners follow links too."""
    lang = language(locale)
    return _templates.get_template("unsubscribe.html").render(
        lang=lang, words=WORDS[lang], token=token
    )
