"""The dashboard's static files, loaded once, under one version that changes with their content.

Every asset is served under `/dashboard/assets/<version>/<name>`, where the version is a
digest of all of them: the browser may keep any asset for a year, and a changed file
moves every URL (the page's relative module imports included) to a new version at once.
No build step: the files in `static/` are what the browser runs.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib.resources import files

ASSETS_PATH = "/dashboard/assets"
PAGE = "index.html"
VERSION_PLACEHOLDER = "{{assets}}"
# Below this, gzip's header costs more than it saves.
MIN_COMPRESSED_SIZE = 512
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as it is sent: its bytes, a gzip copy when worth it, and its content type."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Bundle:
    """The page (with versioned asset URLs filled in) and the assets by name."""

    version: str
    page: Asset
    assets: dict[str, Asset]

    @property
    def base(self) -> str:
        """The URL path every asset of this version lives under."""
        return f"{ASSETS_PATH}/{self.version}"


def _asset(name: str, body: bytes) -> Asset:
    suffix = name[name.rfind(".") :]
    # mtime=0: the same file gives the same gzip bytes on every start and replica.
    gzipped = gzip.compress(body, mtime=0) if len(body) >= MIN_COMPRESSED_SIZE else None
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, gzipped, CONTENT_TYPES[suffix], f'"{digest}"')


def build_bundle(sources: dict[str, bytes]) -> Bundle:
    """The bundle of `sources` (file name -> bytes), `index.html` among them."""
    unknown = [n for n in sources if n[n.rfind(".") :] not in CONTENT_TYPES]
    if unknown:
        raise ValueError(f"no content type for dashboard files {unknown}")
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    version = digest.hexdigest()[:12]
    page = sources[PAGE].replace(VERSION_PLACEHOLDER.encode(), f"{ASSETS_PATH}/{version}".encode())
    assets = {name: _asset(name, body) for name, body in sources.items() if name != PAGE}
    return Bundle(version, _asset(PAGE, page), assets)


def load_bundle() -> Bundle:
    """The bundle of the files shipped in this package's `static/` folder."""
    static = files("cxloop_gateway.dashboard") / "static"
    sources = {
        item.name: item.read_bytes()
        for item in static.iterdir()
        if item.is_file() and not item.name.startswith(".")
    }
    return build_bundle(sources)
