"""How a study's comparisons share one error rate: a closed test over the verdicts' hypotheses that counts their
logical structure.

Each comparison carries two null hypotheses: "no difference" (rejected: distinguishable) and "a difference of at
least the resolution" (rejected: equivalent). At most one of the two is true, so of a family of K comparisons at
most K nulls are true, not 2K. Closed testing (Marcus, Peritz and Gabriel 1976) with Bonferroni's test of each
intersection rejects a hypothesis when every intersection of nulls that could be true together and holds it is
rejected. Those intersections take at most one null of each comparison, so the hardest for hypothesis h of
comparison c holds h and, from some of the other comparisons, each one's null with the larger p value: h is
rejected exactly when Holm's procedure rejects it among those K p values. That is Shaffer's (1986) improvement
of Holm's for this family: it controls the chance of any false verdict, of either kind, at alpha.
"""

from __future__ import annotations

from collections.abc import Sequence


def adjusted(p_differs: Sequence[float], p_within: Sequence[float]) -> tuple[list[float], list[float]]:
    """Each hypothesis's adjusted p value (the least family error rate at which the closed test rejects it), for
    the comparisons' "no difference" and "at least the resolution" p values, in their order."""
    if len(p_differs) != len(p_within):
        raise ValueError(f"each comparison needs both p values: {len(p_differs)} and {len(p_within)}")
    harder = [max(d, w) for d, w in zip(p_differs, p_within)]  # each comparison's null that is harder to reject

    def one(index: int, p: float) -> float:
        # The intersections holding h: h plus the k other comparisons with the largest `harder` p values. Each is
        # rejected at (k + 1) x its least p value; h's adjusted p is the largest of these.
        others = sorted((q for j, q in enumerate(harder) if j != index), reverse=True)
        worst, least = p, p
        for k, q in enumerate(others, start=1):
            least = min(least, q)
            worst = max(worst, (k + 1) * least)
        return min(1.0, worst)

    return [one(i, p) for i, p in enumerate(p_differs)], [one(i, p) for i, p in enumerate(p_within)]
