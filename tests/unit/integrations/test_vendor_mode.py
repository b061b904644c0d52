"""VENDOR_MODE says which vendors a process talks to; settings that contradict it stop the process before
it connects anywhere, and nothing is guessed from which keys happen to be set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from integrations.settings import Settings, VendorModeError, require_vendor_mode, sandbox_url

ROOT = Path(__file__).resolve().parents[3]
LIVE_READY = {
    "stripe_api_key": SecretStr("sk_test_real_account"),
    "shippo_api_token": SecretStr("shippo_test_real_account"),
    "shop_api_base": "https://shop.internal.example",
    "payload_keys": SecretStr("k1:" + "A" * 43 + "="),
}


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_unset_mode_refuses_to_say_where_vendors_are() -> None:
    settings = _settings()
    with pytest.raises(VendorModeError, match="VENDOR_MODE is not set"):
        _ = settings.stripe_base
    with pytest.raises(VendorModeError, match="VENDOR_MODE is not set"):
        require_vendor_mode(settings, "returns-worker")


def test_sandbox_mode_talks_to_the_local_sandboxes_with_their_keys() -> None:
    settings = _settings(vendor_mode="sandbox")
    require_vendor_mode(settings, "returns-worker")
    assert (settings.stripe_base, settings.stripe_key) == (sandbox_url("stripe"), "sk_test_sandbox")
    assert (settings.shippo_base, settings.shippo_token) == (sandbox_url("shippo"), "shippo_test_sandbox")


def test_sandbox_mode_with_a_test_key_still_talks_to_the_sandbox_never_to_the_vendor() -> None:
    """Formerly a set key with no base URL meant Stripe itself: the mode decides, not the key."""
    settings = _settings(vendor_mode="sandbox", stripe_api_key=SecretStr("sk_test_mock"))
    require_vendor_mode(settings, "returns-worker")
    assert settings.stripe_base == sandbox_url("stripe")


@pytest.mark.parametrize(
    ("name", "key"),
    [("stripe_api_key", "sk_live_abc"), ("stripe_api_key", "rk_live_abc"), ("shippo_api_token", "shippo_live_abc")],
)
def test_sandbox_mode_refuses_live_looking_keys(name: str, key: str) -> None:
    with pytest.raises(VendorModeError, match="looks like a live key") as refused:
        require_vendor_mode(_settings(vendor_mode="sandbox", **{name: SecretStr(key)}), "returns-worker")
    assert key not in str(refused.value)  # the message names the variable, never the key


def test_sandbox_mode_refuses_the_vendor_s_own_address() -> None:
    settings = _settings(vendor_mode="sandbox", stripe_api_base="https://api.stripe.com")
    with pytest.raises(VendorModeError, match="STRIPE_API_BASE is stripe's own API"):
        require_vendor_mode(settings, "returns-api")


def test_live_mode_needs_every_key_and_names_each_missing_one() -> None:
    with pytest.raises(VendorModeError) as refused:
        require_vendor_mode(_settings(vendor_mode="live"), "returns-worker")
    message = str(refused.value)
    for variable in ("STRIPE_API_KEY", "SHIPPO_API_TOKEN", "PAYLOAD_KEYS", "SHOP_API_BASE"):
        assert variable in message
    with pytest.raises(VendorModeError, match="no key for stripe"):
        _ = _settings(vendor_mode="live").stripe_key


def test_live_mode_talks_to_the_vendors_themselves() -> None:
    settings = _settings(vendor_mode="live", **LIVE_READY)
    require_vendor_mode(settings, "returns-worker")
    assert settings.stripe_base is None and settings.shippo_base is None  # the SDKs' own addresses
    assert settings.stripe_key == "sk_test_real_account"


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:12111", "http://api.stripe.com", "https://stripe.com.evil.example", "https://sandbox.local"],
)
def test_live_mode_refuses_a_base_url_that_is_not_the_vendor_s_over_https(base: str) -> None:
    with pytest.raises(VendorModeError, match="STRIPE_API_BASE must be https://"):
        require_vendor_mode(_settings(vendor_mode="live", stripe_api_base=base, **LIVE_READY), "returns-worker")


def test_live_mode_accepts_the_vendor_s_own_address() -> None:
    settings = _settings(vendor_mode="live", stripe_api_base="https://api.stripe.com", **LIVE_READY)
    require_vendor_mode(settings, "returns-worker")
    assert settings.stripe_base == "https://api.stripe.com"


def test_live_mode_refuses_the_sandboxes_keys() -> None:
    values = {**LIVE_READY, "stripe_api_key": SecretStr("sk_test_sandbox")}
    with pytest.raises(VendorModeError, match="STRIPE_API_KEY is the sandboxes' key"):
        require_vendor_mode(_settings(vendor_mode="live", **values), "returns-worker")


@pytest.mark.parametrize("command", [["-m", "workers.main"], ["-m", "api.app"]])
def test_the_worker_and_the_api_refuse_to_start_with_a_clear_message(command: list[str], tmp_path: Path) -> None:
    """As processes: they exit before connecting to anything (no Temporal runs at this address)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VENDOR_", "STRIPE_", "SHIPPO_"))},
        "VENDOR_MODE": "sandbox",
        "STRIPE_API_KEY": "sk_live_do_not_send",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "will not start: STRIPE_API_KEY looks like a live key and VENDOR_MODE=sandbox" in result.stderr
    assert "sk_live_do_not_send" not in result.stderr + result.stdout


def test_sandbox_host_moves_every_sandbox_and_live_mode_never_reads_it() -> None:
    sandbox = _settings(vendor_mode="sandbox", sandbox_host="sandboxes")
    assert (sandbox.stripe_base, sandbox.shippo_base, sandbox.shop_base) == (
        "http://sandboxes:12111",
        "http://sandboxes:12112",
        "http://sandboxes:12113",
    )
    live = _settings(vendor_mode="live", sandbox_host="sandboxes", **LIVE_READY)
    assert (live.stripe_base, live.shop_base) == (None, "https://shop.internal.example")


def test_empty_variables_count_as_unset() -> None:
    """Compose passes `${STRIPE_API_KEY:-}`: an empty key is no key, in either mode."""
    empty = {"stripe_api_key": SecretStr(""), "stripe_api_base": "", "shop_api_base": "", "payload_keys": SecretStr("")}
    assert _settings(vendor_mode="sandbox", **empty).stripe_key == "sk_test_sandbox"
    with pytest.raises(VendorModeError) as refused:
        require_vendor_mode(_settings(vendor_mode="live", **empty), "returns-worker")
    for variable in ("needs STRIPE_API_KEY", "needs SHOP_API_BASE", "needs PAYLOAD_KEYS"):
        assert variable in str(refused.value)


def test_the_api_refuses_to_start_with_a_policy_file_it_can_t_use(tmp_path: Path) -> None:
    """Else every page and request needing the policy would fail one by one, as if Temporal were down."""
    policy = tmp_path / "policy.json"
    policy.write_text('{"version": 1, "instant_refund": {"enabled": false, "max_amount": 5000}}')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VENDOR_", "STRIPE_", "SHIPPO_"))},
        "VENDOR_MODE": "sandbox",
        "RETURN_POLICY_FILE": str(policy),
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "api.app"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert f"returns-api will not start: RETURN_POLICY_FILE {policy}: " in result.stderr
