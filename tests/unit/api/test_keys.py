"""API keys name their holder: who acted comes from the key, stored only as its hash."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from api.auth import SHARED_HOLDER, KeyFile, KeyRing, Role, key_hash, new_key_entry, update_id
from integrations.settings import ApiKeyGrant, Settings
from starter.errors import InvalidReturnInput

KIM = "kim-s-key-0123456789"
WMS = "wms-key-0123456789"
ACME = "acme-key-0123456789"
GRANTS = {
    key_hash(KIM): ApiKeyGrant(role="operator", holder="kim"),
    key_hash(WMS): ApiKeyGrant(role="warehouse", holder="wms-1", system=True),
    key_hash(ACME): ApiKeyGrant(role="storefront", holder="acme-web", system=True, shop="acme"),
}


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.from_settings(Settings(api_keys=GRANTS))


def test_a_person_s_key_acts_as_its_holder_only(keys: KeyRing) -> None:
    kim = keys.caller(KIM)
    assert kim is not None and (kim.role, kim.holder, kim.system) == (Role.operator, "kim", False)
    assert kim.actor(None) == kim.actor("kim") == "operator:kim"
    with pytest.raises(InvalidReturnInput) as refused:
        kim.actor("mallory")
    assert refused.value.field == "actor"


def test_a_system_s_key_records_whom_it_acts_for(keys: KeyRing) -> None:
    wms = keys.caller(WMS)
    assert wms is not None
    assert wms.actor("dock-7") == "warehouse:wms-1 for dock-7"
    assert wms.actor(None) == "warehouse:wms-1"
    assert wms.actor("wms-1") == "warehouse:wms-1 for wms-1"  # a name it sends is always marked as its claim


def test_unknown_and_missing_keys_admit_nobody(keys: KeyRing) -> None:
    assert keys.caller(None) is None and keys.caller("") is None
    assert keys.caller(KIM + "x") is None and keys.caller(key_hash(KIM)) is None  # the hash is not a key


def test_the_key_id_is_a_prefix_of_its_hash_never_the_key(keys: KeyRing) -> None:
    kim = keys.caller(KIM)
    assert kim is not None and kim.key_id == key_hash(KIM)[:12] and KIM not in repr(kim)


def test_settings_hold_hashes_only_and_refuse_anything_else() -> None:
    assert KIM not in Settings(api_keys=GRANTS).model_dump_json()
    with pytest.raises(ValidationError):
        Settings(api_keys={KIM: {"role": "operator", "holder": "kim"}})  # a key where its hash belongs
    with pytest.raises(ValidationError):
        ApiKeyGrant(role="operator", holder="kim\noperator:lee")


def test_keys_come_from_the_environment_and_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key, entry = new_key_entry(Role.warehouse, "dock-3")
    other, other_entry = new_key_entry(Role.storefront, "acme-web", system=True, shop="acme")
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(other_entry)
    monkeypatch.setenv("API_KEYS", entry)
    monkeypatch.setenv("API_KEYS_FILE", str(keys_file))

    keys = KeyRing.from_settings(Settings())

    dock, acme = keys.caller(key), keys.caller(other)
    assert dock is not None and dock.actor(None) == "warehouse:dock-3"
    assert acme is not None and (acme.shop, acme.system) == ("acme", True)
    assert key not in entry and json.loads(entry) == {key_hash(key): {"role": "warehouse", "holder": "dock-3"}}


def test_a_key_added_to_the_file_works_and_a_revoked_one_stops_without_a_restart(tmp_path: Path) -> None:
    people = KeyFile(tmp_path / "api_keys.json")
    kim = people.add(Role.operator, "kim")
    keys = KeyRing.from_settings(Settings(api_keys=GRANTS, api_keys_file=str(people.path)))
    signed_in = keys.caller(kim)
    assert signed_in is not None and signed_in.actor(None) == "operator:kim"

    lee = people.add(Role.warehouse, "lee")  # while the ring is in use: read at the next lookup
    kim_again = people.add(Role.operator, "kim")  # a second key of kim's, as in a rotation
    found = keys.caller(lee)
    assert found is not None and found.actor(None) == "warehouse:lee"
    assert people.revoke("kim") == 2 and people.revoke("nobody") == 0

    assert keys.caller(kim) is None and keys.caller(kim_again) is None
    assert not keys.still_admits(signed_in)  # the console's session of that key ends
    assert keys.caller(lee) is not None and keys.caller(WMS) is not None  # the others and the settings' stay
    assert people.path.stat().st_mode & 0o777 == 0o600 and kim not in people.path.read_text()


def test_keys_added_at_the_same_time_are_all_kept(tmp_path: Path) -> None:
    people = KeyFile(tmp_path / "api_keys.json")
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda n: people.add(Role.warehouse, f"dock-{n}"), range(24)))
    ring = KeyRing.from_settings(Settings(api_keys_file=str(people.path)))
    assert len(people.grants()) == 24 and all(ring.caller(key) is not None for key in keys)


def test_a_file_that_goes_bad_keeps_the_keys_last_read(tmp_path: Path) -> None:
    people = KeyFile(tmp_path / "api_keys.json")
    kim = people.add(Role.operator, "kim")
    keys = KeyRing.from_settings(Settings(api_keys_file=str(people.path)))
    people.path.write_text('{"not a hash": ')
    assert keys.caller(kim) is not None  # an editor's half-saved file locks nobody out
    people.path.unlink()
    assert keys.caller(kim) is None  # a removed file: its keys are gone
    with pytest.raises(ValidationError):
        (tmp_path / "bad.json").write_text('{"not a hash": {"role": "operator", "holder": "kim"}}')
        KeyRing.from_settings(Settings(api_keys_file=str(tmp_path / "bad.json")))  # at the start: refused


def test_the_shared_key_of_a_role_is_a_system_s_named_shared() -> None:
    keys = KeyRing.from_settings(Settings(api_key_operator=SecretStr("old-shared-operator-key")))
    shared = keys.caller("old-shared-operator-key")
    assert shared is not None and shared.holder == SHARED_HOLDER
    assert shared.actor("kim") == "operator:shared for kim"  # never plain `operator:kim`


def test_a_shop_s_key_sees_its_own_returns_only(keys: KeyRing) -> None:
    acme, kim = keys.caller(ACME), keys.caller(KIM)
    assert acme is not None and kim is not None
    assert acme.may_see("acme:R-1") and not acme.may_see("acme-eu:R-1") and not acme.may_see("R-1")
    assert kim.may_see("acme:R-1") and kim.may_see("R-1")


def test_idempotency_keys_are_scoped_by_caller_and_action(keys: KeyRing) -> None:
    kim, wms = keys.caller(KIM), keys.caller(WMS)
    assert kim is not None and wms is not None
    assert update_id(kim, "approve", None) is None
    ids = {update_id(kim, "approve", "k1"), update_id(kim, "reject", "k1"), update_id(wms, "approve", "k1")}
    assert len(ids) == 3 and update_id(kim, "approve", "k1") == update_id(kim, "approve", "k1")
