"""The web console: static files served at `/` (the page) and `/console/` (its script and style).

It is a client of the public API like any other; it vendors nothing and loads nothing from
elsewhere, and the page's Content-Security-Policy says so (scripts and connections to this origin
only), so a text that slipped through as HTML still could not run a script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def mount_console(app: FastAPI) -> None:
    app.mount("/console", StaticFiles(directory=STATIC), name="console")

    @app.get("/", include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"},
        )
