"""docs/RESULTS.md's tables are the study's: the committed records (the journal, each trial's summary and
per-image outcomes) give exactly the committed tables, so every figure there can be recomputed."""

from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend

from xsearch.report import blocks
from xsearch.report.records import sweep_data
from xsearch.report.verdicts import findings

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "docs" / "results" / "questions"


def test_the_committed_records_reproduce_the_committed_tables():
    document = (ROOT / "docs" / "RESULTS.md").read_text()
    assert len(blocks.BLOCK.findall(document)) >= 10  # the tables are generated, not typed
    journal = STUDY / "study.journal"
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="questions", storage=storage)
    data = sweep_data(study, str(journal), STUDY)
    assert blocks.fill(document, findings(data), data) == document
