"""The analytic cost model agrees with the built network and with torch's flop counter; widths meet budgets."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from xsearch.model import ConfigError, XceptionConfig, build_model, cost, solve_width


def counted_macs(cfg, size):
    """Multiply-accumulates by torch's own counter, on meta tensors so nothing is allocated."""
    with torch.device("meta"):
        model = build_model(cfg)
        x = torch.empty(1, cfg.in_channels, *size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2, sum(p.numel() for p in model.parameters())


def test_default_at_299_agrees_with_the_flop_counter():
    macs, params = counted_macs(XceptionConfig(), (299, 299))
    estimate = cost(XceptionConfig())
    assert abs(estimate.flops - macs) / macs < 0.01
    assert estimate.params == params
    assert 8.3e9 < estimate.flops < 8.5e9  # docs/DESIGN.md: 8.36 GMACs


VARIANTS = [
    dict(op_order="pointwise_first", segments=4),
    dict(conv="regular", middle_depth=2),
    dict(segments=3, mid_norm=True, width=0.3),
    dict(residual=False, middle_depth=0, num_classes=10),
    dict(width=0.5, stem_stride=1, stem_padding=1, in_channels=1),
]


@pytest.mark.parametrize("knobs", VARIANTS)
@pytest.mark.parametrize("size", [(64, 64), (32, 48)])
def test_variants_agree_with_the_flop_counter_at_any_input_size(knobs, size):
    cfg = XceptionConfig(**knobs)
    macs, params = counted_macs(cfg, size)
    estimate = cost(cfg, size)
    assert estimate.flops == macs
    assert estimate.params == params


def test_an_input_too_small_for_the_stem_is_a_clear_error():
    with pytest.raises(ValueError, match="input is too small"):
        cost(XceptionConfig(), (4, 4))


SPECTRUM = [dict(segments=k, op_order=o) for k in (1, 2, 3, 4, 8) for o in ("depthwise_first", "pointwise_first")]
SPECTRUM += [dict(conv="regular"), dict(op_order="pointwise_first")]


@pytest.mark.parametrize("metric,size", [("params", (299, 299)), ("flops", (32, 32))])
@pytest.mark.parametrize("knobs", SPECTRUM)
def test_width_solving_meets_the_xception_budget(knobs, metric, size):
    cfg = XceptionConfig(num_classes=10, middle_depth=2, stem_stride=1, stem_padding=1, **knobs)
    reference = getattr(cost(XceptionConfig(num_classes=10, middle_depth=2, stem_stride=1, stem_padding=1), size),
                        metric)
    solution = solve_width(cfg, metric=metric, input_size=size)
    assert solution.target == reference
    assert abs(solution.rel_error) <= 0.02
    built = build_model(cfg.replace(width=solution.width))
    assert getattr(cost(built.spec, size), metric) == solution.achieved
    if metric == "params":
        assert sum(p.numel() for p in built.parameters()) == solution.achieved


def test_width_solving_meets_a_numeric_budget():
    solution = solve_width(XceptionConfig(segments=1, num_classes=10), metric="params", target=2_000_000)
    assert abs(solution.achieved - 2_000_000) <= 0.02 * 2_000_000
    assert solution.width < 1


def test_the_xception_budget_keeps_the_other_knobs():
    cfg = XceptionConfig(segments=2, width=0.5, middle_depth=4, num_classes=10)
    solution = solve_width(cfg)
    assert solution.target == cost(XceptionConfig(width=0.5, middle_depth=4, num_classes=10)).params
    assert solution.width < 0.5


def test_an_unreachably_small_budget_is_a_config_error_naming_the_closest_any_width_comes():
    narrowest = cost(XceptionConfig(num_classes=10, width=1e-6)).params  # every layer 1 channel wide
    with pytest.raises(ConfigError, match=rf"model.budget target params={narrowest // 3:,} cannot be met: the "
                                          rf"closest any width comes is {narrowest:,} params.*, e\.g\. target: "
                                          "xception$"):
        solve_width(XceptionConfig(num_classes=10), target=narrowest // 3)


@pytest.mark.parametrize("kwargs,match", [
    (dict(metric="latency"), "model.budget.metric='latency' is invalid: expected one of params, flops"),
    (dict(target=0), "model.budget.target=0 is invalid: expected 'xception' or a finite number > 0"),
    (dict(target="resnet"), "model.budget.target='resnet' is invalid"),
])
def test_invalid_budgets_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        solve_width(XceptionConfig(), **kwargs)
