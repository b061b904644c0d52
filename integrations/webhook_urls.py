"""Where return events may be posted: http(s) URLs on the public internet only (unless a setting allows
private addresses, as the local stack does), checked when a subscription is made and again before every
delivery attempt, since a name may resolve elsewhere later (DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class RefusedUrl(ValueError):
    """The URL may not receive events; `message` says why, for the operator."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


async def checked_url(url: str, *, allow_private: bool) -> str:
    """The URL, if events may go there: http(s), a host, no credentials, and (unless allowed) no
    address that is private, loopback, link-local or otherwise not on the public internet."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedUrl("an http(s) URL with a host is required")
    if parts.username or parts.password:
        raise RefusedUrl("credentials in the URL are not allowed: sign-ins go in the receiver")
    if allow_private:
        return url
    try:
        addresses = {ipaddress.ip_address(parts.hostname)}
    except ValueError:  # a name: every address it resolves to must be public
        try:
            found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443)
        except socket.gaierror as error:
            raise RefusedUrl(f"the host {parts.hostname} can't be resolved") from error
        addresses = {ipaddress.ip_address(info[4][0]) for info in found}
    private = sorted(str(address) for address in addresses if not address.is_global)
    if private:
        raise RefusedUrl(f"the URL reaches a private or loopback address ({', '.join(private)})")
    return url
