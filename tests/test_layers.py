"""The report runs without torch or Lightning: it reads a study and its trials' files on any machine.

Which part imports which is import-linter's to check (`lint-imports`, with the contracts in pyproject.toml: the
layers of docs/DESIGN.md, and no torch under the report); this test checks the behaviour a user relies on, in a
real process: a report made, and neither library loaded.
"""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest


@pytest.mark.slow
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
