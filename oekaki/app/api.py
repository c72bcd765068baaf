"""The page and its JSON API (FastAPI): what a request may hold, and the clear 4xx it gets otherwise.

    GET    /                  the page (static/index.html, app.js, app.css: no CDN, works offline)
    GET    /api/info          which model answers each part (registry version or DVC checkpoint), notices, painters, words
    POST   /api/judge         {"image": PNG data URL}: the digit the models see, the judge's ten probabilities, feature maps
    POST   /api/vit           {"image"}: the same digit read by the second judge, the Vision Transformer: its ten
                              probabilities and its attention rollout over the digit (grid x grid, summing to 1)
    POST   /api/style         {"image", "label"?}: the VAE's "same style, every digit" (the judge's label unless given)
    POST   /api/paint         {"painter", "label", "n", "seed"}: n new digits from one painter
    POST   /api/paint-prompt  {"prompt", "seed"?}: four digits the text painter paints for a sentence (English or Japanese),
                              the tokens it read, and the words it did not know (left out, named in "unknown" and "warning")
    POST   /api/teach         {"image", "label", "token"}: the drawing, read as /api/judge reads it, stored with its label,
                              the judge's reading and the champion version that read it (oekaki/data/intake.py)
    POST   /api/contribute    a batch: JSON {"images": N x 28 x 28 ints 0-255, "labels": N ints 0-9, "writers"?: N ids,
                              "token"}, or multipart/form-data with an .npz file (arrays images, N x 28 x 28 uint8 white
                              ink on black, labels, writers optional) and a field token (`curl -F file=@d.npz -F token=...`)
    GET    /api/contributions       the contributor's own digits (header X-Contributor-Token): ids, labels, readings
    DELETE /api/contributions       erase them, all or those of ?ids=1&ids=2 (same header); the next snapshot drops them

Errors are {"error": "<one sentence>"}: 413 for a body over 64 KB (checked before anything is
parsed), 422 for a request that cannot be read (an empty canvas, a wrong size or type, a label
outside 0-9, an unknown painter, too many samples, a malformed contributor token; a prompt that is empty, longer than the
text painter reads, or has no word it knows, the last with "unknown": the words it did not), 503 when the model it needs
is missing.
The batch route has its own body limit, sized from contributions.max_batch (batch_limit: 8 bytes a pixel, an int64
.npz or compact JSON, 12.5 MB for 2,000 digits), and answers 413 past max_batch digits. Teach and batch answer
201 when every digit was stored, 200 when some were, with an outcome per digit (201, 409 a duplicate, 422 refused at
the door, 429 over a rate limit); a request that stored nothing gets the most specific of those with "error" (and
"items"). Without a contributions store (create_app's `store`) the teach routes answer 503.
No request names a path or a file: the models and the page's files are read once at start.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from oekaki.app import prompts
from oekaki.app.drawing import BadDrawing, read_drawing
from oekaki.app.service import Models, Unavailable, painter_names
from oekaki.app.words import page_words
from oekaki.core.paths import Paths
from oekaki.core.sections import ContributionsConfig
from oekaki.data import intake
from oekaki.data.contributions import Store
from oekaki.data.screening import Refused

MAX_BODY = 64 * 1024  # bytes of a request body: a 280x280 canvas PNG is a few KB
MAX_SAMPLES = 64  # images per painter request
BATCH_ROUTE = "/api/contribute"
TOKEN_HEADER = "X-Contributor-Token"
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("oekaki.app")
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
Token = Annotated[str | None, Header(alias=TOKEN_HEADER, description=f"the contributor's token: {intake.TOKEN_RULE}")]


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


class PromptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(max_length=prompts.MAX_CHARS, description='what to paint, in English or Japanese: "a thick 7", "右に傾いた3"')
    seed: Annotated[int, Field(ge=0, le=2**32 - 1, strict=True)] = 0


class TeachRequest(Drawing):
    label: Label = Field(description="the digit the person says it is (the judge's reading, confirmed or corrected)")
    token: str = Field(description=f"the contributor's token: {intake.TOKEN_RULE}")


def size_text(n: int) -> str:
    return f"{n // 1024} KB" if n < 2**20 else f"{n / 2**20:.1f} MB"


def batch_limit(max_batch: int) -> int:
    """Bytes a batch request may hold: what max_batch digits unpack to in an .npz (8 bytes a pixel), plus 64 KB."""
    return intake.npz_max_bytes(max_batch) + MAX_BODY


class _TooLarge(HTTPException):
    def __init__(self, limit: int = MAX_BODY) -> None:
        super().__init__(413, f"the request body is over {size_text(limit)}")


class BodyLimit:
    """ASGI middleware: refuse a body over `limit` bytes (`routes`: path -> its own limit) from its Content-Length,
    or while it streams in."""

    def __init__(self, app, limit: int = MAX_BODY, routes: dict[str, int] | None = None):
        self.app, self.limit, self.routes = app, limit, routes or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.routes.get(scope["path"], self.limit)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            status, message = (413, _TooLarge(limit).detail) if length.isdigit() else (400, "invalid Content-Length")
            return await JSONResponse({"error": message}, status)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)  # an HTTPException: FastAPI's body reading lets it through, the handler answers 413
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


def open_contributions(paths: Paths) -> tuple[Store, ContributionsConfig]:
    """The project's contributions store and its rules (params.yaml `contributions`), opened once at start."""
    from oekaki.core.config import load_config

    rules = load_config(paths.params).contributions
    return Store.of_project(rules.store_url, paths.contributions_store), rules


def judge_reader(models: Models) -> intake.Reader | None:
    """The judge's reading of a batch and the version that read it (the judge serving now and its source, taken
    together: Models.take); None without a judge, and the digits are stored unread."""
    if "cnn" in models.missing:
        return None

    def read(images: np.ndarray):
        judge, source = models.take("cnn")
        with models.lock:
            probs = judge.judge(images).probs
        return probs.argmax(1).tolist(), probs.max(1).tolist(), intake.model_version(source.name, source.version, source.path)

    return read


def form_fields(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """name -> (file name or None, bytes) of a multipart/form-data body (what `curl -F` and browsers send)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        raise Refused("body: multipart/form-data without a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + found[1].encode("latin-1"))[1:]:
        if part.startswith(b"--"):  # the closing delimiter
            break
        head, sep, content = part.partition(b"\r\n\r\n")
        disposition = re.search(r"(?im)^content-disposition:.*$", head.decode("latin-1"))
        name = re.search(r'\bname="([^"]*)"', disposition[0]) if disposition else None
        if not sep or name is None:
            raise Refused("body: a multipart part without a Content-Disposition name")
        filename = re.search(r'\bfilename="([^"]*)"', disposition[0])
        fields[name[1]] = (filename[1] if filename else None, content.removesuffix(b"\r\n"))
    return fields


def batch_of(kind: str, content_type: str, body: bytes, max_bytes: int) -> tuple[Any, Any, Any, Any]:
    """(token, images, labels, writers) of a batch request: JSON, or an .npz upload; Refused when it cannot be read."""
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise Refused(f"body: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise Refused("body: expected a JSON object {images, labels, token, writers?}")
        if extra := sorted(set(data) - {"images", "labels", "writers", "token"}):
            raise Refused(f"{extra[0]}: Extra inputs are not permitted")
        if missing := [k for k in ("images", "labels", "token") if k not in data]:
            raise Refused(f"{missing[0]}: Field required")
        return data["token"], data["images"], data["labels"], data.get("writers")
    fields = form_fields(body, content_type)
    files = [(name or key, content) for key, (name, content) in fields.items() if name is not None]
    if len(files) != 1:
        raise Refused(f"body: {len(files)} files; upload one .npz file (arrays images and labels, writers optional)")
    token = fields.get("token", (None, b""))[1].decode("utf-8", "replace") or None
    images, labels, writers = intake.read_npz(files[0][1], files[0][0], max_bytes)
    return token, images, labels, writers


def announce(result: intake.Result) -> None:
    """Tell the orchestrator digits were accepted (oekaki.pipeline.events: a Prefect event each); never fails the request."""
    if not result.accepted:
        return
    try:
        from oekaki.pipeline.events import emit_accepted
    except ImportError:
        return
    try:
        emit_accepted(result.accepted, result.ids)
    except Exception:  # the digits are durable already: an event lost is learned by the next run anyway
        log.exception("could not emit the events of %d accepted contributions", result.accepted)


def create_app(models: Models, ui_url: str = "", store: Store | None = None, rules: ContributionsConfig | None = None) -> FastAPI:
    """The app over models loaded once (oekaki.app.service.Models) and a contributions store with its rules
    (open_contributions; without them the teach routes answer 503)."""
    app = FastAPI(title="oekaki: draw it yourself", docs_url=None, redoc_url=None, openapi_url=None)  # the docs pages use a CDN
    teaching = store is not None and rules is not None
    app.add_middleware(BodyLimit, limit=MAX_BODY, routes={BATCH_ROUTE: batch_limit(rules.max_batch)} if teaching else None)
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
    @app.exception_handler(Refused)
    async def bad_drawing(request: Request, exc: ValueError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(prompts.BadPrompt)
    async def bad_prompt(request: Request, exc: prompts.BadPrompt) -> JSONResponse:
        return JSONResponse({"error": str(exc)} | ({"unknown": exc.unknown} if exc.unknown is not None else {}), 422)

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
        limits = {"max_body": MAX_BODY, "max_samples": MAX_SAMPLES, "max_prompt_chars": prompts.MAX_CHARS}
        limits |= {"max_batch": rules.max_batch} if teaching else {}
        return JSONResponse({**models.info(), "words": words, "limits": limits, "mlflow_ui_url": ui_url, "teach": teaching})

    @app.post("/api/judge")
    def judge(req: Drawing) -> JSONResponse:
        digit = read_drawing(req.image)
        return JSONResponse({"digit": digit.tolist(), **models.read(digit)})

    @app.post("/api/vit")
    def vit(req: Drawing) -> JSONResponse:  # its own route: /api/judge answers as before, and each judge has its latency
        digit = read_drawing(req.image)
        return JSONResponse({"digit": digit.tolist(), **models.read(digit, "vit")})

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

    @app.post("/api/paint-prompt")
    def paint_prompt(req: PromptRequest) -> JSONResponse:
        return JSONResponse(models.paint_prompt(req.prompt, req.seed))

    def door() -> None:
        if not teaching:
            raise Unavailable("contributions are off: the app was started without a contributions store")

    def take(token, images, labels, writers=None) -> intake.Result:
        import sqlalchemy.exc

        try:
            result = intake.contribute(store, rules, token, images, labels, writers, read=judge_reader(models))
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise Unavailable(f"the contributions store cannot be written ({type(exc).__name__}); nothing was stored") from exc
        announce(result)
        return result

    @app.post("/api/teach")
    def teach(req: TeachRequest) -> JSONResponse:
        door()
        digit = read_drawing(req.image)
        result = take(req.token, digit[None], [req.label])
        first = {"id": result.ids[0], "label": req.label} if result.accepted else {}
        return JSONResponse({**first, **result.as_json()}, result.status)

    @app.post(BATCH_ROUTE)
    async def contribute(request: Request) -> JSONResponse:
        door()
        origin = request.headers.get("origin")  # a form post is a "simple" cross-site request: another page could send it
        if origin and origin.rstrip("/") != f"{request.url.scheme}://{request.headers.get('host', '')}":
            return error(403, f"a batch posted from another site ({origin}) is refused: post it from a script or this app's page")
        content_type = request.headers.get("content-type", "")
        kind = content_type.split(";")[0].strip().lower()
        if kind not in ("application/json", "multipart/form-data"):
            return error(415, f"send JSON (application/json) or an .npz file (multipart/form-data), not {kind or 'no content type'}")
        body = await request.body()

        def work() -> intake.Result:
            return take(*batch_of(kind, content_type, body, intake.npz_max_bytes(rules.max_batch)))

        result = await run_in_threadpool(work)
        return JSONResponse(result.as_json(), result.status)

    @app.get("/api/contributions")
    def mine(token: Token = None) -> JSONResponse:
        door()
        rows = store.list(intake.check_token(token))
        return JSONResponse({"count": len(rows), "contributions": rows})

    @app.delete("/api/contributions")
    def erase(token: Token = None, ids: Annotated[list[int] | None, Query()] = None) -> JSONResponse:
        door()
        return JSONResponse({"erased": store.erase(intake.check_token(token), ids)})

    return app


def to_array(rows: list) -> np.ndarray:
    """An image of the API's answers (nested lists of 0-255) as uint8 (for tests and the benchmark)."""
    return np.asarray(rows, dtype=np.uint8)
