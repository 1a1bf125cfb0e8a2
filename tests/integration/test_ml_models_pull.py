"""Pulling a CLIP-style model from a model hub on 127.0.0.1 (a loopback imitation of
a real hub), then using it in the pipeline. The model is a tiny CLIP-shaped ONNX
pair built here with onnx.helper, in Immich's layout."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from kbapp.core import errors
from kbapp.ml import hub
from kbapp.ml.imaging import Preprocess, preprocess
from kbapp.ml.pipeline import Analyzer, ImageAnalysis

DIM, CTX, SIZE = 8, 16, 32
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
rng = np.random.default_rng(7)
W_V = rng.normal(size=(3, DIM)).astype(np.float32)
W_T = rng.normal(size=(CTX, DIM)).astype(np.float32)
VOCAB = {"<|endoftext|>": 0, "[UNK]": 1, "a": 2, "photo": 3, "of": 4, "red": 5, "blue": 6, "dog": 7, "cat": 8}


def _model(graph) -> bytes:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def tiny_clip_files() -> dict[str, bytes]:
    visual = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["pooled", "w"], ["embedding"])],
        "tiny_visual",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", DIM])],
        [numpy_helper.from_array(W_V, "w")])
    textual = helper.make_graph(
        [helper.make_node("Cast", ["text"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("MatMul", ["f", "w"], ["embedding"])],
        "tiny_textual",
        [helper.make_tensor_value_info("text", TensorProto.INT32, ["n", CTX])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", DIM])],
        [numpy_helper.from_array(W_T, "w")])
    tok = Tokenizer(WordLevel(VOCAB, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    return {
        "visual/model.onnx": _model(visual),
        "textual/model.onnx": _model(textual),
        "config.json": json.dumps({"embed_dim": DIM, "vision_cfg": {"image_size": SIZE},
                                   "text_cfg": {"context_length": CTX}}).encode(),
        "textual/tokenizer.json": tok.to_str().encode(),
        "textual/special_tokens_map.json": json.dumps({"pad_token": "<|endoftext|>"}).encode(),
    }


def manifest_for(name: str, files: dict[str, bytes]) -> dict:
    roles = {"visual/model.onnx": "visual", "textual/model.onnx": "textual", "config.json": "config",
             "textual/tokenizer.json": "tokenizer", "textual/special_tokens_map.json": "special_tokens"}
    return {"name": name, "task": "clip", "licence": "CC0-1.0 (built by the test)", "source": "tests",
            "files": {roles[p]: {"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                      for p, b in files.items()},
            "input": {"size": SIZE, "resize": SIZE, "interpolation": "bicubic",
                      "normalize": {"mean": CLIP_MEAN, "std": CLIP_STD}}}


class Hub:
    """A model hub on 127.0.0.1 serving a dict of path -> bytes (mutable by the tests)."""

    def __init__(self):
        self.routes: dict[str, bytes] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()  # no Content-Length: the client must count bytes itself
                self.wfile.write(body)

            def log_message(self, *a):
                pass

            protocol_version = "HTTP/1.0"

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, name: str, files: dict[str, bytes], manifest: dict | None = None) -> None:
        m = manifest or manifest_for(name, files)
        self.routes[f"/{name}/manifest.json"] = json.dumps(m).encode()
        for p, b in files.items():
            self.routes[f"/{name}/{p}"] = b
        self.routes["/index.json"] = json.dumps(
            {"models": [{"name": name, "task": "clip", "size": sum(map(len, files.values())),
                         "description": "tiny test CLIP"}]}).encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def served():
    h = Hub()
    h.publish("tiny-clip", tiny_clip_files())
    yield h
    h.close()


def _installed(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


def test_pull_installs_and_the_pipeline_uses_clip(served, tmp_path, monkeypatch):
    monkeypatch.setenv("KBAPP_MODELS_HOME", str(tmp_path / "nothing"))
    dest = tmp_path / "models"
    remote = hub.list_models(served.url, models_dir=dest)
    assert any(m.name == "tiny-clip" and not m.installed for m in remote)

    done = []
    folder = hub.pull("tiny-clip", served.url, dest_dir=dest, progress=lambda p, n: done.append(p))
    assert folder == dest / "tiny-clip" and _installed(dest) == ["tiny-clip"]
    assert sorted(done) == sorted(tiny_clip_files())
    assert any(m.name == "tiny-clip" and m.installed for m in hub.list_models(models_dir=dest))

    img_path = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (220, 20, 30)).save(img_path)
    a = Analyzer(models_dir=dest, nsfw=False)
    try:
        assert a.clip_name == "tiny-clip"
        r = a.analyze_one(img_path)
        assert isinstance(r, ImageAnalysis) and r.clip_embedding is not None
        # The same numbers by hand: preprocess, mean over pixels, W_V, L2-normalise.
        t = preprocess(Image.open(img_path).convert("RGB"),
                       Preprocess(crop=SIZE, resize=SIZE, mean=tuple(CLIP_MEAN), std=tuple(CLIP_STD),
                                  interpolation="bicubic"))
        expect = t.mean(axis=(1, 2)) @ W_V
        expect /= np.linalg.norm(expect)
        assert np.allclose(r.clip_embedding, expect, atol=1e-5)

        q = a.clip_text_embedding("a photo of a red dog")
        ids = np.zeros(CTX, np.float32)
        ids[:6] = [VOCAB[w] for w in "a photo of a red dog".split()]
        expect_t = ids @ W_T
        expect_t /= np.linalg.norm(expect_t)
        assert q.shape == (DIM,) and np.allclose(q, expect_t, atol=1e-5)
    finally:
        a.close()


@pytest.mark.parametrize("attack", ["flip_byte", "extra_bytes", "short_file", "wrong_name", "path_escape"])
def test_tampered_download_is_refused_and_nothing_is_installed(served, tmp_path, attack):
    files = tiny_clip_files()
    m = manifest_for("tiny-clip", files)
    if attack == "flip_byte":
        body = bytearray(files["visual/model.onnx"])
        body[len(body) // 2] ^= 0xFF
        served.routes["/tiny-clip/visual/model.onnx"] = bytes(body)
    elif attack == "extra_bytes":
        served.routes["/tiny-clip/textual/model.onnx"] = files["textual/model.onnx"] + b"\0" * 100_000
    elif attack == "short_file":
        served.routes["/tiny-clip/config.json"] = files["config.json"][:-3]
    elif attack == "wrong_name":
        m["name"] = "other-model"
        served.routes["/tiny-clip/manifest.json"] = json.dumps(m).encode()
    elif attack == "path_escape":
        m["files"]["config"]["path"] = "../../escape.json"
        served.routes["/tiny-clip/manifest.json"] = json.dumps(m).encode()
    dest = tmp_path / "models"
    with pytest.raises((errors.ModelIntegrityError, errors.ModelDownloadError)) as e:
        hub.pull("tiny-clip", served.url, dest_dir=dest)
    if attack != "path_escape":
        assert isinstance(e.value, errors.ModelIntegrityError), e.value
    assert _installed(dest) == []  # no model, no half-written temp folder
    assert not (tmp_path / "escape.json").exists()


def test_a_bad_pull_keeps_the_model_already_installed(served, tmp_path):
    dest = tmp_path / "models"
    hub.pull("tiny-clip", served.url, dest_dir=dest)
    before = (dest / "tiny-clip" / "visual" / "model.onnx").read_bytes()
    served.routes["/tiny-clip/visual/model.onnx"] = before[:-1] + bytes([before[-1] ^ 1])
    with pytest.raises(errors.ModelIntegrityError):
        hub.pull("tiny-clip", served.url, dest_dir=dest)
    assert _installed(dest) == ["tiny-clip"]
    assert (dest / "tiny-clip" / "visual" / "model.onnx").read_bytes() == before


def test_hub_errors_are_typed(served, tmp_path):
    with pytest.raises(errors.ModelDownloadError):
        hub.pull("no-such-model", served.url, dest_dir=tmp_path)
    with pytest.raises(errors.ModelDownloadError):
        hub.pull("tiny-clip", "file:///etc", dest_dir=tmp_path)
    with pytest.raises(errors.ModelDownloadError):
        hub.pull("../evil", served.url, dest_dir=tmp_path)
    with pytest.raises(errors.ModelDownloadError):
        hub.pull("tiny-clip", None, dest_dir=tmp_path)
    served.routes["/tiny-clip/manifest.json"] = b"x" * (hub.MAX_MANIFEST + 10)
    with pytest.raises(errors.ModelDownloadError):
        hub.pull("tiny-clip", served.url, dest_dir=tmp_path)
    assert _installed(tmp_path) == []


def _cli(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from kbapp.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


def test_cli_models_list_pull_remove(served, tmp_path, monkeypatch):
    monkeypatch.setenv("KBAPP_MODELS_HOME", str(tmp_path / "home"))
    rc, out = _cli(["photos", "models", "list", "--hub", served.url, "--json"])
    listed = {m["name"]: m for m in json.loads(out)["models"]}
    assert rc == 0 and listed["tiny-clip"]["installed"] is False and listed["mobilenetv2"]["installed"] is True
    rc, out = _cli(["photos", "models", "pull", "tiny-clip", "--hub", served.url, "--json"])
    assert rc == 0 and json.loads(out)["installed"] == "tiny-clip"
    assert (tmp_path / "home" / "tiny-clip" / "visual" / "model.onnx").is_file()
    rc, out = _cli(["photos", "models", "list"])
    assert "tiny-clip" in out and "installed" in out
    rc, out = _cli(["photos", "models", "remove", "tiny-clip"])
    assert rc == 0 and not (tmp_path / "home" / "tiny-clip").exists()
    rc, out = _cli(["photos", "models", "remove", "tiny-clip", "--json"])
    assert rc == 1 and json.loads(out)["error"]["code"] == "MODEL_MISSING"
    # A tampered file through the CLI: a verification failure (exit 3), nothing installed.
    body = bytearray(served.routes["/tiny-clip/config.json"])
    body[0] ^= 1
    served.routes["/tiny-clip/config.json"] = bytes(body)
    rc, out = _cli(["photos", "models", "pull", "tiny-clip", "--hub", served.url, "--json"])
    assert rc == 3 and json.loads(out)["error"]["code"] == "MODEL_INTEGRITY"
    assert not (tmp_path / "home" / "tiny-clip").exists()


def test_pinned_manifest(served, tmp_path):
    good = hashlib.sha256(served.routes["/tiny-clip/manifest.json"]).hexdigest()
    # The hub swaps in another (self-consistent) model: its own hashes match, the pin does not.
    files = tiny_clip_files()
    files["config.json"] = json.dumps({"embed_dim": DIM, "text_cfg": {"context_length": CTX}, "x": 1}).encode()
    served.publish("tiny-clip", files)
    with pytest.raises(errors.ModelIntegrityError):
        hub.pull("tiny-clip", served.url, dest_dir=tmp_path / "m", manifest_sha256=good)
    assert _installed(tmp_path / "m") == []
    now = hashlib.sha256(served.routes["/tiny-clip/manifest.json"]).hexdigest()
    assert hub.pull("tiny-clip", served.url, dest_dir=tmp_path / "m", manifest_sha256=now.upper()).is_dir()
