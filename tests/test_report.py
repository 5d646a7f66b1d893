"""`python -m xsearch.report`: the report of one small real sweep, checked against the study; edge cases on
studies built directly with Optuna (one trial, running and queued trials, pruned and retried ones, no study)."""

import contextlib
import csv
import io
import json
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import processes
import pytest
import wandb_records
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from xsearch import contract
from xsearch.outcomes import Outcomes
from xsearch.report import NoStudyError, write_report
from xsearch.studies.lock import file_lock

ROOT = Path(__file__).resolve().parents[1]
STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
          TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
# The spectrum's two ends that fit the budget x both op orders x 2 seeds: 8 trials of 2 tiny epochs, two at a
# time. segments=1 is over the params limit, so its 4 trials fail at once, before training (no summary.json).
SWEEP = ["+sweep=separability", "sweep.name=spectrum", "sweep.space.model.segments=[1,4,depthwise]",
         "sweep.space.seed=[0,1]", "sweep.limits.params=1000000", "sweep.workers=2", "trainer.max_epochs=2",
         "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "model.width=0.125",
         "model.middle_depth=1", "data.batch_size=16", "model.budget=null", "logger=wandb"]


@pytest.fixture(scope="module")
def sweep(shared_dir):
    """The sweep and its report, made once for the whole run: under pytest-xdist, the first worker to get here
    makes them while any other waits on the lock, then reads them (a second report would add a W&B run)."""
    root, made = shared_dir / "report-sweep", shared_dir / "report-sweep.printed"
    with file_lock(shared_dir / "report-sweep.lock"):
        if not made.exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker that failed here before left a partial sweep
            out = processes.xsearch(*SWEEP, f"sweep.dir={root}", timeout=400)
            assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                write_report(root)
            made.write_text(printed.getvalue())
    study = optuna.load_study(study_name="spectrum", storage=f"sqlite:///{root / 'study.db'}")
    return {"root": root, "report": root / contract.REPORT_DIR, "study": study, "printed": made.read_text()}


def plots(report: Path) -> dict:
    return {p["name"]: p for p in json.loads((report / "plots.json").read_text())}


def rows(report: Path) -> list[dict]:
    with open(report / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def summaries(root: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in (root / "trials").glob("*/summary.json")}


@pytest.mark.slow
def test_the_table_has_one_row_per_trial_matching_the_study(sweep):
    table, trials = rows(sweep["report"]), sweep["study"].trials
    assert [int(r["number"]) for r in table] == [t.number for t in trials]
    by_number = summaries(sweep["root"])
    for row, trial in zip(table, trials):
        assert row["state"] == STATES[trial.state]
        assert {k: row[k] for k in trial.params} == {k: str(v) for k, v in trial.params.items()}
        if trial.state == TrialState.COMPLETE:
            summary = by_number[trial.number]
            assert float(row["value"]) == trial.value == float(row["best/val/acc"])
            assert row["wandb_id"] == summary["wandb"]["id"]
            assert row["knob.segments"] == str(summary["model"]["segments"])
            assert int(row["params"]) == summary["params"] and int(row["epochs"]) == 2
            assert {"final/val/loss", "best/val/acc5"} <= set(row) and row["reason"] == ""
        else:  # over the params limit: failed before training, its cost known from the budget check
            assert trial.state == TrialState.FAIL and trial.params["model.segments"] == 1
            assert row["reason"].startswith("over budget: params") and row["value"] == "" and row["wandb_id"] == ""
            assert int(row["params"]) == trial.user_attrs["params_count"] > 1_000_000
    for row in table:  # each complete trial's test accuracy, scored once, with that seed's interval on its images
        if row["state"] == "complete":
            test = by_number[int(row["number"])]["test"]
            assert float(row["test/acc"]) == test["acc"] and int(row["test_images"]) == test["images"]
            assert int(row["test/epoch"]) == test["epoch"] and row["image_set"] == test["image_set"]
            assert float(row["test_low"]) <= float(row["test/acc"]) <= float(row["test_high"])
    assert "trials (8 complete, 4 failed)" in sweep["printed"] and "### Best trials by val/acc" in sweep["printed"]
    headline = r"\*\*\d+ comparisons at 2 seeds a point on \d+ test images: \d+ distinguishable, \d+ equivalent"
    assert re.search(headline, sweep["printed"])
    best = max(t.value for t in trials if t.value is not None)
    assert f"| {best:.4f} |" in sweep["printed"]


@pytest.mark.slow
def test_the_spectrum_has_one_series_per_op_order_at_the_swept_segments(sweep):
    spectrum = plots(sweep["report"])["spectrum"]
    assert spectrum["path"] and spectrum["data"]["positions"] == {"4": 4, "depthwise": 8}  # one octave past 4
    series = spectrum["data"]["series"]
    assert set(series) == {"op_order=depthwise_first", "op_order=pointwise_first"}
    by_number = summaries(sweep["root"])
    for label, line in series.items():
        assert [p["segments"] for p in line] == [4, "depthwise"] and [p["seeds"] for p in line] == [2, 2]
        for point in line:  # the mean of the trials' test accuracies, within its 95% interval over seeds and images
            accuracies = [s["test"]["acc"] for s in by_number.values() if s["status"] == "complete"
                          and f"op_order={s['model']['op_order']}" == label
                          and s["model"]["segments"] == point["segments"]]
            assert sorted(point["accuracies"]) == pytest.approx(sorted(accuracies))
            assert point["mean"] == pytest.approx(statistics.fmean(accuracies))
            assert 0 <= point["interval"]["low"] <= point["mean"] <= point["interval"]["high"] <= 1


@pytest.mark.slow
def test_the_pareto_front_is_exactly_the_non_dominated_trials(sweep):
    pareto = plots(sweep["report"])["pareto"]
    points = {n: s for n, s in summaries(sweep["root"]).items() if s["status"] == "complete"}
    for cost in ("params", "flops"):
        expected = sorted(
            n for n, s in points.items()
            if not any(o[cost] <= s[cost] and o["test"]["acc"] >= s["test"]["acc"]
                       and (o[cost] < s[cost] or o["test"]["acc"] > s["test"]["acc"]) for o in points.values()))
        assert pareto["data"][cost]["pareto"] == expected
        assert len(pareto["data"][cost]["points"]) == len(points) == 8


@pytest.mark.slow
def test_each_error_edf_rises_monotonically_from_zero_to_one(sweep):
    edfs = {p["data"]["key"]: p for name, p in plots(sweep["report"]).items() if name.startswith("edf_")}
    assert set(edfs) == {"model.segments", "model.op_order", "seed"}  # segments=1 never completed: only 4, depthwise
    for plot in edfs.values():
        assert Path(plot["path"]).is_file()
        curves = plot["data"]["curves"]
        assert sum(c["n"] for c in curves.values()) == 8
        for curve in curves.values():
            assert curve["F"][0] == 0 and curve["F"][-1] == 1
            assert all(a <= b for a, b in zip(curve["F"], curve["F"][1:]))
            assert all(a <= b for a, b in zip(curve["error"], curve["error"][1:]))
            assert curve["min"] == curve["error"][0] and 0 <= curve["min"] <= curve["mean"] <= 1


@pytest.mark.slow
def test_importance_and_learning_curves_come_from_the_study_and_the_summaries(sweep):
    drawn = plots(sweep["report"])
    importance = drawn["importance"]["data"]
    assert importance["method"] == "fANOVA" and set(importance["importances"]) == {"model.segments",
                                                                                   "model.op_order", "seed"}
    assert sum(importance["importances"].values()) == pytest.approx(1)
    curves = drawn["curves"]["data"]
    complete = {t.number: t.value for t in sweep["study"].trials if t.state == TrialState.COMPLETE}
    assert len(curves["best"]) == 5 and set(map(int, curves["best"])) <= set(complete)
    assert min(complete[int(n)] for n in curves["best"]) >= sorted(complete.values())[-5]
    assert all(c["epoch"] == [1, 2] and len(c["val/acc"]) == 2 for c in curves["best"].values())


@pytest.mark.slow
def test_the_page_embeds_every_png_and_is_self_contained(sweep):
    report = sweep["report"]
    page = (report / "index.html").read_text()
    pngs = list(report.glob("*.png"))
    assert len(pngs) == 8  # points, spectrum, pareto, 3 EDFs, importance, curves
    assert page.count("data:image/png;base64,") == len(pngs)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<tr>") >= 12 + 1 and "over budget: params" in page


@pytest.mark.slow
def test_the_wandb_summary_run_holds_the_table_and_the_plots(sweep):
    # The sweep's driver already reported once; the fixture's own call made the newest run.
    path = wandb_records.latest_offline_run(sweep["report"].parent)  # beside the trials' runs
    run = next(r.run for r in wandb_records.records(path) if r.WhichOneof("record_type") == "run")
    assert (run.run_group, run.job_type, run.project) == ("spectrum", "report", "xsearch")
    summary = wandb_records.summary(path)
    assert summary["trials/_type"] == "table-file" and summary["trials/nrows"] == 12
    logged = json.loads((path.parent / "files" / summary["trials/path"]).read_text())
    table = rows(sweep["report"])
    assert logged["columns"] == list(table[0])
    assert [str(r[0]) for r in logged["data"]] == [r["number"] for r in table]
    assert {k.split("/")[1] for k in summary if k.startswith("plots/") and k.endswith("/_type")} == {
        p.stem for p in sweep["report"].glob("*.png")}
    assert wandb_records.config(path)["study"] == "spectrum"


@pytest.mark.slow
def test_optuna_dashboard_and_optunas_plots_show_the_objective_by_name(sweep):
    import warnings
    from wsgiref.util import setup_testing_defaults

    import matplotlib
    import optuna_dashboard

    app = optuna_dashboard.wsgi(f"sqlite:///{sweep['root'] / 'study.db'}")

    def get(path):  # the JSON the dashboard's page reads, straight from its WSGI app
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
        setup_testing_defaults(environ)
        return json.loads(b"".join(app(environ, lambda status, headers, exc_info=None: None)))

    study_id = next(s["study_id"] for s in get("/api/studies")["study_summaries"] if s["study_name"] == "spectrum")
    assert get(f"/api/studies/{study_id}")["objective_names"] == ["val/acc"]  # not "Objective 0"
    matplotlib.use("Agg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = optuna.visualization.matplotlib.plot_param_importances(sweep["study"])
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["val/acc"]


@pytest.mark.slow
def test_one_printed_command_uploads_the_whole_offline_sweep(sweep):
    command = next(line.split(": ", 2)[-1] for line in sweep["printed"].splitlines() if "wandb sync" in line)
    trial_runs = {json.loads(p.read_text())["wandb"]["id"] for p in sweep["root"].glob("trials/*/summary.json")}
    assert command == f"wandb sync {sweep['root'] / 'wandb'}" and trial_runs  # every trial that trained has one
    listed = subprocess.run([*shlex.split(command), "--dry-run"], capture_output=True, text=True, timeout=120)
    shown = listed.stdout + listed.stderr
    # Every trial's run and both report runs (the driver's and the fixture's), from the one folder.
    assert f"Would sync {len(trial_runs) + 2} run(s)" in shown, shown
    assert all(run_id in shown for run_id in trial_runs)


# --- studies made directly with Optuna ---------------------------------------------------------------

ORDERS = CategoricalDistribution(["depthwise_first", "pointwise_first"])
SEGMENTS = CategoricalDistribution([2, 8, "depthwise"])
SEEDS = CategoricalDistribution([0, 1, 2])


def outcome_bits(accuracy: float, images: int, seed: int, *, noise: float = 0.1) -> np.ndarray:
    """Which of `images` test images a trial got right, about `accuracy` of them: image i is hard in proportion to
    i (every trial shares that), and a seed moves each image's luck by up to `noise`."""
    difficulty = (np.arange(images) + 0.5) / images
    luck = np.random.default_rng(seed).uniform(-noise, noise, images)
    return difficulty + luck < accuracy


def scored_outcomes(accuracy: float, images: int, seed: int, image_set: str = "made", **kw) -> dict:
    """A trial's per-image outcomes as the sweep stores them in the study."""
    return Outcomes(image_set, outcome_bits(accuracy, images, seed, **kw)).to_attr()


def trial_files(trial_dir: Path, *, status: str | None, accuracies: list[float], segments, op_order,
                val_images: int = 2000) -> None:
    """What a trial's process leaves behind once it ends: summary.json, its history one record per epoch."""
    trial_dir.mkdir(parents=True)
    if status is None:
        return
    epochs = [{"epoch": e, "val/acc": a, "val/loss": 1 - a, "val_images": val_images} for e, a in enumerate(accuracies)]
    best = max(epochs, key=lambda e: e["val/acc"]) if epochs else None
    params = 1000 * (10 if segments == "depthwise" else 100 // segments)
    summary = {"status": status, "error": "training loss is nan" if status == "failed" else None,
               "monitor": "val/acc", "objective": best and best["val/acc"], "final": epochs[-1] if epochs else None,
               "best": best, "epochs": len(epochs), "history": epochs, "params": params, "flops": 50 * params,
               "model": {"conv": "separable", "segments": segments, "op_order": op_order, "width": 0.25},
               "not_applicable": [], "wall_time_s": 1.5, "wandb": None}
    (trial_dir / "summary.json").write_text(json.dumps(summary))


def add(study, root, number, state, *, segments, op_order, seed, accuracies, attrs=None, val_images=2000,
        retry_of=None, test_images=2000, image_set="made"):
    """A trial as the sweep leaves it; a complete or pruned one was scored on `test_images` at its best epoch."""
    trial_dir = root / "trials" / str(number)
    status = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}
    trial_files(trial_dir, status=status.get(state), accuracies=accuracies, segments=segments, op_order=op_order,
                val_images=val_images)
    best = max(accuracies) if accuracies else None
    scored = ({contract.TEST_OUTCOMES: scored_outcomes(best, test_images, seed, image_set)}
              if state in (TrialState.COMPLETE, TrialState.PRUNED) and best is not None else {})
    study.add_trial(optuna.trial.create_trial(
        state=state, value=best if state == TrialState.COMPLETE else None,
        params={"model.segments": segments, "model.op_order": op_order, "seed": seed},
        distributions={"model.segments": SEGMENTS, "model.op_order": ORDERS, "seed": SEEDS},
        user_attrs={"dir": str(trial_dir), **scored, **(attrs or {})},
        system_attrs={"failed_trial": retry_of, "retry_history": [retry_of]} if retry_of is not None else None,
        intermediate_values=dict(enumerate(accuracies)) if state == TrialState.PRUNED else None))


def new_study(root: Path, name: str = "made") -> optuna.Study:
    root.mkdir(parents=True, exist_ok=True)
    return optuna.create_study(study_name=name, storage=f"sqlite:///{root / 'study.db'}", direction="maximize")


def test_a_study_with_pruned_failed_retried_surplus_running_and_queued_trials(tmp_path):
    study = new_study(tmp_path)
    grid = [(2, "depthwise_first"), (8, "depthwise_first"), ("depthwise", "depthwise_first"),
            (2, "pointwise_first"), (8, "pointwise_first"), ("depthwise", "pointwise_first")]
    for number, (segments, op_order) in enumerate(grid):  # trials 0-5: complete
        add(study, tmp_path, number, TrialState.COMPLETE, segments=segments, op_order=op_order, seed=0,
            accuracies=[0.3 + 0.05 * number, 0.5 + 0.04 * number])
    add(study, tmp_path, 6, TrialState.PRUNED, segments=2, op_order="pointwise_first", seed=1,
        accuracies=[0.1, 0.12])
    add(study, tmp_path, 7, TrialState.FAIL, segments=8, op_order="pointwise_first", seed=1, accuracies=[0.2],
        attrs={"failure_reason": "training loss is nan"})
    add(study, tmp_path, 8, TrialState.FAIL, segments=8, op_order="depthwise_first", seed=1, accuracies=[],
        attrs={"failure_reason": "trial process killed by SIGKILL"})
    add(study, tmp_path, 9, TrialState.COMPLETE, segments=8, op_order="depthwise_first", seed=1,
        accuracies=[0.4, 0.6], retry_of=8,
        attrs={"retry_reason": "trial process killed by SIGKILL"})
    add(study, tmp_path, 10, TrialState.FAIL, segments=2, op_order="depthwise_first", seed=2, accuracies=[],
        attrs={"surplus": True})
    running = study.ask({"model.segments": SEGMENTS, "model.op_order": ORDERS, "seed": SEEDS})  # 11: training
    trial_files(tmp_path / "trials" / "11", status=None, accuracies=[0.2], segments=2, op_order="depthwise_first")
    running.set_user_attr("dir", str(tmp_path / "trials" / "11"))
    study.enqueue_trial({"model.segments": 2, "model.op_order": "pointwise_first", "seed": 2})  # 12: queued

    report = write_report(tmp_path, wandb=False)
    table = {int(r["number"]): r for r in rows(report)}
    assert sorted(table) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]  # the surplus trial is left out
    assert [table[n]["state"] for n in (6, 7, 8, 9, 11, 12)] == ["pruned", "failed", "failed", "complete",
                                                                 "running", "waiting"]
    assert table[7]["reason"] == "training loss is nan" and table[8]["retried_by"] == "9"
    assert table[9]["retry_of"] == "8" and table[11]["value"] == ""
    assert (table[12]["model.segments"], table[12]["seed"]) == ("2", "2")  # a queued trial shows what it will run
    drawn = plots(report)
    series = drawn["spectrum"]["data"]["series"]
    assert drawn["spectrum"]["data"]["positions"] == {"2": 2, "8": 8, "depthwise": 16}
    assert [p["segments"] for p in series["op_order=pointwise_first"]] == [2, 8, "depthwise"]
    assert [p["seeds"] for p in series["op_order=depthwise_first"]] == [1, 2, 1]  # trial 9 joins 8 segments
    assert list(drawn["curves"]["data"]["pruned"]) == ["6"]
    assert drawn["curves"]["data"]["pruned"]["6"]["val/acc"] == [0.1, 0.12]
    assert drawn["importance"]["path"] and drawn["pareto"]["data"]["params"]["pareto"]
    summary = (report / "summary.md").read_text()
    assert "7 complete, 1 pruned, 2 failed, 1 running, 1 waiting" in summary
    assert "trial 8: trial process killed by SIGKILL (re-run as trial 9)" in summary


def test_a_one_trial_study_reports_and_says_why_plots_are_missing(tmp_path):
    study = new_study(tmp_path, "single")
    add(study, tmp_path, 0, TrialState.COMPLETE, segments=2, op_order="depthwise_first", seed=0,
        accuracies=[0.5, 0.7])
    report = write_report(tmp_path, wandb=False)
    assert [r["state"] for r in rows(report)] == ["complete"]
    drawn = plots(report)
    assert "did not vary segments" in drawn["spectrum"]["skipped"]
    assert "a front needs at least 2" in drawn["pareto"]["skipped"]
    assert "varied no categorical knob" in drawn["edf"]["skipped"]
    assert "importance needs at least" in drawn["importance"]["skipped"]
    assert drawn["curves"]["path"] and drawn["curves"]["data"]["best"]["0"]["val/acc"] == [0.5, 0.7]
    page = (report / "index.html").read_text()
    assert page.count("Not drawn:") == 4 and page.count("data:image/png;base64,") == len(list(report.glob("*.png")))


def test_a_study_still_starting_has_only_a_running_trial(tmp_path):
    study = new_study(tmp_path, "starting")
    study.ask({"seed": SEEDS})
    report = write_report(tmp_path, wandb=False)
    assert [(r["number"], r["state"]) for r in rows(report)] == [("0", "running")]
    assert "No trial has completed yet." in (report / "summary.md").read_text()
    assert not list(report.glob("*.png")) and (report / "index.html").read_text().count("Not drawn:") == 6


@pytest.mark.slow
def test_a_path_without_a_study_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist: expected a sweep directory"):
        write_report(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=f"no study in {tmp_path}: expected {tmp_path / 'study.db'}"):
        write_report(tmp_path)
    assert not (tmp_path / "study.db").exists()  # nothing created by looking
    out = processes.run([sys.executable, "-m", "xsearch.report", str(tmp_path), "--no-wandb"], timeout=120)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"xsearch report: error: no study in {tmp_path}: expected {tmp_path / 'study.db'} (the SQLite study of "
        "python -m xsearch +sweep=<name>); for another storage pass --storage URL"]
    for name in ("first", "second"):
        new_study(tmp_path, name)
    with pytest.raises(NoStudyError, match=r"holds 2 studies \(first, second\): choose one with --study NAME"):
        write_report(tmp_path, wandb=False)
    with pytest.raises(NoStudyError, match="no study 'third' in .* it holds first, second"):
        write_report(tmp_path, study_name="third", wandb=False)
    assert write_report(tmp_path, study_name="second", wandb=False) == tmp_path / "report"
