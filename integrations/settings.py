"""Settings from the environment (and an optional `.env`), read once per process.

Which vendors the processes talk to is said once, explicitly, by `VENDOR_MODE`:

- `sandbox`: the local stand-ins (`python -m sandboxes`), at their default addresses unless
  `STRIPE_API_BASE` / `SHIPPO_API_BASE` name others; a key that looks like a live one is refused.
- `live`: Stripe and Shippo themselves; their keys are required and a base URL, if set, must be
  the vendor's own over HTTPS.

Unset, nothing that talks to a vendor starts (`require_vendor_mode`): no default is guessed.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_STRIPE_KEY = "sk_test_sandbox"
SANDBOX_SHIPPO_TOKEN = "shippo_test_sandbox"
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORTS = {"stripe": 12111, "shippo": 12112, "shop": 12113}
# Keys that move real money or buy real labels: never sent to a sandbox.
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_", "shippo_live_")
# The vendors' own API hosts (a base URL in live mode must be one of them, or under them).
VENDOR_HOSTS = {"stripe": "stripe.com", "shippo": "goshippo.com"}


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


class VendorMode(StrEnum):
    live = "live"
    sandbox = "sandbox"


class VendorModeError(RuntimeError):
    """The vendor settings contradict VENDOR_MODE (or it is unset): the process must not start."""


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin)") from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


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
    # Workflow payloads (inputs, results, signals, queries, failures' messages) are encrypted with these
    # keys before they reach Temporal: `<key id>:<base64 32 bytes>,...`, the first encrypts, all decrypt
    # (integrations/payload_codec.py). Unset: plaintext (refused with VENDOR_MODE=live).
    payload_keys: SecretStr | None = None
    # The codec endpoint on the API (POST /codec/decode, /codec/encode) lets the Web UI and
    # `temporal --codec-endpoint` show decrypted payloads to whoever sends this token
    # (`Authorization: Bearer <token>`); unset, it refuses everyone. CODEC_CORS_ORIGINS: the Web UI's
    # origins, comma-separated, that a browser may call it from.
    codec_auth_token: SecretStr | None = None
    codec_cors_origins: str = ""
    # Readiness (API /v1/readyz, the worker's /readyz) waits at most this long on Temporal.
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    # The worker's own small HTTP server (/livez, /readyz, /metrics); unset: none (the dev stack).
    worker_health_port: int | None = None
    health_host: str = "127.0.0.1"
    # On SIGTERM a worker stops taking work and gives running activities this long to finish; then
    # they are cancelled and handed back (another worker retries them, idempotently).
    worker_graceful_shutdown_seconds: float = Field(default=30.0, ge=0)
    # The Temporal SDK's own Prometheus metrics (workflow and activity task latencies, polls, slots) on
    # this port of each process; unset: not exported.
    sdk_metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # When set, the API's /metrics answers only `Authorization: Bearer <token>` (Prometheus' bearer_token).
    metrics_auth_token: SecretStr | None = None
    # Traces (the door, the workflow, each activity) go over OTLP/HTTP here when set, e.g.
    # http://collector:4318; the OpenTelemetry SDK reads its other OTEL_* variables itself.
    otel_exporter_otlp_endpoint: str | None = None

    # Returns a worker keeps in memory between events (temporalio's sticky cache). Beyond it a
    # return is replayed from its history on its next event: memory stays flat, that event
    # costs more. Measured in docs/benchmarks.md: ~149 KiB per cached return (shared sandbox).
    worker_max_cached_workflows: int = Field(default=1000, ge=0)
    # The workflow sandbox isolates each return's globals and refuses nondeterministic calls (the
    # clock, randomness, I/O) made from modules imported inside it. Strict, our own workflow modules
    # (workflows/) are imported again inside it for every return: its checks cover our code, at about
    # 110 KiB more per cached return (257 against 149). Not strict, they are imported once per worker and passed
    # through. The dev stack and every test run strict, so a nondeterministic call in workflows/
    # fails the suite; production runs shared. Off (no sandbox): the benchmark's experiment.
    workflow_sandbox: bool = True
    workflow_sandbox_strict: bool = False

    # The event store (store/): every change of a return, appended by the workers, read by the API
    # once Temporal has deleted a closed run, and the source of the reports. A SQLite file by default
    # (relative to the working directory); PostgreSQL in production, a database of its own.
    # A secret: in production the URL holds the database password.
    event_store_url: SecretStr = SecretStr("sqlite:///.run/returns.db")
    # Outbound webhooks (README: "Events"). A failing delivery is retried with exponential backoff
    # (jittered) from the first wait to the longest, for at most this long, then its subscription
    # is disabled. Subscriptions to private or loopback addresses are refused unless allowed (the
    # local stack and the tests allow them: their receiver runs on 127.0.0.1).
    webhook_retry_initial_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_give_up_after_hours: float = Field(default=72.0, gt=0)
    webhook_allow_private_urls: bool = False

    # live | sandbox (module docstring). Unset: processes that talk to vendors refuse to start.
    vendor_mode: VendorMode | None = None

    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = None  # None: Stripe itself (live), the local sandbox (sandbox)
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

    shop_api_base: str | None = None  # None: the shop platform's sandbox (sandbox mode); required live
    sandbox_host: str = SANDBOX_HOST  # where the sandboxes listen in sandbox mode (compose: `sandboxes`)
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
    # Proxies in front of the API whose X-Forwarded-For names the client (uvicorn's
    # forwarded_allow_ips: addresses or networks, comma-separated, or "*"). Unset: none is trusted and
    # the client is the connection's peer, so nobody passes for another address (the portal's lookup
    # limits count per address). Name your HTTP load balancer here.
    api_forwarded_allow_ips: str | None = None
    api_keys: dict[KeyHash, ApiKeyGrant] = {}
    api_keys_file: str | None = None
    # One shared key per role, from before keys had holders: each acts as a system's key whose
    # holder is `shared`, so the timeline shows a name it sends as `<role>:shared for <name>`.
    api_key_storefront: SecretStr | None = None
    api_key_warehouse: SecretStr | None = None
    api_key_operator: SecretStr | None = None
    api_max_body_bytes: int = 256 * 1024  # a 100-line inspection with photo URLs fits with room to spare

    # The shopper's portal (portal/, under /portal of the API). The secret signs its session cookies
    # and status links: give every API process the same one. Unset: a random one per process, so
    # sessions and links last as long as the process (fine on one machine, not behind a balancer).
    portal_secret: SecretStr | None = None
    portal_status_link_days: int = Field(default=180, ge=1)  # how long an email's status link works
    portal_session_minutes: int = Field(default=60, ge=1)
    # Where shoppers' photos are kept (portal/photos.py: a local directory, served under
    # /portal/photos/); unset: the portal asks for none.
    portal_photo_dir: str | None = None
    portal_photo_max_bytes: int = Field(default=2_000_000, ge=1)
    # Order lookups allowed (the `limits` library's notation), per shopper address and per order.
    portal_lookups_per_address: str = "20/10 minutes"
    portal_lookups_per_order: str = "10/10 minutes"
    # Where the lookups are counted (a `limits` storage URI; secret: it may hold a password). `memory://`
    # counts per API process: with several behind a balancer, each allows the full number; point them
    # all at one shared counter, e.g. `redis://:<password>@redis:6379/0` (the production topology's).
    # While that store is unreachable each process counts on its own (and logs it) rather than refuse.
    portal_rate_limit_storage: SecretStr = SecretStr("memory://")

    # The operations console (console/, under /console of the API): people sign in with their own
    # API key (operator or warehouse). The secret signs its session cookies: give every API
    # process the same one; unset, a random one per process. A session lasts this long.
    console_secret: SecretStr | None = None
    console_session_minutes: int = Field(default=30, ge=1)

    # Where the portal's status links point in emails (the API's public address), e.g.
    # https://returns.example.com; unset: the address the shopper's browser used.
    portal_base_url: str | None = None
    # The time zone of the carrier's pickup rounds the portal offers, and of the pickup times it and
    # the emails show (an IANA name, e.g. Europe/Berlin).
    pickup_time_zone: TimeZoneName = "UTC"
    # The shopper's email (portal/mail.py), over SMTP; unset SMTP_HOST: none is sent.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "Returns <returns@localhost>"
    smtp_timeout_seconds: float = 10.0

    log_format: str = "console"  # or "json"
    log_level: str = "INFO"

    @property
    def stripe_key(self) -> str:
        return self._vendor_key("stripe", self.stripe_api_key, SANDBOX_STRIPE_KEY)

    @property
    def stripe_base(self) -> str | None:
        """None: the SDK's own address of Stripe (live mode only)."""
        return self._vendor_base("stripe", self.stripe_api_base)

    @property
    def live(self) -> bool:
        if self.live_mode is not None:
            return self.live_mode
        keys = (self.stripe_api_key, self.shippo_api_token)
        return any(key is not None and key.get_secret_value().startswith(LIVE_KEY_PREFIXES) for key in keys)

    @property
    def shippo_token(self) -> str:
        return self._vendor_key("shippo", self.shippo_api_token, SANDBOX_SHIPPO_TOKEN)

    @property
    def shippo_base(self) -> str | None:
        return self._vendor_base("shippo", self.shippo_api_base)

    def vendor_problems(self) -> list[str]:
        """What contradicts VENDOR_MODE, one sentence each; empty when the settings are consistent."""
        if self.vendor_mode is None:
            return ["VENDOR_MODE is not set: set VENDOR_MODE=sandbox (the local stand-ins) or live (Stripe, Shippo)"]
        keys = {"STRIPE_API_KEY": self.stripe_api_key, "SHIPPO_API_TOKEN": self.shippo_api_token}
        bases = {"stripe": self.stripe_api_base, "shippo": self.shippo_api_base}
        problems = []
        if self.vendor_mode is VendorMode.sandbox:
            for name, key in keys.items():
                if key is not None and key.get_secret_value().startswith(LIVE_KEY_PREFIXES):
                    problems.append(f"{name} looks like a live key and VENDOR_MODE=sandbox: never sent to a sandbox")
            for vendor, base in bases.items():
                if base and _is_vendor_url(vendor, base):
                    problems.append(f"{vendor.upper()}_API_BASE is {vendor}'s own API and VENDOR_MODE=sandbox")
            return problems
        for name, key in keys.items():
            if key is None or not key.get_secret_value():
                problems.append(f"VENDOR_MODE=live needs {name}")
            elif key.get_secret_value() in (SANDBOX_STRIPE_KEY, SANDBOX_SHIPPO_TOKEN):
                problems.append(f"{name} is the sandboxes' key and VENDOR_MODE=live")
        for vendor, base in bases.items():
            if base and not _is_vendor_url(vendor, base):
                problems.append(
                    f"VENDOR_MODE=live talks to {vendor} itself: {vendor.upper()}_API_BASE must be https://"
                    f"...{VENDOR_HOSTS[vendor]} or unset"
                )
        if self.payload_keys is None or not self.payload_keys.get_secret_value():
            problems.append("VENDOR_MODE=live needs PAYLOAD_KEYS: customers' addresses would sit in histories in clear")
        if not self.shop_api_base:
            problems.append("VENDOR_MODE=live needs SHOP_API_BASE (the shop platform's API)")
        return problems

    def _vendor_key(self, vendor: str, key: SecretStr | None, sandbox_key: str) -> str:
        self._require_vendor_mode()
        if key is not None and key.get_secret_value():
            return key.get_secret_value()
        if self.vendor_mode is VendorMode.live:
            raise VendorModeError(f"VENDOR_MODE=live and no key for {vendor}")
        return sandbox_key

    def _vendor_base(self, vendor: str, base: str | None) -> str | None:
        self._require_vendor_mode()
        if base:
            return base
        return None if self.vendor_mode is VendorMode.live else self._sandbox(vendor)

    @property
    def shop_base(self) -> str:
        """The shop platform: SHOP_API_BASE, else (sandbox mode only) its sandbox."""
        if self.shop_api_base:
            return self.shop_api_base
        self._require_vendor_mode()
        if self.vendor_mode is VendorMode.live:
            raise VendorModeError("VENDOR_MODE=live needs SHOP_API_BASE")
        return self._sandbox("shop")

    def _sandbox(self, name: str) -> str:
        return f"http://{self.sandbox_host}:{SANDBOX_PORTS[name]}"

    def _require_vendor_mode(self) -> None:
        if self.vendor_mode is None:
            raise VendorModeError(self.vendor_problems()[0])


def require_vendor_mode(settings: Settings, process: str) -> None:
    """Refuses to start `process` (the worker, the API) on vendor settings that contradict VENDOR_MODE,
    naming every problem at once; nothing is ever guessed from which keys happen to be set."""
    if problems := settings.vendor_problems():
        raise VendorModeError(f"{process} will not start: " + "; ".join(problems))


def _is_vendor_url(vendor: str, url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    domain = VENDOR_HOSTS[vendor]
    return parts.scheme == "https" and (host == domain or host.endswith("." + domain))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
