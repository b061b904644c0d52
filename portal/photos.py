"""The shopper's photos of an item: checked by their content (JPEG or PNG, within a size), kept by
a small storage interface, and named in the return by URL (never the images themselves)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any, Protocol

from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from portal.words import _

MOST_PER_LINE = 3
_SIGNATURES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}


class PhotoRefused(ValueError):
    """A file that is not a photo the portal takes; the message says why, in the shopper's words."""


def kind_of(content: bytes) -> str:
    """The photo's type, read from its first bytes (a file's name or declared type prove nothing)."""
    for signature, kind in _SIGNATURES.items():
        if content.startswith(signature):
            return kind
    raise PhotoRefused(_("Photos must be JPEG or PNG images."))


class PhotoStore(Protocol):
    async def keep(self, content: bytes, kind: str) -> str:
        """Keeps the photo; answers the URL it can be seen at."""
        ...


class LocalPhotoStore:
    """Photos in a local directory, served by the portal under /portal/photos/."""

    def __init__(self, directory: Path, base_url: str):
        self.directory = directory
        self._base_url = base_url.rstrip("/")
        directory.mkdir(parents=True, exist_ok=True)

    async def keep(self, content: bytes, kind: str) -> str:
        name = f"{secrets.token_urlsafe(16)}.{kind}"  # unguessable: a photo is seen only by whom it is linked to
        await asyncio.to_thread((self.directory / name).write_bytes, content)
        return f"{self._base_url}/portal/photos/{name}"


# An uploaded photo is the shopper's bytes: served as an image that can run nothing, frame nothing
# and is never read as another type, even if a file slipped past the content check.
PHOTO_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class PhotoFiles(StaticFiles):
    """The photo directory, each file answered with PHOTO_HEADERS."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(PHOTO_HEADERS)
        return response
