"""The engine's imports go one way: session -> step -> stylegan / kernels, and the session
file format imports nothing of the session (read from the sources, imports inside functions
included)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Modules a source file imports; `from pkg import name` counts as pkg.name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _package_imports(package: str) -> dict[str, set[str]]:
    return {
        path.name: {name for name in _imports(path) if name.startswith("draggan_fast.")}
        for path in sorted((REPO / "draggan_fast" / package).glob("*.py"))
    }


def test_the_step_never_imports_the_session_or_what_sits_above_it():
    layers_above = ("session", "cli", "viewer", "commands", "bench")
    for name, imports in _package_imports("step").items():
        above = [m for m in imports if m.split(".")[1] in layers_above]
        assert not above, f"step/{name} imports {above}"


def test_the_session_modules_import_each_other_one_way():
    imports = _package_imports("session")
    assert imports, "no session modules found"
    # file_format and inputs sit below everything else in the package.
    for low in ("file_format.py", "inputs.py", "runs.py"):
        inside = [m for m in imports[low] if m.startswith("draggan_fast.session")]
        assert not inside, f"session/{low} imports {inside}"
    inside = [m for m in imports["state.py"] if m.startswith("draggan_fast.session")]
    assert inside == ["draggan_fast.session.inputs"], inside
    for name, modules in imports.items():
        assert "draggan_fast.session.drag_session" not in modules or name == "__init__.py", name


def test_the_frozen_blocks_live_with_the_layers_and_import_no_engine_code():
    imports = _imports(REPO / "stylegan" / "frozen_synthesis.py")
    engine = [m for m in imports if m.startswith(("draggan_fast.step", "draggan_fast.session"))]
    assert not engine and "draggan_fast.stylegan.layers.demodulation_coefficients" in imports
