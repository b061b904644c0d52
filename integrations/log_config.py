"""Structured logs for every process: structlog, one line per event, never a secret.

Workflow code logs through `workflow.logger` (replay-safe, stdlib); its records pass
through the same formatter, so workflow and activity lines look alike and both carry
the return id.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

_SECRET_KEY = re.compile(r"(api_?key|token|secret|password|authorization|signature|card|cvc|iban)", re.I)


def _redact_secrets(_logger: object, _method: str, event: dict) -> dict:
    for key in event:
        if _SECRET_KEY.search(key):
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Request lines from HTTP clients would repeat what our own events already say.
    for noisy in ("httpx", "urllib3", "stripe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
