"""The console's door, without Temporal: who may sign in, the session's life, CSRF, the role
checks and the headers. (What the pages show and do runs in tests/system/console.)"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth import KeyRing, key_hash
from integrations.settings import ApiKeyGrant, Settings

KIM, DOCK, WMS, SHOP = "kim-s-key-0123456789", "dock-s-key-0123456789", "wms-key-0123456789", "shop-key-0123456789"
ACME_OPERATOR = "acme-operator-key-0123456789"
GRANTS = {
    key_hash(KIM): ApiKeyGrant(role="operator", holder="kim"),
    key_hash(DOCK): ApiKeyGrant(role="warehouse", holder="dock-3"),
    key_hash(WMS): ApiKeyGrant(role="warehouse", holder="wms-1", system=True),
    key_hash(SHOP): ApiKeyGrant(role="storefront", holder="shop-web"),
    key_hash(ACME_OPERATOR): ApiKeyGrant(role="operator", holder="ann", shop="acme"),
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console(**settings: object) -> Iterator[TestClient]:
    app = create_app(Settings(api_keys=GRANTS, console_secret=SecretStr("test-secret"), **settings), returns=object())
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def client() -> Iterator[TestClient]:
    yield from console()


def csrf(client: TestClient, path: str = "/console/sign-in") -> str:
    found = _CSRF.search(client.get(path).text)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient, key: str) -> int:
    answer = client.post("/console/sign-in", data={"csrf_token": csrf(client), "api_key": key}, follow_redirects=False)
    return answer.status_code


def test_only_a_person_s_own_operator_or_warehouse_key_signs_in(client: TestClient) -> None:
    assert [sign_in(client, key) for key in (WMS, SHOP, "made-up")] == [401, 401, 401]
    assert sign_in(client, ACME_OPERATOR) == 403  # one shop's key: the console shows every shop's returns
    assert sign_in(client, DOCK) == 303
    assert "warehouse:dock-3" in client.get("/console/receiving").text


def test_a_form_without_this_session_s_csrf_token_is_refused(client: TestClient) -> None:
    csrf(client)
    refused = client.post("/console/sign-in", data={"csrf_token": "forged", "api_key": KIM})
    assert refused.status_code == 403
    assert client.get("/console/queues", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_signing_in_starts_a_new_session_and_csrf_token(client: TestClient) -> None:
    before = csrf(client)
    sign_in(client, DOCK)
    assert csrf(client, "/console/receiving") != before  # a token seen before signing in is worth nothing after


def test_each_role_is_refused_the_other_s_pages_and_actions(client: TestClient) -> None:
    sign_in(client, DOCK)
    token = csrf(client, "/console/receiving")
    for page in ("/console/queues", "/console/returns", "/console/dashboard", "/console/queues/stuck"):
        assert client.get(page).status_code == 403, page
    for action in ("approve", "reject", "retry", "cancel"):
        answer = client.post(f"/console/returns/R-1/{action}", data={"csrf_token": token, "reason": "x"})
        assert answer.status_code == 403, action
    assert client.post("/console/bulk/retry", data={"csrf_token": token, "return_id": "R-1"}).status_code == 403

    client.post("/console/sign-out", data={"csrf_token": token})
    sign_in(client, KIM)
    assert client.get("/console/receiving").status_code == 403


def test_a_revoked_key_s_session_ends_at_its_next_request(client: TestClient) -> None:
    sign_in(client, KIM)
    client.app.state.keys = KeyRing({key: grant for key, grant in GRANTS.items() if key != key_hash(KIM)})
    assert client.get("/console/queues", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_a_session_expires() -> None:
    for client in console(console_session_minutes=1):
        sign_in(client, DOCK)
        cookie = client.cookies["console_session"]
        state = client.app.state.console
        state.cookie = type(state.cookie)(state.cookie.name, state.cookie.path, state.cookie.secret, 1)
        time.sleep(2.1)
        client.cookies.set("console_session", cookie)
        assert client.get("/console/receiving", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_pages_run_no_script_can_t_be_framed_and_the_cookie_is_http_only(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert (page.headers["x-frame-options"], page.headers["cache-control"]) == ("DENY", "no-store")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
