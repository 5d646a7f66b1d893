"""The family's closed test: each comparison's two nulls ("no difference", "at least the resolution") cannot both
be true, so the family has at most one true null a comparison. Checked against the definition of closed testing,
enumerated over every intersection of nulls that could be true together."""

import itertools
import random

import pytest

from xsearch.inference import family


def closed_by_definition(p_differs, p_within):
    """Adjusted p of each hypothesis: the largest Bonferroni p (|I| x min p) over the consistent intersections I
    that hold it (at most one null of each comparison)."""
    hypotheses = [(c, kind) for c in range(len(p_differs)) for kind in (0, 1)]
    p = {(c, 0): p_differs[c] for c in range(len(p_differs))} | {(c, 1): p_within[c] for c in range(len(p_within))}
    adjusted = {}
    for h in hypotheses:
        worst = 0.0
        others = [c for c in range(len(p_differs)) if c != h[0]]
        for choice in itertools.product((None, 0, 1), repeat=len(others)):
            members = [h] + [(c, k) for c, k in zip(others, choice) if k is not None]
            worst = max(worst, min(1.0, len(members) * min(p[m] for m in members)))
        adjusted[h] = worst
    return [adjusted[(c, 0)] for c in range(len(p_differs))], [adjusted[(c, 1)] for c in range(len(p_within))]


def test_the_shortcut_is_the_closed_test_on_random_families():
    rng = random.Random(0)
    for _ in range(200):
        k = rng.randint(1, 5)
        p_differs = [rng.choice([rng.random(), rng.random() * 0.02, 1.0]) for _ in range(k)]
        p_within = [rng.choice([rng.random(), rng.random() * 0.02, 1.0]) for _ in range(k)]
        assert family.adjusted(p_differs, p_within) == tuple(
            pytest.approx(x, abs=1e-15) for x in closed_by_definition(p_differs, p_within))


def test_a_family_of_k_comparisons_counts_k_nulls_not_2k():
    # Thirteen comparisons, every equivalence p value 1 (as in the questions study): Holm over all 26 hypotheses
    # tested the smallest at alpha / 26; the closed test tests it at alpha / 13.
    p_differs = [0.003] + [0.5] * 12
    differs, within = family.adjusted(p_differs, [1.0] * 13)
    assert differs[0] == pytest.approx(13 * 0.003) and differs[0] < 0.05 < 26 * 0.003
    assert within == [1.0] * 13


def test_a_comparison_distinguishable_and_equivalent_at_once_frees_its_slot():
    # A clear difference well inside the margin: both of its nulls are rejected, so it holds no true null and
    # the other comparison is tested against one slot.
    differs, within = family.adjusted([0.001, 0.03], [0.002, 0.9])
    assert differs[0] == pytest.approx(0.002) and within[0] == pytest.approx(0.004)
    assert differs[1] == pytest.approx(0.03)


def test_mismatched_lists_are_refused():
    with pytest.raises(ValueError, match="both p values"):
        family.adjusted([0.1], [0.1, 0.2])
