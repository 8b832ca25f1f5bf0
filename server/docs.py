"""The OpenAPI page (`/docs`) with no internet: swagger-ui's JavaScript and CSS come from the
`swagger-ui-bundle` package and are served by houqin under `/docs/assets/`, instead of FastAPI's default
CDN links. (Who may open /docs is decided in server/exposure.py, which serves the page; this module only makes it work.)"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Serve swagger-ui's assets from the installed package (the page itself: `swagger_page`)."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")


def swagger_page(app: FastAPI, *, openapi_url: str = "/openapi.json") -> HTMLResponse:
    """The interactive API reference, pointing at the assets served by houqin."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} · API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
    )
