"""TLS, mTLS and API-key settings of the one place that connects to Temporal (integrations/temporal_client.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.service import TLSConfig

from integrations.settings import Settings
from integrations.temporal_client import tls_config


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_plain_tcp_without_any_security_setting() -> None:
    assert tls_config(_settings()) is False


def test_an_api_key_alone_connects_over_tls_with_the_system_s_roots() -> None:
    tls = tls_config(_settings(temporal_api_key=SecretStr("key")))
    assert isinstance(tls, TLSConfig)
    assert tls.server_root_ca_cert is None and tls.client_cert is None


def test_mtls_reads_the_certificate_files(tmp_path: Path) -> None:
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_bytes(f"{name} pem".encode())
    tls = tls_config(
        _settings(
            temporal_tls_cert=str(tmp_path / "cert.pem"),
            temporal_tls_key=str(tmp_path / "key.pem"),
            temporal_tls_ca=str(tmp_path / "ca.pem"),
            temporal_tls_server_name="temporal-frontend",
        )
    )
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (b"cert pem", b"key pem", b"ca pem")
    assert tls.domain == "temporal-frontend"


def test_a_server_name_alone_turns_tls_on() -> None:
    tls = tls_config(_settings(temporal_tls_server_name="temporal.example"))
    assert isinstance(tls, TLSConfig) and tls.domain == "temporal.example"


def test_half_a_client_identity_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("cert")
    with pytest.raises(ValueError, match="TEMPORAL_TLS_KEY"):
        tls_config(_settings(temporal_tls_cert=str(tmp_path / "cert.pem")))


def test_settings_read_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "frontend.internal")
    monkeypatch.setenv("TEMPORAL_API_KEY", "cloud-key")
    settings = _settings()
    assert settings.temporal_tls_server_name == "frontend.internal"
    assert settings.temporal_api_key is not None and settings.temporal_api_key.get_secret_value() == "cloud-key"
    assert "cloud-key" not in repr(settings)
