"""HTTP inside SpacetimeDB's host, in upstream's BSATN `HttpRequest`/`HttpResponse`.

A procedure's `ctx.http` sends requests through `procedure_http_request`; the module's own HTTP
handlers receive requests through `__call_http_handler__` (`decode_request`, `encode_response`).

The host takes the request as BSATN `HttpRequest` (crates/lib/src/http.rs: method, headers,
timeout, uri, version) with the body beside it, performs it itself, and answers a BSATN
`HttpResponse` (headers, version, code) and the body; a failure is a host error whose message
says why (errno HTTP_ERROR). `HttpClient` has already checked the request (not inside `with_tx`).
"""

from __future__ import annotations

import struct
from typing import Any

from spacetimedb.jshost import glue as g
from spacetimedb.module.http_client import HttpError, HttpRequest, HttpResponse

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
#: HttpMethod's variants in order; anything else is `Extension(String)` (tag 9).
_METHODS = {m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"))}
_HTTP11 = 2  # HttpVersion::Http11


def _put_bytes(buf: bytearray, data: bytes) -> None:
    buf += _U32.pack(len(data))
    buf += data


def encode_request(request: HttpRequest, timeout: float | None) -> bytes:
    buf = bytearray()
    method = request.method.upper()
    tag = _METHODS.get(method)
    if tag is None:
        buf.append(9)
        _put_bytes(buf, method.encode())
    else:
        buf.append(tag)
    headers = list(request.headers.items())
    buf += _U32.pack(len(headers))
    for name, value in headers:
        _put_bytes(buf, name.encode())
        _put_bytes(buf, value.encode("latin-1"))
    if timeout is None:
        buf.append(1)  # None
    else:
        buf.append(0)  # Some(TimeDuration): i64 microseconds
        buf += _I64.pack(int(timeout * 1_000_000))
    _put_bytes(buf, request.url.encode())
    buf.append(_HTTP11)
    return bytes(buf)


def _headers(data: bytes, off: int) -> tuple[list[tuple[str, str]], int]:
    (n,) = _U32.unpack_from(data, off)
    off += 4
    out = []
    for _ in range(n):
        (ln,) = _U32.unpack_from(data, off)
        name = data[off + 4 : off + 4 + ln].decode()
        off += 4 + ln
        (lv,) = _U32.unpack_from(data, off)
        value = data[off + 4 : off + 4 + lv].decode("latin-1")
        off += 4 + lv
        out.append((name, value))
    return out, off


def _string(data: bytes, off: int) -> tuple[str, int]:
    (n,) = _U32.unpack_from(data, off)
    return data[off + 4 : off + 4 + n].decode(), off + 4 + n


def decode_response(data: bytes, body: bytes) -> HttpResponse:
    headers, off = _headers(data, 0)
    off += 1  # version
    (code,) = _U16.unpack_from(data, off)
    return HttpResponse(code, {k.lower(): v for k, v in headers}, body)


def decode_request(data: bytes) -> tuple[str, list[tuple[str, str]], str]:
    """(method, headers, uri) of a BSATN `HttpRequest` (its timeout and version are not used)."""
    tag = data[0]
    if tag == 9:
        method, off = _string(data, 1)
    else:
        method, off = list(_METHODS)[tag], 1
    headers, off = _headers(data, off)
    off += 1 if data[off] == 1 else 9  # timeout: None, or Some(i64 micros)
    uri, off = _string(data, off)
    return method, headers, uri


def encode_response(status: int, headers: list[tuple[str, str]]) -> bytes:
    """A BSATN `HttpResponse` (headers, version HTTP/1.1, code); the body travels beside it."""
    buf = bytearray(_U32.pack(len(headers)))
    for name, value in headers:
        _put_bytes(buf, name.encode())
        _put_bytes(buf, value.encode("latin-1"))
    buf.append(_HTTP11)
    buf += _U16.pack(status)
    return bytes(buf)


class SysHttpTransport:
    """`HttpTransport` over the glue's `http_request` (the host's `procedure_http_request`)."""

    def __init__(self, glue: g.GlueApi, to_js: Any) -> None:
        self._glue = glue
        self._to_js = to_js

    def send(self, request: HttpRequest, *, timeout: float, max_response_bytes: int) -> HttpResponse:
        body = request.body.encode() if isinstance(request.body, str) else bytes(request.body)
        out = self._glue.http_request(self._to_js(encode_request(request, timeout)), self._to_js(body))
        if isinstance(out, str):
            raise HttpError(f"{request.method} {request.url} failed: {out}")
        data = g.as_bytes(out[1])
        if len(data) > max_response_bytes:
            raise HttpError(f"the response to {request.method} {request.url} exceeds the {max_response_bytes}-byte limit")
        return decode_response(g.as_bytes(out[0]), data)
