"""The operations console: operators' queues, search, return pages and bulk actions; the
warehouse's receiving with a scanner; the dashboard of the event store's reports."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from console import dashboard, operator, warehouse
from console.desk import HERE, ConsoleState, pages
from integrations.settings import Settings
from web.routes import serve_shared_styles

__all__ = ["dashboard", "install_console", "operator", "warehouse"]


def install_console(app: FastAPI, settings: Settings) -> None:
    app.state.console = ConsoleState(settings)
    serve_shared_styles(app)
    app.include_router(pages)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
