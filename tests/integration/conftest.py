"""Fixtures of the integration tests (the server fixtures are in tests/conftest.py)."""

from __future__ import annotations

import contextlib

import pytest

from e2e_support import open_app


@pytest.fixture
async def apps():
    """`await apps(home, keystore=None)` opens an in-process client; all are closed at the end."""
    opened = []

    async def make(home, keystore=None):
        app = await open_app(home, keystore)
        opened.append(app)
        return app

    yield make
    for app in opened:
        with contextlib.suppress(Exception):
            await app.close()
