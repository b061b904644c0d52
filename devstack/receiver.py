"""A subscriber's endpoint for the local stack: verifies each delivery's signature, records what
arrived, and can fail on purpose (the sandboxes' faults: 500s, delays past the 5 s timeout).

    RECEIVER_SECRET=whsec_... python -m devstack.receiver --port 12114
    POST /events                    a delivery (Returns-Signature verified; 400 when it doesn't verify)
    GET  /_receiver/events          what arrived, in arrival order (`duplicate`: an event id seen before)
    POST /_sandbox/faults {"path": "/events", "status": 500, "times": 3}   fail the next three

`make run` starts it with a subscription to every event type, so the demo's events arrive here.
"""

from __future__ import annotations

import argparse
import os
import threading
from datetime import UTC, datetime

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from integrations.log_config import configure_logging
from integrations.settings import SANDBOX_HOST
from sandboxes.faults import install_faults
from starter.event_signatures import SIGNATURE_HEADER, EventSignatureError, verify_event

log = structlog.get_logger(__name__)
RECEIVER_PORT = 12114


class Received(BaseModel):
    event_id: str
    type: str
    return_id: str
    sequence: int
    received_at: datetime
    duplicate: bool


def create_app(secrets: list[str]) -> FastAPI:
    app = FastAPI(title="Local webhook receiver")
    received: list[Received] = []
    lock = threading.Lock()
    install_faults(app, lambda status: {"error": f"failing on purpose: HTTP {status}"})

    @app.post("/events")
    async def deliver(request: Request) -> JSONResponse:
        body = await request.body()
        header = request.headers.get(SIGNATURE_HEADER, "")
        event, problems = None, []
        for secret in secrets:  # after a rotation the receiver may know both secrets for a while
            try:
                event = verify_event(body, header, secret)
                break
            except EventSignatureError as error:
                problems.append(str(error))
        if event is None:
            log.warning("delivery refused", reason="; ".join(problems) or "no secret configured")
            return JSONResponse({"error": "signature not verified"}, status_code=400)
        with lock:
            duplicate = any(seen.event_id == event.id for seen in received)
            received.append(
                Received(
                    event_id=event.id,
                    type=event.type.value,
                    return_id=event.return_id,
                    sequence=event.sequence,
                    received_at=datetime.now(UTC),
                    duplicate=duplicate,
                )
            )
        log.info("event received", return_id=event.return_id, sequence=event.sequence, type=event.type.value)
        return JSONResponse({"received": event.id})

    @app.get("/_receiver/events")
    def arrived(return_id: str | None = None) -> list[Received]:
        with lock:
            return [seen for seen in received if return_id is None or seen.return_id == return_id]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=SANDBOX_HOST)
    parser.add_argument("--port", type=int, default=RECEIVER_PORT)
    args = parser.parse_args()
    configure_logging("INFO")
    secrets = [secret for secret in os.environ.get("RECEIVER_SECRET", "").split(",") if secret]
    uvicorn.run(create_app(secrets), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
