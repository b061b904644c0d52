"""Which URLs may receive return events: no private or loopback address unless allowed."""

from __future__ import annotations

import pytest

from integrations.webhook_urls import RefusedUrl, checked_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",  # resolved: loopback
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://172.16.5.4/hooks",
        "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "http://[::1]/hooks",
        "http://[fd00::1]/hooks",
        "http://0.0.0.0/hooks",
    ],
)
async def test_private_and_loopback_addresses_are_refused(url: str) -> None:
    with pytest.raises(RefusedUrl, match="private or loopback"):
        await checked_url(url, allow_private=False)
    assert await checked_url(url, allow_private=True) == url  # the local stack and the tests allow them


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/x", "https:///nohost", "not a url", "https://user:pw@8.8.8.8/x"])
async def test_only_http_urls_with_a_host_and_no_credentials(url: str) -> None:
    with pytest.raises(RefusedUrl):
        await checked_url(url, allow_private=True)


async def test_a_public_address_is_accepted() -> None:
    assert await checked_url("https://8.8.8.8/hooks", allow_private=False) == "https://8.8.8.8/hooks"
