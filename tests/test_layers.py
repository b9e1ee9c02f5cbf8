"""The package's imports, read from its sources (imports inside functions included): no module
imports itself back through others, and the layers import one way (docs/architecture.md):

    leaves        dispatch, assets_registry, animation, _C: nothing of the package
    ops           kernels/ (draggan_fast.kernels), stylegan/ (draggan_fast.stylegan)
    step          draggan_fast/step/
    session       draggan_fast/session/, draggan_fast/inversion/
    applications  cli/, viewer/, bench/, client, __main__, install_default_model

A module may import its own sub-package and anything in a lower layer; `from draggan_fast import
Name` counts as an import of the module that the package's lazy `_PUBLIC` table names.
"""

import ast
from pathlib import Path

import pytest

import draggan_fast

REPO = Path(__file__).resolve().parents[1]
# Package name -> source folder, as setup.py installs them.
SOURCES = {
    "draggan_fast": REPO / "draggan_fast",
    "draggan_fast.kernels": REPO / "kernels",
    "draggan_fast.stylegan": REPO / "stylegan",
}
LAYERS = (  # lowest first: (name, the draggan_fast.<part> names in it)
    ("leaves", {"", "_C", "dispatch", "assets_registry", "animation"}),
    ("ops", {"kernels", "stylegan"}),
    ("step", {"step"}),
    ("session", {"session", "inversion"}),
    (
        "applications",
        {"cli", "viewer", "serve", "bench", "client", "__main__", "install_default_model"},
    ),
)


def _module_files() -> dict[str, Path]:
    """Every module of the package: dotted name -> source file."""
    modules = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if package == "draggan_fast" and parts[0] in ("kernels", "stylegan"):
                continue  # a link laid out as installed: read from its own folder
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _module_files()


def _known(name: str) -> str:
    """The package module that importing `name` runs (its longest known prefix)."""
    while name not in MODULES and name != "draggan_fast._C":
        name = name.rpartition(".")[0]
    return name


def imported_names(module: str, path: Path) -> set[str]:
    """The dotted names `module` imports, as written (relative imports made absolute)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".rstrip(".")
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def package_imports(module: str, path: Path) -> set[str]:
    """The package's modules that `module` imports (itself excluded)."""
    found = set()
    for name in imported_names(module, path):
        if name.split(".")[0] != "draggan_fast":
            continue
        head, _, last = name.rpartition(".")
        if head == "draggan_fast" and last in draggan_fast._PUBLIC:
            name = draggan_fast._PUBLIC[last]
        found.add(_known(name))
    return found - {module}


def layer_of(module: str) -> int:
    """Index in LAYERS of the layer `module` belongs to (a ValueError when none names it)."""
    part = module.split(".")[1] if "." in module else ""
    for index, (_, parts) in enumerate(LAYERS):
        if part in parts:
            return index
    raise ValueError(f"{module} is in no layer: add draggan_fast.{part} to tests/test_layers.py")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """`a imports b` for each import of a higher layer, or of a sibling among the leaves."""
    found = []
    for module, imports in sorted(graph.items()):
        for target in sorted(imports):
            own, theirs = layer_of(module), layer_of(target)
            same_package = module.split(".")[:2] == target.split(".")[:2]
            if not same_package and (theirs > own or theirs == own == 0):
                found.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]})")
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle [a, b, ..., a] in `graph`, or None."""
    done, path, on_path = set(), [], set()

    def visit(module):
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)):
                return cycle
        on_path.discard(path.pop())
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (cycle := visit(module)):
            return cycle
    return None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {module: package_imports(module, path) for module, path in MODULES.items()}


def test_the_scanner_sees_the_imports_it_must(graph):
    assert {"draggan_fast.dispatch", "draggan_fast.kernels.motion"} <= MODULES.keys()
    assert "draggan_fast.kernels.motion" in graph["draggan_fast.step.reference"]
    # `from draggan_fast import DragSession` inside a function, through the lazy table:
    assert "draggan_fast.session.drag_session" in graph["draggan_fast.viewer.session_settings"]


def test_the_checks_catch_a_planted_cycle_and_an_upward_import():
    planted = {"draggan_fast.step.a": {"draggan_fast.step.b"}, "draggan_fast.step.b": set()}
    assert find_cycle(planted) is None
    planted["draggan_fast.step.b"] = {"draggan_fast.step.a"}
    assert find_cycle(planted) == [
        "draggan_fast.step.a",
        "draggan_fast.step.b",
        "draggan_fast.step.a",
    ]
    upward = upward_imports({"draggan_fast.kernels.motion": {"draggan_fast.session.state"}})
    assert upward == [
        "draggan_fast.kernels.motion (ops) imports draggan_fast.session.state (session)"
    ]


def test_no_import_cycle_in_the_package(graph):
    assert find_cycle(graph) is None


def test_every_module_sits_in_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_imports_point_down_the_layers(graph):
    assert upward_imports(graph) == []


def test_the_session_modules_import_each_other_one_way(graph):
    inside = {
        module.rpartition(".")[2]: {m for m in imports if m.startswith("draggan_fast.session.")}
        for module, imports in graph.items()
        if module.startswith("draggan_fast.session.")
    }
    # file_format (dicts to files), inputs and runs sit below the rest of the package.
    assert inside["file_format"] == inside["inputs"] == inside["runs"] == set()
    assert inside["state"] == {"draggan_fast.session.inputs"}
    assert [
        name for name, modules in inside.items() if "draggan_fast.session.drag_session" in modules
    ] == []


def test_the_frozen_blocks_share_the_layers_helpers():
    module = "draggan_fast.stylegan.frozen_synthesis"
    names = imported_names(module, MODULES[module])
    assert "draggan_fast.stylegan.layers.demodulation_coefficients" in names
