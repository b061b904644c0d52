"""The shopper's photos of an item: checked by their content (JPEG or PNG, within a size), kept by
a small storage interface, and named in the return by URL (never the images themselves)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any, Protocol

from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile  # what request.form() holds (FastAPI's is a subclass)
from starlette.responses import Response

from integrations.settings import Settings
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


async def checked_photos(uploads: list[Any], *, max_bytes: int, taken: bool) -> list[tuple[bytes, str]]:
    """A line's uploaded photos (a form's file fields), each checked by its content and size; nothing
    is kept until every one passes. `taken`: whether this shop keeps photos at all."""
    files = [upload for upload in uploads if isinstance(upload, UploadFile) and upload.filename]
    if files and not taken:
        raise PhotoRefused(_("This shop takes no photos."))
    if len(files) > MOST_PER_LINE:
        raise PhotoRefused(_("Up to 3 photos per item, please."))
    checked = []
    for upload in files:
        content = await upload.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise PhotoRefused(_("A photo is too large: each may be up to %(mb)s MB."))
        checked.append((content, kind_of(content)))
    return checked


def photo_store(settings: Settings, request_base_url: str) -> PhotoStore | None:
    """Where photos are kept (PORTAL_PHOTO_DIR), linked from PORTAL_BASE_URL or the address asked."""
    if not settings.portal_photo_dir:
        return None
    return LocalPhotoStore(Path(settings.portal_photo_dir), settings.portal_base_url or request_base_url)


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
