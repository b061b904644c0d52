"""Settings from the environment (and an optional `.env`), read once per process.

Without `STRIPE_API_KEY` / `SHIPPO_API_TOKEN` the system talks to the local sandboxes
(`returns-sandboxes`); with real test keys the same code talks to Stripe and Shippo.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_STRIPE_KEY = "sk_test_sandbox"
SANDBOX_SHIPPO_TOKEN = "shippo_test_sandbox"
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORTS = {"stripe": 12111, "shippo": 12112, "shop": 12113}


def sandbox_url(name: str) -> str:
    return f"http://{SANDBOX_HOST}:{SANDBOX_PORTS[name]}"


# The hex SHA-256 of an API key: what the settings hold, never the key itself.
KeyHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ApiKeyGrant(BaseModel):
    """Who holds one API key of the HTTP API, and what it may do (api/auth.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["storefront", "warehouse", "operator"]
    holder: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,47}$")] = Field(
        description="whose key: a person (`kim`, `dock-7`) or a system (`shop-web`, `wms-1`); the timeline names them"
    )
    system: bool = Field(
        default=False, description="a system's key, which may name whom it acts for (X-Actor, `... for <name>`)"
    )
    shop: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")] | None = Field(
        default=None, description="only this shop's returns (starter/shops.py); none: every return"
    )


class Settings(BaseSettings):
    # An empty variable is unset: `SECRET=` must never become a secret everyone knows (the empty one).
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

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
    # Shippo's webhooks are verified by the `Shippo-Auth-Signature` header (HMAC-SHA256 over a
    # timestamp and the body). A `?token=` in the URL alone can be replayed from any captured request
    # and forged by whoever saw the URL: it is accepted alone only with the allow setting.
    shippo_webhook_hmac_secret: SecretStr | None = None
    shippo_webhook_token: SecretStr | None = None  # with the HMAC secret, checked as well
    shippo_webhook_allow_token_only: bool = False

    return_policy_file: str | None = None  # None: the policy shipped with the package (starter/return_policy.json)

    shop_api_base: str = sandbox_url("shop")
    shop_timeout_seconds: float = 10.0

    # Whether this deployment moves real money and parcels: then vendors' test events (Shippo's
    # `test`, Stripe's `livemode: false`) never move a return. Unset: live when a live Stripe key
    # or Shippo token is configured.
    live_mode: bool | None = None

    # The HTTP API (`returns-api`). Keys are per holder, stored hashed: API_KEYS is a JSON map of
    # key hash -> grant (ApiKeyGrant), API_KEYS_FILE a file holding another such map
    # (`returns-api --new-key ROLE HOLDER` makes a key and its entry). An unknown key admits nobody.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_keys: dict[KeyHash, ApiKeyGrant] = {}
    api_keys_file: str | None = None
    # One shared key per role, from before keys had holders: each acts as a system's key whose
    # holder is `shared`, so the timeline shows a name it sends as `<role>:shared for <name>`.
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
    def live(self) -> bool:
        if self.live_mode is not None:
            return self.live_mode
        stripe_key = self.stripe_api_key.get_secret_value() if self.stripe_api_key else ""
        return stripe_key.startswith(("sk_live_", "rk_live_")) or self.shippo_token.startswith("shippo_live_")

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
