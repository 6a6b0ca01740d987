"""HTTP core: a route registry, request/response values and the dispatcher.

A feature module registers its endpoints with `@route(method, path)` at import time and is listed
in ROUTE_MODULES. WeChat paths (anything outside /_sim/) are counted for /_sim/requests and can be
answered by errors queued through /_sim/errors; each route says how such an error looks on its
wire (JSON errcode by default, an XML FAIL for pay routes).
"""

from __future__ import annotations

import importlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from wechat_sim.errors import BadRequestError, WeChatError
from wechat_sim.state import SimState

logger = logging.getLogger("wechat_sim")

CONTROL_PREFIX = "/_sim/"
# Importing these registers their routes.
ROUTE_MODULES: tuple[str, ...] = (
    "wechat_sim.miniprogram",
    "wechat_sim.control",
    "wechat_sim.pay",
    "wechat_sim.pay_control",
)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    state: SimState

    @property
    def is_control(self) -> bool:
        return self.path.startswith(CONTROL_PREFIX)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; raises BadRequestError otherwise."""
        try:
            data = json.loads(self.body or b"{}")
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequestError(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadRequestError("body must be a JSON object")
        return data


@dataclass(frozen=True)
class Response:
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    status: int = 200


Handler = Callable[[Request], Response]
ErrorRenderer = Callable[[int, str], Response]


def json_response(data: Any, *, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode()
    return Response(body=body, status=status)


def bytes_response(body: bytes, *, content_type: str, status: int = 200) -> Response:
    return Response(body=body, content_type=content_type, status=status)


def wechat_rid() -> str:
    return "-".join(secrets.token_hex(4) for _ in range(3))


def wechat_error_response(errcode: int, errmsg: str) -> Response:
    """WeChat's JSON error: HTTP 200, with a request id appended to errmsg."""
    return json_response({"errcode": errcode, "errmsg": f"{errmsg}, rid: {wechat_rid()}"})


@dataclass(frozen=True)
class Route:
    handler: Handler
    render_error: ErrorRenderer


ROUTES: dict[tuple[str, str], Route] = {}


def route(
    method: str, path: str, *, render_error: ErrorRenderer = wechat_error_response
) -> Callable[[Handler], Handler]:
    """Register `handler` for (method, path); render_error shapes WeChatError and injected errors."""

    def register(handler: Handler) -> Handler:
        key = (method.upper(), path)
        if key in ROUTES:
            raise ValueError(f"route registered twice: {method} {path}")
        ROUTES[key] = Route(handler=handler, render_error=render_error)
        return handler

    return register


def handle(request: Request) -> Response:
    found = ROUTES.get((request.method, request.path))
    if not request.is_control:
        request.state.request_record(method=request.method, path=request.path, query=request.query)
    if found is None:
        return json_response(
            {"error": "no such endpoint", "method": request.method, "path": request.path},
            status=404,
        )
    if not request.is_control and (injected := request.state.injected_error_take(request.path)):
        return found.render_error(*injected)
    try:
        return found.handler(request)
    except WeChatError as exc:
        return found.render_error(exc.errcode, exc.errmsg)
    except BadRequestError as exc:
        if request.is_control:
            return json_response({"error": str(exc)}, status=400)
        return found.render_error(47001, "data format error")


class SimRequestHandler(BaseHTTPRequestHandler):
    # Keep-alive: wechatpy's requests.Session reuses connections, which matters under benchmarks.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY each keep-alive reply
    # waits ~40 ms on the client's delayed ACK.
    disable_nagle_algorithm = True
    server: SimServer

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        # wechatpy sends no Content-Type, so only Content-Length tells us about the body.
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=self.headers,
            body=self.rfile.read(length) if length else b"",
            state=self.server.state,
        )
        try:
            response = handle(request)
        except Exception:
            logger.exception("simulator failed on %s %s", request.method, request.path)
            response = json_response({"error": "simulator error"}, status=500)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    # BaseHTTPRequestHandler looks these names up; the route table decides what exists.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = dispatch  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block shutdown

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        for module in ROUTE_MODULES:
            importlib.import_module(module)
        self.state = state
        super().__init__(address, SimRequestHandler)
