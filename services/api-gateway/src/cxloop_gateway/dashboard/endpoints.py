"""Routes of the dashboard: the page at `/` and its static assets. No data, so no auth.

The page holds no data: the user types a read key into its form, the browser keeps it in
localStorage and sends it as a Bearer to the public API, like any other integration.
"""

from __future__ import annotations

from typing import Annotated

from cxloop_shared.errors import NotFound
from fastapi import APIRouter, Header
from fastapi.responses import Response

from cxloop_gateway.dashboard.assets import Asset, load_bundle

router = APIRouter(tags=["dashboard"], include_in_schema=False)

BUNDLE = load_bundle()
# Only the gateway's own origin, no inline script or style: a comment that slipped
# through as markup could not run, and the key could not be sent anywhere else.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
STALE_ASSET_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

AcceptEncoding = Annotated[str, Header()]
IfNoneMatch = Annotated[str | None, Header()]


def _send(
    asset: Asset, *, headers: dict[str, str], accept_encoding: str, if_none_match: str | None
) -> Response:
    common = {**headers, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if if_none_match is not None and asset.etag in if_none_match:
        return Response(status_code=304, headers=common)
    if asset.gzipped is not None and "gzip" in accept_encoding:
        common["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.content_type, headers=common)
    return Response(asset.body, media_type=asset.content_type, headers=common)


@router.get("/")
async def dashboard_page(
    accept_encoding: AcceptEncoding = "", if_none_match: IfNoneMatch = None
) -> Response:
    """The dashboard page; its script and style URLs carry the assets' version."""
    return _send(
        BUNDLE.page,
        headers=PAGE_HEADERS,
        accept_encoding=accept_encoding,
        if_none_match=if_none_match,
    )


@router.get("/dashboard/assets/{version}/{name}")
async def dashboard_asset(
    version: str, name: str, accept_encoding: AcceptEncoding = "", if_none_match: IfNoneMatch = None
) -> Response:
    """A static file of the dashboard, cacheable for a year: its URL changes with its content."""
    asset = BUNDLE.assets.get(name)
    if asset is None:
        raise NotFound(f"no dashboard asset {name!r}")
    # During a rolling update a page from a newer replica may ask an older one (or the
    # reverse): answer with what this replica has, but let nobody keep it.
    current = version == BUNDLE.version
    return _send(
        asset,
        headers=ASSET_HEADERS if current else STALE_ASSET_HEADERS,
        accept_encoding=accept_encoding,
        if_none_match=if_none_match,
    )
