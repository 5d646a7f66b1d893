"""docs/RESULTS.md's tables are the study's: the committed records (the journal, each trial's summary and
per-image outcomes) give exactly the committed tables, so every figure there can be recomputed."""

from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend

from xsearch.report import blocks
from xsearch.report.records import sweep_data
from xsearch.report.verdicts import findings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
STUDIES = ("questions", "questions_longer")  # each fills its own blocks; the longer one once it has run


def test_the_committed_records_reproduce_the_committed_tables():
    document = (ROOT / "docs" / "RESULTS.md").read_text()
    assert len(blocks.BLOCK.findall(document)) >= 10  # the tables are generated, not typed
    studies = [name for name in STUDIES if (RESULTS / name / "study.journal").is_file()]
    assert studies[0] == "questions"
    for name in studies:
        journal = RESULTS / name / "study.journal"
        study = optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(
            JournalFileBackend(str(journal))))
        data = sweep_data(study, str(journal), RESULTS / name)
        assert blocks.fill(document, findings(data), data, ROOT / "docs") == document, name
