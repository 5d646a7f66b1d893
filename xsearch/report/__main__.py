"""`python -m xsearch.report sweeps/<name> [--storage URL] [--study NAME] [--no-wandb] [--fill FILE.md ...]`.

Bad input (no such directory, no study in it, an unknown study) exits with
status 2 and one line saying what was expected, like a bad override does.
"""

from __future__ import annotations

import argparse
import sys

from xsearch.report import NoStudyError, write_report
from xsearch.report.blocks import UnknownBlock


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m xsearch.report",
                                     description="Write the report of a sweep: trials.csv, plots, index.html "
                                                 "and a W&B summary run, into <sweep dir>/report/.")
    parser.add_argument("sweep_dir", help="the sweep's directory, e.g. sweeps/separability")
    parser.add_argument("--storage", help="the study's storage URL (default: sqlite:///<sweep_dir>/study.db)")
    parser.add_argument("--study", dest="study_name", help="the study's name (default: the only one in storage)")
    parser.add_argument("--no-wandb", dest="wandb", action="store_false", help="do not log a W&B summary run")
    parser.add_argument("--fill", nargs="+", default=[], metavar="FILE",
                        help="Markdown files whose <!-- xsearch:... --> blocks to rewrite from the study")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    try:
        write_report(args.sweep_dir, storage=args.storage, study_name=args.study_name, wandb=args.wandb,
                     fill=args.fill)
    except (FileNotFoundError, NotADirectoryError, NoStudyError, UnknownBlock) as error:
        print(f"xsearch report: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
