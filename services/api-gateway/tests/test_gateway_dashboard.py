"""The dashboard page and its assets as the gateway serves them: no auth, a strict CSP, no
inline script or style, versioned assets cached for a year. (The page in a real browser
against the running services is tests/e2e/test_dashboard_browser.py.)"""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser

import httpx
import pytest
from cxloop_gateway.dashboard.assets import ASSETS_PATH, build_bundle, load_bundle
from cxloop_gateway.dashboard.endpoints import BUNDLE
from fastapi import FastAPI

EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
MODULE_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""", re.M)


class PageScan(HTMLParser):
    """What the page links to, and whatever inline code or style it would carry."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attribute in ("src", "href"):
            if named.get(attribute):
                self.urls.append(str(named[attribute]))
        self.inline += [
            f"{tag}[{name}]" for name, _ in attrs if name == "style" or name[:2] == "on"
        ]
        if tag == "style":
            self.inline.append("<style>")
        self._in_script = tag == "script"
        if tag == "script" and not named.get("src"):
            self.inline.append("<script> without src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"script body {data.strip()[:40]!r}")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


async def test_the_page_needs_no_key_and_forbids_inline_code_and_other_origins(
    gateway: httpx.AsyncClient,
) -> None:
    page = await gateway.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "connect-src", "img-src"):
        assert policy[directive] == "'self'", directive
    assert policy["frame-ancestors"] == "'none'"
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    scan = PageScan()
    scan.feed(page.text)
    assert scan.inline == [], "the CSP would block these"
    assert all(url.startswith(f"{ASSETS_PATH}/{BUNDLE.version}/") for url in scan.urls), scan.urls
    assert "{{" not in page.text


async def test_every_asset_the_page_or_a_module_names_is_served_versioned_for_a_year(
    gateway: httpx.AsyncClient,
) -> None:
    scan = PageScan()
    scan.feed((await gateway.get("/")).text)
    wanted = {url.rsplit("/", 1)[1] for url in scan.urls}
    for name, asset in BUNDLE.assets.items():
        if name.endswith(".js"):
            wanted |= {
                target.removeprefix("./") for target in MODULE_IMPORT.findall(asset.body.decode())
            }
    assert {"app.js", "style.css", "chart.js", "stream.js"} <= wanted

    for name in sorted(wanted):
        served = await gateway.get(f"{ASSETS_PATH}/{BUNDLE.version}/{name}")
        assert served.status_code == 200, name
        suffix = name[name.rfind(".") :]
        assert served.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), name
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.content == BUNDLE.assets[name].body


async def test_assets_are_gzipped_when_asked_and_revalidate_by_etag(
    gateway: httpx.AsyncClient,
) -> None:
    url = f"{ASSETS_PATH}/{BUNDLE.version}/app.js"
    raw = await gateway.get(url, headers={"Accept-Encoding": "identity"})
    zipped = await gateway.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in raw.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert zipped.content == raw.content, "httpx decoded the gzip body to the same bytes"
    assert int(zipped.headers["content-length"]) < len(raw.content)

    again = await gateway.get(url, headers={"If-None-Match": raw.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_an_unknown_asset_is_a_problem_and_another_version_is_served_uncached(
    gateway: httpx.AsyncClient,
) -> None:
    missing = await gateway.get(f"{ASSETS_PATH}/{BUNDLE.version}/secrets.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "secrets.js" in missing.json()["detail"]
    for sneaky in ("..%2F..%2Fsettings.py", "..%2Fassets.py", "%2E%2E"):
        escaped = await gateway.get(f"{ASSETS_PATH}/{BUNDLE.version}/{sneaky}")
        assert escaped.status_code == 404, sneaky

    other = await gateway.get(f"{ASSETS_PATH}/0123456789ab/app.js")
    assert other.status_code == 200, "a page of another replica's version still loads"
    assert other.headers["cache-control"] == "no-store"


async def test_the_dashboard_stays_out_of_the_api_document(gateway_app: FastAPI) -> None:
    paths = gateway_app.openapi()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/dashboard")]


def test_the_version_moves_when_any_file_changes() -> None:
    sources = {"index.html": b"<script src='{{assets}}/app.js'></script>", "app.js": b"1"}
    first = build_bundle(sources)
    changed = build_bundle({**sources, "app.js": b"2"})
    assert first.version != changed.version
    assert build_bundle(dict(sources)).version == first.version
    assert f"{ASSETS_PATH}/{first.version}/app.js".encode() in first.page.body


def test_a_file_of_unknown_type_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match=r"notes\.txt"):
        build_bundle({"index.html": b"", "notes.txt": b""})


def test_the_shipped_files_load_and_compress() -> None:
    bundle = load_bundle()
    assert bundle.version == BUNDLE.version
    assert {"app.js", "style.css", "icon.svg"} <= set(bundle.assets)
    for asset in bundle.assets.values():
        if asset.gzipped is not None:
            assert gzip.decompress(asset.gzipped) == asset.body
