"""Each knob builds the structure docs/DESIGN.md section 2 defines; bad values fail early and say what is valid."""

import itertools
import math

import pytest
import torch
from torch import nn

from xsearch.model import ConfigError, XceptionConfig, build_model
from xsearch.model.layers import SeparableConv2d

SMALL = dict(width=0.125, middle_depth=1, num_classes=10, stem_stride=1, stem_padding=1)


def units(model):
    return [m for m in model.modules() if isinstance(m, SeparableConv2d)]


def first_unit(model):
    return units(model)[0]  # entry block 2, 64 -> 128 channels at the paper's widths


def test_depthwise_first_runs_the_spatial_step_on_input_channels():
    spatial, pointwise = first_unit(build_model())
    assert (spatial.kernel_size, spatial.in_channels, spatial.out_channels, spatial.groups) == ((3, 3), 64, 64, 64)
    assert (pointwise.kernel_size, pointwise.in_channels, pointwise.out_channels) == ((1, 1), 64, 128)


def test_pointwise_first_puts_the_1x1_first_and_the_spatial_step_on_output_channels():
    pointwise, spatial = first_unit(build_model(op_order="pointwise_first", segments=4))
    assert (pointwise.kernel_size, pointwise.in_channels, pointwise.out_channels) == ((1, 1), 64, 128)
    assert (spatial.kernel_size, spatial.in_channels, spatial.out_channels, spatial.groups) == ((3, 3), 128, 128, 4)


@pytest.mark.parametrize("segments", [1, 2, 4, 8])
def test_segments_set_the_groups_of_every_spatial_step(segments):
    model = build_model(segments=segments, middle_depth=1)
    assert all(u[0].groups == segments for u in units(model))


@pytest.mark.parametrize("name,kind", [("relu", nn.ReLU), ("elu", nn.ELU), ("gelu", nn.GELU), ("silu", nn.SiLU)])
def test_mid_activation_sits_between_the_two_steps(name, kind):
    steps = list(first_unit(build_model(mid_activation=name, **SMALL)))
    assert [type(s) for s in steps] == [nn.Conv2d, kind, nn.Conv2d]


def test_mid_norm_adds_a_batch_norm_before_the_activation():
    steps = list(first_unit(build_model(mid_norm=True, mid_activation="relu", op_order="pointwise_first", **SMALL)))
    assert [type(s) for s in steps] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d]
    assert steps[1].num_features == steps[0].out_channels


def test_regular_replaces_each_separable_conv_by_one_3x3():
    model = build_model(conv="regular", middle_depth=1)
    assert not units(model)
    block = model.entry[0].body
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.in_channels, c.out_channels, c.groups) for c in convs] == [
        ((3, 3), 64, 128, 1), ((3, 3), 128, 128, 1)]


def test_residual_off_removes_every_shortcut():
    model = build_model(residual=False, **SMALL)
    blocks = [*model.entry, *model.middle, *model.exit]
    assert all(b.shortcut is None for b in blocks)
    x = torch.randn(1, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        block = model.middle[0]
        h = model.entry(model.stem(x))
        assert torch.equal(block(h), block.body(h))


def test_residual_on_has_conv_shortcuts_where_shape_changes_and_identity_in_the_middle():
    model = build_model(**SMALL)
    assert all(isinstance(b.shortcut[0], nn.Conv2d) and b.shortcut[0].stride == (2, 2) for b in model.entry)
    assert isinstance(model.middle[0].shortcut, nn.Identity)
    assert isinstance(model.exit[0].shortcut[0], nn.Conv2d)
    assert model.exit[1].shortcut is None  # block 14 has none in the paper


def test_regular_ignores_and_records_the_separable_only_knobs():
    plain = build_model(conv="regular", **SMALL)
    odd = build_model(conv="regular", segments=3, op_order="pointwise_first", mid_activation="elu", mid_norm=True,
                      **SMALL)
    assert odd.spec == plain.spec  # segments=3 would otherwise round channels to multiples of 3
    assert odd.spec.not_applicable == ("segments", "op_order", "mid_activation", "mid_norm")
    assert build_model(**SMALL).spec.not_applicable == ()


def test_layers_report_the_widths_and_groups_actually_built():
    model = build_model(**{**SMALL, "width": 0.25}, segments=3, op_order="pointwise_first")
    built = [(u[0].in_channels, u[-1].out_channels, u[-1].groups) for u in units(model)]
    logged = [(r["c_in"], r["c_out"], r["groups"]) for r in model.spec.layers() if r["type"] == "separable"]
    assert built == logged
    assert all(r["c_out"] % 3 == 0 for r in model.spec.layers()[:-1])


def test_stem_adapts_to_small_inputs():
    model = build_model(**SMALL)
    assert model.stem(torch.randn(1, 3, 32, 32)).shape[-2:] == (32, 32)
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape[-2:] == (2, 2)


GRID = list(itertools.product(
    ("separable", "regular"), ("depthwise", 1, 3), ("depthwise_first", "pointwise_first"),
    ("none", "elu", "gelu"), (False, True), (False, True)))


@pytest.mark.parametrize("conv,segments,op_order,mid_activation,mid_norm,residual", GRID)
def test_forward_and_backward_across_the_grid(conv, segments, op_order, mid_activation, mid_norm, residual):
    torch.manual_seed(0)
    model = build_model(conv=conv, segments=segments, op_order=op_order, mid_activation=mid_activation,
                        mid_norm=mid_norm, residual=residual, **SMALL)
    x = torch.randn(2, 3, 32, 32)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([1, 7]))
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_channels_last_and_bf16_autocast():
    torch.manual_seed(0)
    model = build_model(**SMALL).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        fast = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), reference, rtol=0.1, atol=0.1)


@pytest.mark.parametrize("knob,value,valid", [
    ("segments", 0, "'depthwise' or an integer >= 1"),
    ("segments", -2, "'depthwise' or an integer >= 1"),
    ("segments", 2.5, "'depthwise' or an integer >= 1"),
    ("segments", "pointwise", "'depthwise' or an integer >= 1"),
    ("segments", True, "'depthwise' or an integer >= 1"),
    ("width", 0, "a finite number > 0"),
    ("width", -0.5, "a finite number > 0"),
    ("width", float("nan"), "a finite number > 0"),
    ("width", float("inf"), "a finite number > 0"),
    ("op_order", "sideways", "one of depthwise_first, pointwise_first"),
    ("mid_activation", "tanh", "one of none, relu, elu, gelu, silu"),
    ("conv", "dense", "one of separable, regular"),
    ("middle_depth", -1, "an integer >= 0"),
    ("num_classes", 0, "an integer >= 1"),
    ("stem_stride", 0, "an integer >= 1"),
    ("residual", "yes", "true or false"),
    ("dropout", 1.0, "a number in [0, 1)"),
])
def test_invalid_values_name_the_knob_the_value_and_what_is_valid(knob, value, valid):
    with pytest.raises(ConfigError) as error:
        XceptionConfig(**{knob: value})
    message = str(error.value)
    assert f"model.{knob}={value!r}" in message
    assert valid in message


def test_unknown_knob_is_named_with_the_valid_ones():
    with pytest.raises(ConfigError, match=r"model\.segmnets is not a key of model: did you mean segments\? "
                                          r"\(valid: .*segments"):
        XceptionConfig.from_mapping({"segmnets": 4})


def test_hydra_null_activation_means_none():
    assert XceptionConfig(mid_activation=None).mid_activation == "none"
