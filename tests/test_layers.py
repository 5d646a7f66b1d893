"""Which part of xsearch imports which: every import, inside functions too, runs down the layers.

A part is a package of xsearch/ (model, data, ...) or a top-level module (contract, app, ...). Each may import
its own modules and any part on a lower layer; nothing imports a part beside it or above it, so there is no
cycle, and the report, on its layer beside the sweep, never loads the sweep or training (nor torch).

    python tests/test_layers.py      # prints the graph
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import optuna

PACKAGE = Path(__file__).resolve().parents[1] / "xsearch"
# Bottom first. The contract and the other leaves import nothing of xsearch's.
LAYERS = [
    ("contract", "validate", "redact", "progress"),
    ("model", "data"),
    ("settings",),
    ("studies", "training"),
    ("sweep", "report"),
    ("app",),  # wires them: settings and plan, pruning into training, "sweep finished" into the report
    ("zygote", "__main__"),  # processes that run the app
]
LAYER = {part: depth for depth, parts in enumerate(LAYERS) for part in parts}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(node: ast.AST) -> list[str]:
    """The parts of xsearch an import statement names (`from xsearch import contract` names contract)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == "xsearch":
            return [alias.name for alias in node.names]
        names = [node.module]
    else:
        return []
    return [name.split(".")[1] for name in names if name.startswith("xsearch.")]


def arrows() -> dict[tuple[str, str], list[str]]:
    """(importer, imported) -> where, for every import between two different parts."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(path)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for target in imported_parts(node):
                if target != source:
                    found.setdefault((source, target), []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return found


def graph_text() -> str:
    edges = arrows()
    lines = []
    for depth in reversed(range(len(LAYERS))):
        for part in LAYERS[depth]:
            targets = sorted({t for s, t in edges if s == part}, key=lambda t: (-LAYER.get(t, 99), t))
            lines.append(f"layer {depth}  {part:<9} -> {', '.join(targets) if targets else '(nothing of xsearch)'}")
    return "\n".join(lines)


def test_every_part_is_on_a_layer():
    parts = {part_of(p) for p in PACKAGE.rglob("*.py") if part_of(p) not in ("__init__", "conf")}
    assert parts <= set(LAYER), f"parts on no layer: {sorted(parts - set(LAYER))}; add them to LAYERS"


def test_every_import_runs_down_the_layers():
    print("\n" + graph_text())
    wrong = [f"{s} (layer {LAYER[s]}) -> {t} (layer {LAYER.get(t)}) at {', '.join(where)}"
             for (s, t), where in arrows().items() if LAYER.get(t, 99) >= LAYER[s]]
    assert not wrong, "imports that run sideways or up:\n" + "\n".join(wrong)


def test_the_report_loads_neither_torch_nor_lightning(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for value in (0.5, 0.7):
        trial = study.ask()
        trial.suggest_categorical("model.segments", [1, 4])
        study.tell(trial, value)
    check = ("import sys; from xsearch.report.__main__ import main; main([sys.argv[1], '--no-wandb']); "
             "print(sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", check, str(tmp_path)], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    assert (tmp_path / "report" / "index.html").is_file()
    assert out.strip().splitlines()[-1] == "[]"


if __name__ == "__main__":
    print(graph_text())
