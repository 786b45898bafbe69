"""The layout is the architecture: no import cycle, and dependencies point one way.

tasks <- models <- scoring <- stages <- pipeline <- axes <- study <- cli; ``analysis`` is a
leaf any layer may import; the infrastructure modules (store, device, compute, workers,
typed_values) import nothing of the package but each other and ``analysis``.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rlhf_nb"
RANK = {"tasks": 0, "models": 1, "scoring": 2, "stages": 3, "pipeline": 4, "axes": 5, "study": 6, "notebooks": 6,
        "cli": 7}
INFRA = {"store", "device", "compute", "workers", "typed_values"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # TYPE_CHECKING imports included
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known and m != name}


def _graph():
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and not nxt.endswith(node.rsplit(".", 1)[0]):
                raise AssertionError("import cycle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state and not module == "rlhf_nb":
            visit(module, [])


def test_dependencies_point_one_way():
    wrong = []
    for module, targets in _graph().items():
        src = _layer(module)
        for target in targets:
            dst = _layer(target)
            if not dst or dst == src or dst == "analysis":
                continue
            if src in INFRA or src == "analysis":
                if dst not in INFRA:
                    wrong.append(f"{module} -> {target}")
            elif dst not in INFRA and RANK.get(dst, 99) > RANK.get(src, 99):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering: " + ", ".join(sorted(wrong))


def test_at_most_ten_top_level_modules():
    top = [p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"]
    assert len(top) <= 10, top
