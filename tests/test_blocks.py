"""`python -m xsearch.report <dir> --fill FILE`: the tables a document keeps in step with a study are rewritten
from it, the prose around them is kept, and a block naming something the study cannot have is an error."""

import re
import time
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState
from test_report import add, new_study

from xsearch import contract
from xsearch.inference.comparisons import label
from xsearch.inference.sequential import Record
from xsearch.report import blocks
from xsearch.report.__main__ import main
from xsearch.report.records import running_span, sweep_data
from xsearch.report.verdicts import findings
from xsearch.sweep.bookkeeping import fail_silent_trials

PROSE = "Typed by hand: kept.\n"
DOCUMENT = (PROSE + "<!-- xsearch:headline -->stale<!-- /xsearch -->\n"
            "<!-- xsearch:points -->\nstale\n<!-- /xsearch -->\n"
            "8: <!-- xsearch:compare segments=8 vs Xception (the paper's point) --><!-- /xsearch -->\n"
            "2: <!-- xsearch:compare segments=2 vs Xception (the paper's point) --><!-- /xsearch -->\n"
            "<!-- xsearch:trials --><!-- /xsearch -->\n" + PROSE)


def study_of_two_points(tmp_path):
    """Segments 8 and depthwise, 3 seeds each, 8 a clear 10 points worse; segments=2 is in the space, unrun."""
    study = new_study(tmp_path)
    for number, (segments, seed) in enumerate((s, seed) for s in (8, "depthwise") for seed in (0, 1, 2)):
        accuracy = (0.70 if segments == 8 else 0.80) + 0.003 * seed
        add(study, tmp_path, number, TrialState.COMPLETE, segments=segments, op_order="depthwise_first", seed=seed,
            accuracies=[accuracy - 0.05, accuracy])
    return study


def test_every_block_is_rewritten_from_the_study_and_the_prose_is_kept(tmp_path, capsys):
    study_of_two_points(tmp_path)
    command = [str(tmp_path), "--storage", f"sqlite:///{tmp_path / 'study.db'}", "--no-wandb", "--fill",
               str(tmp_path / "doc.md")]
    with pytest.raises(SystemExit, match="2"):
        main(command)  # a file that is not there: an error before any work
    assert "doc.md: no such file" in capsys.readouterr().err and not (tmp_path / "report").exists()
    (tmp_path / "doc.md").write_text(DOCUMENT)
    main(command)
    filled = (tmp_path / "doc.md").read_text()
    assert filled.startswith(PROSE) and filled.endswith(PROSE) and "stale" not in filled
    assert "1 comparison at 3 seeds a point on 2,000 test images: 1 distinguishable" in filled
    compared = filled.split("8: ")[1].split("\n")[0]
    assert re.match(r"<!-- xsearch:compare segments=8 vs Xception \(the paper's point\) -->-(9|10|11)\.\d \[.*"
                    r"points, distinguishable<!-- /xsearch -->", compared)
    assert "2: <!-- xsearch:compare segments=2 vs Xception (the paper's point) -->not yet run" in filled
    assert filled.count("| depthwise_first |") == 0 and filled.count("| complete |") == 6  # one row a trial
    data = sweep_data(study_of_two_points(tmp_path / "again"), "made", tmp_path / "again")
    assert blocks.fill(filled, findings(data), data) == filled  # the same records give the same document


def test_the_other_way_round_flips_the_sign_and_the_interval(tmp_path):
    data = sweep_data(study_of_two_points(tmp_path), "made", tmp_path)
    found = findings(data)
    one = blocks.fill("<!-- xsearch:compare segments=8 vs Xception (the paper's point) --><!-- /xsearch -->",
                      found, data)
    other = blocks.fill("<!-- xsearch:compare Xception (the paper's point) vs segments=8 --><!-- /xsearch -->",
                        found, data)
    low, high = (float(x) for x in one.split("[")[1].split("]")[0].split(", "))
    difference = float(one.split("-->")[1].split(" [")[0])
    assert 9 < -difference < 11  # segments=8 is 10 points worse
    assert f"{-difference:+.1f} [{-high:+.1f}, {-low:+.1f}] points, distinguishable" in other


@pytest.mark.parametrize("block, named", [
    ("compare segments=3 vs Xception (the paper's point)", "no comparison 'segments=3'"),  # not in the space
    ("compare segmnts=8 vs Xception (the paper's point)", "no comparison 'segmnts=8'"),
    ("pionts", "no such table; valid: headline, sensitivity, points"),
    # both points ran, and the family does not compare them (they are not neighbours along the spectrum)
    ("compare segments=8 vs segments=8", "no comparison 'segments=8' vs 'segments=8'"),
])
def test_a_block_the_study_cannot_fill_is_an_error_naming_it(tmp_path, block, named):
    data = sweep_data(study_of_two_points(tmp_path), "made", tmp_path)
    with pytest.raises(blocks.UnknownBlock, match=named):
        blocks.fill(f"<!-- xsearch:{block} --><!-- /xsearch -->", findings(data), data)


def test_a_float_value_of_the_space_not_yet_run_is_named_as_a_point_label_names_it():
    # A point's label shows a float to 3 significant digits (lr=0.00123); a block naming it must be found in the
    # space, not rejected as a typo, while its point has not run.
    space = SimpleNamespace(choices={"optim.lr": [0.001234567, 0.01], "model.segments": [4, 8]})
    assert blocks._in_space(label({"optim.lr": 0.001234567, "model.segments": 4}), space)
    assert not blocks._in_space(label({"optim.lr": 0.002, "model.segments": 4}), space)


def test_the_looks_block_tells_a_decided_study_waiting_for_its_first_look_from_an_undecided_one(tmp_path):
    study = study_of_two_points(tmp_path)
    block = "<!-- xsearch:looks --><!-- /xsearch -->"

    def looks():
        data = sweep_data(study, "made", tmp_path)
        return blocks.fill(block, findings(data), data)

    assert "the sweep was not decided (sweep.decide=false)" in looks()
    study.set_user_attr(contract.DECIDE, Record([3, 6], 0.01).as_attr())
    assert "No look yet: the first comes once every point has its 3 planned seeds." in looks()


def test_the_wall_time_counts_each_moment_once_and_leaves_out_the_gaps_between_sittings():
    # Two workers overlapping (0-10 and 5-12), one trial inside another (6-8), then a pause and a resumed sitting.
    spans = [(5.0, 12.0), (0.0, 10.0), (6.0, 8.0), (100.0, 130.0)]
    assert blocks.busy_seconds(spans) == 12.0 + 30.0
    assert blocks.busy_seconds([]) == 0.0


def test_a_trial_whose_machine_vanished_counts_only_until_its_last_heartbeat(tmp_path):
    # A journal study's worker dies with its machine at 03:39; the next driver, an hour on, fails the silent trial
    # (the sweep's own bookkeeping): its running time ends at its last beat, not when it was found.
    study = optuna.create_study(storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.journal"))))
    trial = study.ask()
    beat = time.time()
    trial.set_user_attr(contract.BEAT, beat)
    assert fail_silent_trials(study, grace_s=0.0, max_retries=1) == [trial.number]
    found = study.trials[trial.number]
    started = found.datetime_start.timestamp()
    assert running_span(found) == (started, beat)
    assert found.datetime_complete.timestamp() > beat  # what the span would have ended at
    study.tell(study.ask(), 1.0)  # a trial that completes counts to its end, beats or not
    done = study.trials[-1]
    assert running_span(done) == (done.datetime_start.timestamp(), done.datetime_complete.timestamp())


def two_points(root, name, *, depthwise, eight):
    """Segments 8 and depthwise, 3 seeds each, at the given accuracies."""
    study = new_study(root, name)
    for number, (segments, seed) in enumerate((s, seed) for s in (8, "depthwise") for seed in (0, 1, 2)):
        accuracy = (eight if segments == 8 else depthwise) + 0.003 * seed
        add(study, root, number, TrialState.COMPLETE, segments=segments, op_order="depthwise_first", seed=seed,
            accuracies=[accuracy - 0.05, accuracy])
    return study


def test_a_longer_studys_blocks_say_whether_the_shorter_ones_order_and_verdicts_hold(tmp_path):
    # The shorter study finds depthwise 10 points better; the longer, trained more, finds segments=8 better.
    # One document holds both studies' blocks, each named by its study; each fill rewrites its own.
    two_points(tmp_path / "short", "made", depthwise=0.80, eight=0.70)
    two_points(tmp_path / "longer", "longer", depthwise=0.80, eight=0.90)
    document = ("<!-- xsearch:made/points --><!-- /xsearch -->\n"
                "<!-- xsearch:longer/agreement short --><!-- /xsearch -->\n")
    (tmp_path / "doc.md").write_text(document)
    main([str(tmp_path / "longer"), "--storage", f"sqlite:///{tmp_path / 'longer' / 'study.db'}", "--no-wandb",
          "--fill", str(tmp_path / "doc.md")])
    filled = (tmp_path / "doc.md").read_text()
    assert filled.startswith("<!-- xsearch:made/points --><!-- /xsearch -->\n")  # the other study's: untouched
    assert re.search(r"\| segments=8 \| 0\.7\d{3} \(0\.\d{4} - 0\.\d{4}\) \| 0\.9\d{3} \(0\.\d{4} - 0\.\d{4}\) \|",
                     filled)
    assert "Kendall's tau between the two orders of these 2 points: -1.00" in filled
    assert ("0 of 1 verdicts the same; changed: segments=8 vs Xception (the paper's point) (Xception (the paper's "
            "point) better -> segments=8 better)") in filled
    main([str(tmp_path / "short"), "--no-wandb", "--fill", str(tmp_path / "doc.md")])
    both = (tmp_path / "doc.md").read_text()
    assert re.search(r"\| segments=8 \| 3 \| 0\.7\d{3} \|", both) and both.endswith(filled.split("\n", 1)[1])


def test_an_agreement_block_says_the_longer_study_has_not_scored_yet_not_that_its_points_differ(tmp_path):
    two_points(tmp_path / "short", "made", depthwise=0.80, eight=0.70)
    longer = new_study(tmp_path / "longer", "longer")  # its first trial was stopped before it was scored
    add(longer, tmp_path / "longer", 0, TrialState.FAIL, segments=8, op_order="depthwise_first", seed=0,
        accuracies=[0.5])
    (tmp_path / "doc.md").write_text("<!-- xsearch:longer/agreement short --><!-- /xsearch -->\n")
    main([str(tmp_path / "longer"), "--no-wandb", "--fill", str(tmp_path / "doc.md")])
    assert "-->\nlonger has no scored trial yet.\n<!--" in (tmp_path / "doc.md").read_text()


def test_an_agreement_block_naming_no_study_folder_is_an_error_naming_it(tmp_path):
    data = sweep_data(study_of_two_points(tmp_path), "made", tmp_path)
    with pytest.raises(blocks.UnknownBlock, match=r"nowhere is no study folder"):
        blocks.fill("<!-- xsearch:agreement nowhere --><!-- /xsearch -->", findings(data), data, tmp_path)
