"""Provider-native webhooks: one adapter per source kind, each pure (no I/O).

`adapter_for(kind)` is what the webhook route calls; see `base` for the contract.
"""

from __future__ import annotations

from cxloop_ingest.providers.base import Adapter
from cxloop_ingest.providers.chatwoot import ChatwootAdapter
from cxloop_ingest.providers.custom import CustomAdapter
from cxloop_ingest.providers.shopify import ShopifyAdapter
from cxloop_ingest.providers.standard import StandardAdapter
from cxloop_ingest.providers.stripe import StripeAdapter
from cxloop_ingest.providers.twilio import TwilioFlexAdapter
from cxloop_ingest.providers.zendesk import ZendeskAdapter

_STANDARD = StandardAdapter()

ADAPTERS: dict[str, Adapter] = {
    "canonical": _STANDARD,
    "standard": _STANDARD,
    "shopify": ShopifyAdapter(),
    "stripe": StripeAdapter(),
    "zendesk": ZendeskAdapter(),
    "twilio_flex": TwilioFlexAdapter(),
    "chatwoot": ChatwootAdapter(),
    "custom": CustomAdapter(),
}


def adapter_for(kind: str, *, mapping: object = None) -> Adapter:
    """The adapter for a source kind.

    A `custom` source declares its signature scheme in its mapping, so verifying one
    needs `mapping=source.mapping` (a dict or a `CustomMapping`); without it the
    custom adapter refuses every signature.
    """
    if kind == "custom" and mapping is not None:
        return CustomAdapter(mapping)
    return ADAPTERS[kind]
