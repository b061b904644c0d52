"""The HTTP API's app and its command.

    returns-api                    # serves on API_HOST:API_PORT (default 127.0.0.1:8000)
    returns-api --print-openapi    # the OpenAPI document, committed as docs/openapi.json
    returns-api --new-key operator kim                    # a key for kim, and its API_KEYS entry
    returns-api --new-key warehouse wms-1 --system        # a system's key (may send X-Actor)
    returns-api --new-key storefront acme-web --system --shop acme

Secrets never reach a log line: keys are kept only hashed and only compared, and request lines
are logged without their query string (Shippo's webhook token can travel there).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.auth import ACTOR_HEADER, API_KEY_HEADER, KeyRing, Role, new_key_entry
from api.codec import codec
from api.errors import install_error_handlers
from api.health import health
from api.middleware import BodySizeLimit, RequestLog
from api.routes import router
from api.subscriptions import router as subscriptions
from api.webhooks import webhooks
from console import install_console
from integrations import telemetry
from integrations.log_config import configure_logging
from integrations.settings import Settings, VendorModeError, get_settings, require_vendor_mode
from integrations.temporal_client import connect
from portal.pages import install_portal, photo_form_body_limits
from starter.client import ReturnsClient
from starter.policy import load_return_policy

KEEP_ALIVE_SECONDS = 75


def create_app(settings: Settings | None = None, returns: ReturnsClient | None = None) -> FastAPI:
    """The API app; connects its own ReturnsClient at startup unless one is given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Connected at the first request: the API starts, and answers /v1/readyz with 503, while Temporal is down.
        app.state.returns = returns or ReturnsClient(await connect(settings, lazy=True), settings)
        yield
        if returns is None:
            await app.state.returns.aclose()

    app = FastAPI(
        title="Returns on Temporal",
        version="1",
        summary="Product returns, each one a durable Temporal workflow.",
        description=(
            f"Send your API key in `{API_KEY_HEADER}`; each operation lists the roles it admits (`x-roles`)."
            " A key names its holder, and the timeline records who acted as `<role>:<holder>`; a system's key"
            f" may name whom it acts for (body field or `{ACTOR_HEADER}` header): `<role>:<holder> for <name>`."
            " Errors are `ApiError` bodies."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keys = KeyRing.from_settings(settings)
    app.state.metrics = telemetry.ApiMetrics()
    app.include_router(router)
    app.include_router(subscriptions)
    app.include_router(webhooks)
    app.include_router(health)
    app.include_router(codec)
    install_portal(app, settings)  # the shopper's pages under /portal (not in the OpenAPI document)
    install_console(app, settings)  # the operations console under /console (nor this)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes, larger=photo_form_body_limits(settings))
    app.add_middleware(RequestLog)
    app.add_middleware(telemetry.RequestTelemetry, metrics=app.state.metrics)  # outermost: times it all
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, the same whatever the settings (keys and limits are not in it)."""
    return create_app(Settings()).openapi()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--print-openapi", action="store_true", help="print the OpenAPI document and exit")
    parser.add_argument(
        "--new-key", nargs=2, metavar=("ROLE", "HOLDER"), help="print a new key and its API_KEYS entry, and exit"
    )
    parser.add_argument("--system", action="store_true", help="with --new-key: a system's key (may send X-Actor)")
    parser.add_argument("--shop", help="with --new-key: the key reaches only this shop's returns")
    args = parser.parse_args()
    if args.print_openapi:
        print(json.dumps(openapi_document(), indent=2))
        return
    if args.new_key:
        role, holder = args.new_key
        key, entry = new_key_entry(Role(role), holder, system=args.system, shop=args.shop)
        print(f"key (give it to {holder}, keep it nowhere else): {key}")
        print(f"API_KEYS entry (merge into API_KEYS or API_KEYS_FILE): {entry}")
        return
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        require_vendor_mode(settings, "returns-api")  # its webhooks and eligibility checks reach vendors
    except VendorModeError as error:
        sys.exit(str(error))
    if settings.return_policy_file:  # every return starts with it: a bad file stops the API, not each request
        try:
            load_return_policy(settings.return_policy_file)
        except (OSError, ValueError) as error:
            sys.exit(f"returns-api will not start: RETURN_POLICY_FILE {settings.return_policy_file}: {error}")
    telemetry.start_tracing(settings, "returns-api")
    # No access log: it would print Shippo's `?token=`; RequestLog logs requests without queries.
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        access_log=False,
        log_config=None,
        server_header=False,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: behind a TCP balancer
        # on the same machine, every client could then name its own address.
        proxy_headers=settings.api_forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.api_forwarded_allow_ips or "",
        # Idle connections are kept longer than callers' pools and balancers keep theirs (httpx 5 s,
        # load balancers often 60 s): else the API closes one just as a caller sends on it, and the
        # caller sees a dropped connection (seen under load as `connection_error`).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    telemetry.stop_tracing()


if __name__ == "__main__":
    main()
