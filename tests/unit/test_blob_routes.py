"""The blob routes' pure parts: one byte range, and how long a blob upload may take."""

from __future__ import annotations

import pytest

from kbapp.core import errors
from kbapp.server.limits import body_timeout_for
from kbapp.server.routes.blobs import parse_range


def test_one_range_or_none():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 10)
    assert parse_range("bytes=90-", 100) == (90, 100)
    assert parse_range("bytes=90-1000", 100) == (90, 100)          # clipped to the blob
    assert parse_range("bytes=-10", 100) == (90, 100)
    assert parse_range("bytes=-1000", 100) == (0, 100)


@pytest.mark.parametrize("header", ["bytes=0-1,3-4", "bytes=100-", "bytes=5-4", "bytes=-0", "bytes=-",
                                    "bits=0-1", "bytes=0x1-2", "bytes=" + "9" * 19 + "-"])
def test_bad_ranges(header):
    with pytest.raises(errors.BadRange):
        parse_range(header, 100)


@pytest.mark.parametrize("header", ["bytes=-5", "bytes=0-", "bytes=0-0"])
def test_an_empty_blob_has_no_range(header):
    """`bytes=-5` of an empty blob answered 206 with `Content-Range: bytes 0--1/0` (review)."""
    with pytest.raises(errors.BadRange):
        parse_range(header, 0)


def test_blob_uploads_get_time_for_their_length():
    put = {"method": "PUT", "path": "/v1/blobs/" + "0" * 64, "headers": [(b"content-length", b"2000000")]}
    assert body_timeout_for(put, 30.0, 1_000_000) == 32.0
    assert body_timeout_for({**put, "method": "POST"}, 30.0, 1_000_000) == 30.0
    assert body_timeout_for({**put, "path": "/v1/signup"}, 30.0, 1_000_000) == 30.0
    assert body_timeout_for({**put, "headers": []}, 30.0, 1_000_000) == 30.0      # no length: no extra
    assert body_timeout_for(put, 0.0, 1_000_000) == 0.0                           # timeouts off
