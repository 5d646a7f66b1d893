"""What an install holds: every package xsearch imports is declared, optional ones stay optional (logger=csv runs
without W&B), and a missing extra is one clear line naming the `pip install` that mends it."""

import ast
import importlib.metadata
import os
import re
import sys
from pathlib import Path

import processes
import pytest
import tomllib
from conftest import TINY as CONFTEST_TINY

ROOT = Path(__file__).resolve().parents[1]
UNINSTALLED = ROOT / "tests" / "uninstalled"  # its sitecustomize hides the packages XSEARCH_TEST_UNINSTALLED names
TINY = [a for a in CONFTEST_TINY if not a.startswith("logger")]  # each test names its logger


def without(*modules: str) -> dict[str, str]:
    return {"PYTHONPATH": str(UNINSTALLED), "XSEARCH_TEST_UNINSTALLED": ",".join(modules)}


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def imported_top_levels() -> set[str]:
    names = set()
    for path in [*(ROOT / "xsearch").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


def test_every_package_xsearch_imports_is_declared_in_pyproject():
    owners = importlib.metadata.packages_distributions()
    needed = set()
    for name in imported_top_levels():
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top == "xsearch":
            continue
        if top == "hydra_plugins":  # a namespace every Hydra plugin shares: the plugin's own package owns it
            if name.startswith("hydra_plugins.hydra_submitit_launcher"):
                needed.add("hydra-submitit-launcher")
            continue
        needed.update(d.lower().replace("_", "-") for d in owners.get(top, [top]))
    missing = needed - declared()
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
    assert {"sqlalchemy", "omegaconf", "numpy"} <= needed  # the ones that were once only there by chance


@pytest.mark.slow
def test_logger_csv_sweeps_without_wandb_installed(tmp_path):
    out = processes.xsearch("+sweep=residual", "sweep.name=plain", "sweep.n_trials=1", f"sweep.dir={tmp_path}",
                            "logger=csv", *TINY, env=without("wandb"), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "xsearch sweep plain: 1 complete" in out.stdout
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "trials" / "0" / "metrics.csv").is_file()
    assert not (tmp_path / "wandb").exists()


@pytest.mark.parametrize("args,modules,message", [
    (["logger=wandb"], ["wandb"], "xsearch: config error: logger.wandb (pytorch_lightning.loggers.WandbLogger) needs "
                                  "wandb, which is not installed: pip install wandb"),
    (["logger=tensorboard"], ["tensorboard"], "needs tensorboard, which is not installed: pip install tensorboard"),
    (["+sweep=residual", "sweep.storage=postgresql://me@127.0.0.1:1/none"], ["psycopg"],
     "xsearch: config error: sweep.storage='postgresql://me@127.0.0.1:1/none' needs the database driver psycopg, "
     "which is not installed: pip install 'xsearch[postgres]'"),
    (["+sweep=nas", "sweep.sampler.name=cmaes"], ["cmaes"],
     "xsearch: config error: sweep.sampler (optuna.samplers.CmaEsSampler) needs cmaes, which is not installed: "
     "pip install cmaes"),
    (["hydra/launcher=slurm", "+sweep=residual", "sweep.job=0", "--multirun"],
     ["hydra_plugins.hydra_submitit_launcher"],
     "xsearch: config error: hydra/launcher=slurm needs hydra_submitit_launcher, which is not installed: "
     "pip install 'xsearch[slurm]'"),
])
@pytest.mark.slow
def test_a_missing_extra_is_one_line_naming_the_install(tmp_path, args, modules, message):
    out = processes.xsearch(f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'multirun'}",
                            *args, *TINY, cwd=tmp_path, env=without(*modules), timeout=120)
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
    assert message in out.stderr and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert not (tmp_path / "run" / "summary.json").exists() and not (tmp_path / "sweeps").exists()


@pytest.mark.slow
def test_without_the_slurm_extra_hydra_starts_without_complaining_about_the_launcher_plugin(tmp_path):
    # Hydra imports every plugin module when it starts; xsearch's launcher must import without submitit's.
    out = processes.xsearch("--help", cwd=tmp_path, env=without("hydra_plugins.hydra_submitit_launcher"), timeout=60)
    assert out.returncode == 0 and "xsearch" in out.stdout
    assert "Error importing" not in out.stderr and "incompatible" not in out.stderr, out.stderr[-2000:]


@pytest.mark.slow
def test_the_hiding_of_packages_these_tests_rely_on_works():
    # The tests above mean something only if a hidden package is really unimportable in the child process.
    code = "import importlib.util, sys; print(importlib.util.find_spec('wandb')); import wandb"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **without("wandb")}, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "None" and "ModuleNotFoundError" in out.stderr
