"""Twilio's request signature, shared by every service that receives Twilio's callbacks.

Ingest verifies SMS replies and Flex TaskRouter events with it; dispatch verifies SMS
delivery reports (`StatusCallback`). `X-Twilio-Signature` is base64(HMAC-SHA1(auth
token, URL + every POST form parameter's name and value, sorted by name)). For a JSON
body Twilio adds `bodySHA256=<hex sha256 of the body>` to the query string and signs the
URL alone. Twilio's own validators try the URL both with and without the scheme's
default port, because Twilio is not consistent about it; so does this one. The scheme
signs no timestamp: replays are caught by deduplicating on the message or event `Sid`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

_DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature_valid(
    *,
    url: str,
    params: Mapping[str, str] | Sequence[tuple[str, str]],
    signature: str,
    secrets: Sequence[str],
    body: bytes | None = None,
) -> bool:
    """Whether some auth token in `secrets` signed this request as Twilio does.

    `url` is the full URL Twilio called, as Twilio saw it (scheme, host, port, query).
    `params` are the decoded POST form parameters (none for a JSON body). When the URL
    carries `bodySHA256`, `body` must be given and must hash to it. Every secret and URL
    variant is compared in constant time, so a rotated token can sit beside the old one.
    """
    pairs = sorted(params.items() if isinstance(params, Mapping) else params)
    signed_params = "".join(name + value for name, value in pairs)
    claimed = _decode_base64(signature)
    if claimed is None:
        return False
    body_hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
    body_ok = True
    if body_hashes:
        computed = hashlib.sha256(body or b"").hexdigest().encode()
        body_ok = body is not None and hmac.compare_digest(computed, body_hashes[0].encode())
    matched = False
    for secret in secrets:
        for variant in _url_variants(url):
            message = (variant + signed_params).encode()
            expected = hmac.new(secret.encode(), message, hashlib.sha1).digest()
            matched |= hmac.compare_digest(expected, claimed)
    return matched and body_ok


def _decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):
        return None


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    without = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    variants = [url, without]
    port = _DEFAULT_PORTS.get(parts.scheme)
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}")))
    return list(dict.fromkeys(variants))
