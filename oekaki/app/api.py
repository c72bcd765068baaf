"""The page and its JSON API (FastAPI): what a request may hold, and the clear 4xx it gets otherwise.

    GET  /             the page (static/index.html, app.js, app.css: no CDN, works offline)
    GET  /api/info     which model answers each part (registry version or DVC checkpoint), notices, painters, words
    POST /api/judge    {"image": PNG data URL}: the digit the models see, the judge's ten probabilities, feature maps
    POST /api/style    {"image", "label"?}: the VAE's "same style, every digit" (the judge's label unless given)
    POST /api/paint    {"painter", "label", "n", "seed"}: n new digits from one painter

Errors are {"error": "<one sentence>"}: 413 for a body over 64 KB (checked before anything is
parsed), 422 for a request that cannot be read (an empty canvas, a wrong size or type, a label
outside 0-9, an unknown painter, too many samples), 503 when the model it needs is missing.
No request names a path or a file: the models and the page's files are read once at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from oekaki.app.drawing import BadDrawing, read_drawing
from oekaki.app.service import Models, Unavailable, painter_names
from oekaki.app.words import page_words

MAX_BODY = 64 * 1024  # bytes of a request body: a 280x280 canvas PNG is a few KB
MAX_SAMPLES = 64  # images per painter request
STATIC = Path(__file__).parent / "static"
PAGE_FILES = {  # route -> (file under static/, its type): the only files the app serves, read once
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript"),
    "/app.css": ("app.css", "text/css"),
}
SECURITY_HEADERS = {  # the page loads nothing from elsewhere; images are data: URLs drawn by its own script
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Label = Annotated[int, Field(ge=0, le=9, strict=True)]


class Drawing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = Field(description="the canvas as a PNG data URL (data:image/png;base64,...), 280x280, dark ink on light")


class StyleRequest(Drawing):
    label: Label | None = Field(None, description="the label to encode the drawing with (default: the judge's)")


class PaintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    painter: str
    label: Label
    n: Annotated[int, Field(ge=1, le=MAX_SAMPLES, strict=True)] = 16
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)] = 0


class _TooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the request body is over {MAX_BODY // 1024} KB")


class BodyLimit:
    """ASGI middleware: refuse a body over `limit` bytes from its Content-Length, or while it streams in."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            status, message = (413, _TooLarge().detail) if length.isdigit() else (400, "invalid Content-Length")
            return await JSONResponse({"error": message}, status)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()  # an HTTPException: FastAPI's body reading lets it through, the handler answers 413
            return msg

        return await self.app(scope, limited, send)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            parts.append(f"body: not valid JSON ({e.get('ctx', {}).get('error', e.get('msg'))})")
            continue
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(models: Models, ui_url: str = "") -> FastAPI:
    """The app over models loaded once (oekaki.app.service.Models)."""
    app = FastAPI(title="oekaki: draw it yourself", docs_url=None, redoc_url=None, openapi_url=None)  # the docs pages use a CDN
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    pages = {route: ((STATIC / name).read_bytes(), kind) for route, (name, kind) in PAGE_FILES.items()}
    words, painters = page_words(), painter_names()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method == "POST" and kind != "application/json":
            return error(415, f"send a JSON body (Content-Type: application/json), not {kind or 'no content type'}")
        return error(422, _validation_message(exc))

    @app.exception_handler(BadDrawing)
    async def bad_drawing(request: Request, exc: BadDrawing) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return error(503, str(exc))

    def page(route: str) -> Response:
        body, kind = pages[route]
        return Response(body, media_type=kind, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    app.get("/", include_in_schema=False)(lambda: page("/"))
    app.get("/app.js", include_in_schema=False)(lambda: page("/app.js"))
    app.get("/app.css", include_in_schema=False)(lambda: page("/app.css"))

    @app.get("/api/info")
    def info() -> JSONResponse:
        limits = {"max_body": MAX_BODY, "max_samples": MAX_SAMPLES}
        return JSONResponse({**models.info(), "words": words, "limits": limits, "mlflow_ui_url": ui_url})

    @app.post("/api/judge")
    def judge(req: Drawing) -> JSONResponse:
        digit = read_drawing(req.image)
        return JSONResponse({"digit": digit.tolist(), **models.read(digit)})

    @app.post("/api/style")
    def style(req: StyleRequest) -> JSONResponse:
        digit = read_drawing(req.image)
        label = req.label if req.label is not None else models.classify(digit)
        answer: dict[str, Any] = models.style(digit, label)
        given = "request" if req.label is not None else "judge"
        return JSONResponse({"digit": digit.tolist(), "label": label, "label_from": given, **answer})

    @app.post("/api/paint")
    def paint(req: PaintRequest) -> JSONResponse:
        if req.painter not in painters:
            return error(422, f"painter: unknown painter {req.painter!r}; choose {', '.join(painters)}")
        answer = models.paint(req.painter, req.label, req.n, req.seed)
        return JSONResponse({"painter": req.painter, "label": req.label, "n": req.n, "seed": req.seed, **answer})

    return app


def to_array(rows: list) -> np.ndarray:
    """An image of the API's answers (nested lists of 0-255) as uint8 (for tests and the benchmark)."""
    return np.asarray(rows, dtype=np.uint8)
