"""Pulling models from a model hub: streamed, size-capped, sha256-checked, atomic.

A hub is any HTTP(S) base URL laid out as

    {hub}/index.json               {"models": [{"name", "task", "size", "description"}]}
    {hub}/{name}/manifest.json     our manifest: every file with its sha256 and size
    {hub}/{name}/{file path}       the files (Immich's CLIP layout: visual/model.onnx, ...)

`pull` downloads into a hidden temporary folder inside the user's models folder,
checks each file's size and sha256 while streaming (stopping as soon as a file
runs over what the manifest promised or the caps), and only then renames the
folder into place, so a tampered or interrupted download leaves nothing installed.
Nothing is fetched unless the user asks: the shipped models work offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from kbapp.core import errors
from kbapp.ml.registry import MANIFEST, ModelManifest, Registry, check_model_name, user_models_dir

MAX_MANIFEST = 1 << 20
MAX_FILE = 4 << 30          # one file (a large CLIP visual tower is ~1.2 GB)
MAX_TOTAL = 8 << 30
CHUNK = 1 << 16
DEFAULT_HUB_ENV = "KBAPP_MODEL_HUB"


@dataclass
class ModelInfo:
    name: str
    task: str
    installed: bool
    where: str | None = None        # installed folder, or "package:NAME"
    size: int | None = None
    licence: str | None = None
    description: str | None = None


def default_hub() -> str | None:
    return os.environ.get(DEFAULT_HUB_ENV) or None


def _check_hub(hub: str) -> str:
    parts = urlsplit(hub)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.ModelDownloadError(f"model hub must be an http(s) URL, not {hub!r}")
    return hub.rstrip("/")


def _client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=5,
                        headers={"User-Agent": "kbapp-models"})


def _get_small(client: httpx.Client, url: str, cap: int) -> bytes:
    try:
        with client.stream("GET", url) as r:
            if r.status_code != 200:
                raise errors.ModelDownloadError(f"GET {url}: HTTP {r.status_code}")
            buf = bytearray()
            for chunk in r.iter_bytes(CHUNK):
                buf += chunk
                if len(buf) > cap:
                    raise errors.ModelDownloadError(f"GET {url}: more than {cap} bytes")
            return bytes(buf)
    except httpx.HTTPError as e:
        raise errors.ModelDownloadError(f"GET {url}: {type(e).__name__}: {e}") from e


def _loads(data: bytes, what: str):
    try:
        return json.loads(data)
    except ValueError as e:
        raise errors.ModelDownloadError(f"{what} is not JSON ({e})") from e


def hub_index(hub: str, *, timeout: float = 30.0) -> list[ModelInfo]:
    hub = _check_hub(hub)
    with _client(timeout) as c:
        data = _loads(_get_small(c, f"{hub}/index.json", MAX_MANIFEST), "hub index")
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise errors.ModelDownloadError("hub index has no 'models' list")
    out = []
    for m in models:
        if isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("task"), str):
            size = m.get("size") if isinstance(m.get("size"), int) else None
            desc = m.get("description") if isinstance(m.get("description"), str) else None
            out.append(ModelInfo(m["name"], m["task"], installed=False, size=size, description=desc))
    return out


def list_models(hub: str | None = None, *, models_dir: Path | None = None) -> list[ModelInfo]:
    """Installed models (shipped and pulled), plus what `hub` offers when one is given."""
    reg = Registry(models_dir)
    found = {}
    for m in reg.manifests():
        where = f"package:{m.package}" if m.package else str(m.root)
        size = sum(f.size or 0 for f in m.files.values()) or None
        found[m.name] = ModelInfo(m.name, m.task, True, where, size, m.licence, m.extra.get("description"))
    if hub:
        for info in hub_index(hub):
            if info.name not in found:
                found[info.name] = info
    return sorted(found.values(), key=lambda i: (not i.installed, i.task, i.name))


def _download(client: httpx.Client, url: str, dest: Path, expect_size: int | None, expect_sha: str,
              name: str, budget: int) -> int:
    cap = min(MAX_FILE, budget, expect_size if expect_size is not None else MAX_FILE)
    h = hashlib.sha256()
    n = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with client.stream("GET", url) as r, open(dest, "wb") as f:
            if r.status_code != 200:
                raise errors.ModelDownloadError(f"GET {url}: HTTP {r.status_code}")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise errors.ModelIntegrityError(f"{name}: {url} is {declared} bytes, more than the {cap} allowed")
            for chunk in r.iter_bytes(CHUNK):
                n += len(chunk)
                if n > cap:
                    raise errors.ModelIntegrityError(f"{name}: {url} sent more than the {cap} bytes allowed")
                h.update(chunk)
                f.write(chunk)
    except httpx.HTTPError as e:
        raise errors.ModelDownloadError(f"GET {url}: {type(e).__name__}: {e}") from e
    if expect_size is not None and n != expect_size:
        raise errors.ModelIntegrityError(f"{name}: {url} is {n} bytes, the manifest says {expect_size}")
    if h.hexdigest() != expect_sha:
        raise errors.ModelIntegrityError(f"{name}: {url} has sha256 {h.hexdigest()}, the manifest says {expect_sha}")
    return n


def pull(name: str, hub: str | None = None, *, dest_dir: Path | None = None, timeout: float = 60.0,
         max_total: int = MAX_TOTAL, progress=None, manifest_sha256: str | None = None) -> Path:
    """Download model `name` from `hub` and install it atomically; returns its folder.

    Raises `ModelIntegrityError` (size or sha256 not as the manifest says) or
    `ModelDownloadError` (network, HTTP, caps); in both cases nothing is installed.
    The file hashes come from the hub's own manifest, so they catch damage and
    tampering on the way (mirrors, CDNs, proxies); `manifest_sha256` pins the
    manifest itself (published out of band), so that a hub cannot swap the model.
    `progress(file_path, bytes)` is called after each file.
    """
    hub = hub or default_hub()
    if not hub:
        raise errors.ModelDownloadError(f"no model hub given (use --hub URL or set {DEFAULT_HUB_ENV})")
    hub = _check_hub(hub)
    try:
        check_model_name(name)
    except errors.BadManifest as e:
        raise errors.ModelDownloadError(str(e)) from e
    dest_root = Path(dest_dir) if dest_dir else user_models_dir()
    dest_root.mkdir(parents=True, exist_ok=True)
    base = f"{hub}/{quote(name)}"
    tmp = dest_root / f".pull-{name}-{secrets.token_hex(4)}"
    try:
        with _client(timeout) as c:
            raw = _get_small(c, f"{base}/{MANIFEST}", MAX_MANIFEST)
            if manifest_sha256 and hashlib.sha256(raw).hexdigest() != manifest_sha256.lower():
                raise errors.ModelIntegrityError(
                    f"{name}: the hub's manifest has sha256 {hashlib.sha256(raw).hexdigest()}, "
                    f"pinned {manifest_sha256.lower()}")
            data = _loads(raw, f"{name} manifest")
            try:
                manifest = ModelManifest.parse(data)
            except errors.BadManifest as e:
                raise errors.ModelDownloadError(f"the hub's manifest for {name!r} is invalid: {e}") from e
            if manifest.name != name:
                raise errors.ModelIntegrityError(f"asked for {name!r}, the hub's manifest is for {manifest.name!r}")
            if manifest.package:
                raise errors.ModelDownloadError(f"{name}: a pulled model cannot point into a Python package")
            declared = sum(f.size or 0 for f in manifest.files.values())
            if declared > max_total:
                raise errors.ModelDownloadError(f"{name}: {declared} bytes is more than the {max_total} allowed")
            tmp.mkdir()
            budget = max_total
            for entry in manifest.files.values():
                target = tmp / entry.path
                if tmp.resolve() not in target.resolve().parents:
                    raise errors.ModelIntegrityError(f"{name}: file path {entry.path!r} leaves the model folder")
                n = _download(c, f"{base}/{'/'.join(quote(p) for p in entry.path.split('/'))}", target,
                              entry.size, entry.sha256, name, budget)
                budget -= n
                if progress:
                    progress(entry.path, n)
        (tmp / MANIFEST).write_bytes(raw)
        final = dest_root / name
        old = None
        if final.exists():
            old = dest_root / f".old-{name}-{secrets.token_hex(4)}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove(name: str, *, dest_dir: Path | None = None) -> None:
    root = Path(dest_dir) if dest_dir else user_models_dir()
    target = root / name
    if name.startswith(".") or "/" in name or not (target / MANIFEST).is_file():
        raise errors.ModelMissing(f"no pulled model named {name!r} in {root}")
    shutil.rmtree(target)
