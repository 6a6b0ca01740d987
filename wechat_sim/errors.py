"""Exceptions a route handler raises; the dispatcher in server.py renders them."""

from __future__ import annotations


class WeChatError(Exception):
    """An errcode/errmsg answer, rendered by the route (JSON for the mini-program, XML for pay)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class BadRequestError(Exception):
    """Malformed input: HTTP 400 on /_sim/, the route's 47001 "data format error" elsewhere."""
