"""The layers of docs/architecture.md, checked on the source (imports only point down).

Exactly the arrows the document draws, no exceptions: only kbapp/bench (every benchmark)
may import any layer, and only the launcher (the modules directly in kbapp/) sits above
the front ends. The table here and the drawing in docs/architecture.md must agree
(test_the_document_draws_these_layers).
"""

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "kbapp"
DOC = PKG.parent / "docs" / "architecture.md"

# What each layer may import from kbapp itself (besides itself). "launcher": kbapp/*.py.
ALLOWED = {
    "launcher": {"cli", "gui", "server", "client", "core"},
    "bench": {"cli", "gui", "server", "client", "ml", "core"},
    "gui": {"client", "ml", "core"},
    "cli": {"client", "ml", "core"},
    "server": {"core"},
    "client": {"ml", "core"},
    "ml": {"core"},
    "core": set(),
}
# Third-party modules core may use: crypto and encoding only.
CORE_THIRD_PARTY = {"nacl", "msgpack", "mnemonic", "orjson"}
QT = {"PySide6", "qasync", "shiboken6"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                rel = path.relative_to(PKG).parts[:-1]
                base = list(rel[: len(rel) - (node.level - 1)]) if node.level > 1 else list(rel)
                names.add("kbapp." + ".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.add(node.module)
    return names


def layer_of(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else "launcher"


def modules(layer):
    if layer == "launcher":
        return sorted(PKG.glob("*.py"))
    return sorted((PKG / layer).rglob("*.py"))


def test_every_module_is_in_a_layer():
    layers = {layer_of(p) for p in PKG.rglob("*.py")}
    assert layers <= set(ALLOWED), f"packages with no layer rule: {sorted(layers - set(ALLOWED))}"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_down(layer):
    bad = []
    for path in modules(layer):
        for name in imports_of(path):
            if name.startswith("kbapp."):
                target = name.split(".")[1]
                target = target if (PKG / target).is_dir() else "launcher"
                if target != layer and target not in ALLOWED[layer]:
                    bad.append(f"{path.relative_to(PKG)} imports {name}")
            elif name == "kbapp" and layer != "launcher":
                bad.append(f"{path.relative_to(PKG)} imports kbapp itself")
    assert not bad, "\n".join(bad)


def test_the_document_draws_these_layers():
    """docs/architecture.md lists each layer's arrows as `layer -> a, b` lines."""
    drawn = {}
    for m in re.finditer(r"^\s*(\w+)\s+->\s+(.*?)\s*$", DOC.read_text(), re.M):
        targets = m.group(2).strip()
        drawn[m.group(1)] = set() if targets == "nothing" else {t.strip() for t in targets.split(",")}
    assert drawn == ALLOWED


def test_only_gui_imports_qt():
    bad = [f"{p.relative_to(PKG)} imports {n}"
           for layer in ALLOWED if layer != "gui" for p in modules(layer)
           for n in imports_of(p) if n.split(".")[0] in QT]
    assert not bad, "\n".join(bad)


def test_core_is_pure():
    import sys

    stdlib = set(sys.stdlib_module_names)
    forbidden_stdlib = {"socket", "sqlite3", "subprocess", "http", "urllib", "asyncio", "threading",
                        "time", "random", "secrets", "os", "shutil", "tempfile"}
    PURE_PARTS = {"urllib.parse"}   # string parsing only (no urllib.request)
    bad = []
    for path in modules("core"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "kbapp" or top == "__future__":
                continue
            if top in stdlib:
                if top in forbidden_stdlib and name not in PURE_PARTS:
                    bad.append(f"{path.relative_to(PKG)} imports {name} (I/O, clock or randomness)")
            elif top not in CORE_THIRD_PARTY:
                bad.append(f"{path.relative_to(PKG)} imports third-party {name}")
    assert not bad, "\n".join(bad)


def test_checker_sees_a_violation(tmp_path, monkeypatch):
    """The checker itself must be able to fail."""
    fake = tmp_path / "kbapp" / "core"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("import httpx\nimport time\nimport urllib.request\nfrom kbapp.client import app\n")
    monkeypatch.setattr(__import__(__name__), "PKG", tmp_path / "kbapp")
    with pytest.raises(AssertionError, match="httpx"):
        test_core_is_pure()
    with pytest.raises(AssertionError, match="urllib.request"):
        test_core_is_pure()
    with pytest.raises(AssertionError, match="kbapp.client"):
        test_layer_imports_point_down("core")
    gui = tmp_path / "kbapp" / "gui"
    gui.mkdir()
    (gui / "embedded.py").write_text("from kbapp.server.main import EmbeddedServer\n")
    with pytest.raises(AssertionError, match="kbapp.server.main"):
        test_layer_imports_point_down("gui")
    (tmp_path / "kbapp" / "cli").mkdir()
    (tmp_path / "kbapp" / "cli" / "up.py").write_text("from kbapp.main import embedded_server\n")
    with pytest.raises(AssertionError, match="kbapp.main"):
        test_layer_imports_point_down("cli")
