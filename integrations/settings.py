"""Settings from the environment (and an optional `.env`), read once per process.

Without `STRIPE_API_KEY` / `SHIPPO_API_TOKEN` the system talks to the local sandboxes
(`returns-sandboxes`); with real test keys the same code talks to Stripe and Shippo.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_STRIPE_KEY = "sk_test_sandbox"
SANDBOX_SHIPPO_TOKEN = "shippo_test_sandbox"
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORTS = {"stripe": 12111, "shippo": 12112, "shop": 12113}


def sandbox_url(name: str) -> str:
    return f"http://{SANDBOX_HOST}:{SANDBOX_PORTS[name]}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "returns"
    # How long a door (ReturnsClient, the HTTP API) waits on Temporal, including for a worker to
    # answer a query or run an update, before it gives up with "try again" (HTTP 503).
    temporal_rpc_timeout_seconds: float = Field(default=10.0, gt=0)
    # Connection security (integrations/temporal_client.py). Any of these turns TLS on. Paths to PEM
    # files: a client certificate and its key for mTLS, the CA that signed the server's certificate
    # (none: the system's roots), the name that certificate is for when it isn't the address's host.
    # TEMPORAL_API_KEY is Temporal Cloud's alternative to a client certificate.
    temporal_tls_cert: str | None = None
    temporal_tls_key: str | None = None
    temporal_tls_ca: str | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    # Returns a worker keeps in memory between events (temporalio's sticky cache). Beyond it a
    # return is replayed from its history on its next event: memory stays flat, that event
    # costs more. Measured in docs/benchmarks.md: ~300 KiB per cached return (~150 unsandboxed).
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # The workflow sandbox re-imports the workflow module per run and proxies restricted calls;
    # CI runs every test with it, so it can be turned off for the measured memory and CPU.
    workflow_sandbox: bool = True

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None  # None: Stripe itself with a key, the sandbox without
    stripe_api_version: str | None = None  # None: the version the SDK was built for
    stripe_max_network_retries: int = 2
    stripe_timeout_seconds: float = 20.0
    stripe_webhook_secret: SecretStr | None = None  # `whsec_...`: verifies the Stripe-Signature header

    shippo_api_token: SecretStr | None = None
    shippo_api_base: str | None = None
    shippo_connect_timeout_seconds: float = 5.0
    shippo_read_timeout_seconds: float = 30.0
    shippo_label_file_type: str = "PDF_4x6"
    shippo_webhook_token: SecretStr | None = None  # the secret `?token=` in the webhook URL given to Shippo
    shippo_webhook_hmac_secret: SecretStr | None = None  # verifies `Shippo-Auth-Signature` when set

    return_policy_file: str | None = None  # None: the policy shipped with the package (starter/return_policy.json)

    shop_api_base: str = sandbox_url("shop")
    shop_timeout_seconds: float = 10.0

    # The HTTP API (`returns-api`): one key per role, compared in constant time; an unset key
    # admits nobody in that role.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_key_storefront: SecretStr | None = None
    api_key_warehouse: SecretStr | None = None
    api_key_operator: SecretStr | None = None
    api_max_body_bytes: int = 256 * 1024  # a 100-line inspection with photo URLs fits with room to spare

    log_format: str = "console"  # or "json"
    log_level: str = "INFO"

    @property
    def stripe_key(self) -> str:
        return self.stripe_api_key.get_secret_value() if self.stripe_api_key else SANDBOX_STRIPE_KEY

    @property
    def stripe_base(self) -> str | None:
        if self.stripe_api_base:
            return self.stripe_api_base
        return None if self.stripe_api_key else sandbox_url("stripe")

    @property
    def shippo_token(self) -> str:
        return self.shippo_api_token.get_secret_value() if self.shippo_api_token else SANDBOX_SHIPPO_TOKEN

    @property
    def shippo_base(self) -> str | None:
        if self.shippo_api_base:
            return self.shippo_api_base
        return None if self.shippo_api_token else sandbox_url("shippo")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
