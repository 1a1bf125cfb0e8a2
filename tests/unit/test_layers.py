"""The layer rules of DESIGN.md, checked on the source (imports only point down)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "kbapp"

# What each layer may import from kbapp itself.
ALLOWED = {
    "core": {"core"},
    "ml": {"core", "ml"},
    "server": {"core", "server"},
    "client": {"core", "client", "ml"},
    "cli": {"core", "client", "cli", "server", "ml"},
    "gui": {"core", "client", "gui", "ml", "server"},
}
# The CLI is the GUI's launcher (`kbapp` alone, `kbapp bench gui`): the only upward imports.
LAUNCHER = {("cli", "kbapp.gui.main"), ("cli", "kbapp.gui.bench")}
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


def modules(layer):
    return sorted((PKG / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_point_down(layer):
    bad = []
    for path in modules(layer):
        for name in imports_of(path):
            if name.startswith("kbapp."):
                target = name.split(".")[1]
                if target not in ALLOWED[layer] and (layer, name) not in LAUNCHER:
                    bad.append(f"{path.relative_to(PKG)} imports {name}")
    assert not bad, "\n".join(bad)


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
    bad = []
    for path in modules("core"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "kbapp" or top == "__future__":
                continue
            if top in stdlib:
                if top in forbidden_stdlib:
                    bad.append(f"{path.relative_to(PKG)} imports {name} (I/O, clock or randomness)")
            elif top not in CORE_THIRD_PARTY:
                bad.append(f"{path.relative_to(PKG)} imports third-party {name}")
    assert not bad, "\n".join(bad)


def test_checker_sees_a_violation(tmp_path, monkeypatch):
    """The checker itself must be able to fail."""
    fake = tmp_path / "kbapp" / "core"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("import httpx\nimport time\nfrom kbapp.client import app\n")
    monkeypatch.setattr(__import__(__name__), "PKG", tmp_path / "kbapp")
    with pytest.raises(AssertionError, match="httpx"):
        test_core_is_pure()
    with pytest.raises(AssertionError, match="kbapp.client"):
        test_layer_imports_point_down("core")
