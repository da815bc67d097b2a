"""``/docs`` without a CDN.

FastAPI's default Swagger UI page loads its JavaScript and CSS from a CDN (and its favicon from
FastAPI's site), so it is blank on a machine without internet. We serve the Swagger UI files that the
``fastapi-offline`` package ships (part of the ``server`` extra) from this server instead. If that
package is missing, ``/docs`` says how to install it and points at the raw schema (``/openapi.json``),
which always works. ReDoc (``/redoc``) is off: it would need its own CDN script.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ASSETS_URL = "/docs-assets"


def swagger_assets_folder() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install_docs(app, docs_url: str = "/docs") -> None:
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    folder = swagger_assets_folder()
    if folder is None:
        @app.get(docs_url, include_in_schema=False)
        async def docs_missing() -> HTMLResponse:
            return HTMLResponse(
                "<!doctype html><html lang='en'><meta charset='utf-8'><title>audiosift API</title>"
                "<h1>audiosift API</h1><p>The interactive docs need the Swagger UI files of the "
                "<code>fastapi-offline</code> package: <code>pip install 'audiosift[server]'</code>.</p>"
                "<p>The OpenAPI schema is at <a href='/openapi.json'>/openapi.json</a>.</p></html>")
        return

    app.mount(ASSETS_URL, StaticFiles(directory=str(folder)), name="docs-assets")

    @app.get(docs_url, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},  # no call to the online validator
        )
