from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb.protocol import compression
from spacetimedb.protocol.compression import Compression, compress_frame, decompress_frame
from spacetimedb.sats.errors import ConversionError


@given(st.binary(max_size=3000), st.sampled_from(list(Compression)))
def test_frame_round_trips(body: bytes, c: Compression) -> None:
    out = compress_frame(body, c)
    assert decompress_frame(out) == body
    if len(body) <= 1024 or c is Compression.NONE:
        assert out[0] == 0
    else:
        assert out[0] == {Compression.GZIP: 2, Compression.BROTLI: 1}[c]


def test_identical_bodies_are_compressed_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = []
    real = compression._gzip
    monkeypatch.setattr(compression, "_gzip", lambda b: calls.append(1) or real(b))
    body = os.urandom(5000)
    first = compress_frame(body, Compression.GZIP)
    assert compress_frame(bytes(body), Compression.GZIP) is first
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


def test_bad_server_frames_are_conversion_errors() -> None:
    for bad, needle in ((b"", "empty"), (b"\x07body", "unknown compression tag 7"), (b"\x02not gzip", "corrupt")):
        with pytest.raises(ConversionError, match=needle):
            decompress_frame(bad)
