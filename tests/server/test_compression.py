from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from spacetimedb.server import compression
from spacetimedb.server.compression import Compression, frame, unframe


@given(st.binary(max_size=3000), st.sampled_from(list(Compression)))
def test_frame_round_trips(body: bytes, c: Compression) -> None:
    out = frame(body, c)
    assert unframe(out) == body
    if len(body) <= 1024 or c is Compression.NONE:
        assert out[0] == 0
    else:
        assert out[0] == {Compression.GZIP: 2, Compression.BROTLI: 1}[c]


def test_identical_bodies_are_compressed_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    real = compression._gzip
    monkeypatch.setattr(compression, "_gzip", lambda b: calls.append(1) or real(b))
    body = os.urandom(5000)
    first = frame(body, Compression.GZIP)
    assert frame(bytes(body), Compression.GZIP) is first
    assert len(calls) == 1


def test_compression_param() -> None:
    assert Compression.from_query(None) is Compression.BROTLI
    assert Compression.from_query("Gzip") is Compression.GZIP
    for bad in ("gzip", "zstd", ""):
        try:
            Compression.from_query(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
