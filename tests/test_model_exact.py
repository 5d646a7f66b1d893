"""The network is the paper's Xception at its defaults, and every knob changes it exactly as docs/DESIGN.md defines.

Parameter counts are checked against a closed form written here from docs/DESIGN.md
sections 1-2, independent of the code under test; the closed form itself is
anchored on the paper's 22,855,952.
"""

import pytest
import torch
from torch import nn

from xsearch.model import XceptionConfig, build_model, cost

PAPER = (32, 64, 128, 256, 728, 1024, 1536, 2048)


def bn(c):
    return 2 * c


def unit(ci, co, *, conv="separable", segments="depthwise", op_order="depthwise_first", mid_norm=False):
    """Parameters at one SepConv position of the paper."""
    if conv == "regular":
        return 9 * ci * co
    c = ci if op_order == "depthwise_first" else co  # channels of the 3x3 step
    groups = c if segments == "depthwise" else segments
    return 9 * c * (c // groups) + ci * co + (bn(c) if mid_norm else 0)


def xception_params(*, classes=1000, depth=8, residual=True, ch=PAPER, in_ch=3, **u):
    c32, c64, c128, c256, c728, c1024, c1536, c2048 = ch
    n = 9 * in_ch * c32 + bn(c32) + 9 * c32 * c64 + bn(c64)
    prev = c64
    for c in (c128, c256, c728):  # entry blocks 2-4
        n += unit(prev, c, **u) + bn(c) + unit(c, c, **u) + bn(c)
        n += prev * c + bn(c) if residual else 0
        prev = c
    n += depth * 3 * (unit(c728, c728, **u) + bn(c728))
    n += unit(c728, c728, **u) + bn(c728) + unit(c728, c1024, **u) + bn(c1024)  # exit block 13
    n += c728 * c1024 + bn(c1024) if residual else 0
    n += unit(c1024, c1536, **u) + bn(c1536) + unit(c1536, c2048, **u) + bn(c2048)  # exit block 14
    return n + c2048 * classes + classes


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def meta_model(**knobs):
    with torch.device("meta"):
        return build_model(**knobs)


def test_closed_form_matches_the_paper():
    assert xception_params() == 22_855_952
    assert xception_params() - (2048 * 1000 + 1000) == 20_806_952


def test_default_is_the_papers_xception():
    model = meta_model()
    assert trainable(model) == 22_855_952
    assert trainable(model) - trainable(model.fc) == 20_806_952
    stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert stats == 54_528
    assert cost(XceptionConfig()).params == 22_855_952
    assert cost(XceptionConfig()).bn_stats == 54_528


def test_default_batch_norm_and_bias_follow_keras():
    model = meta_model()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # stem, entry, middle, exit (two steps a SepConv), then the 4 shortcuts
    assert len(convs) == 2 + 3 * 2 * 2 + 8 * 3 * 2 + 2 * 2 * 2 + 4
    assert all(m.bias is None for m in convs)
    assert model.fc.bias is not None


def test_default_feature_shapes_per_flow():
    model = meta_model()
    x = torch.empty(2, 3, 299, 299, device="meta")
    stem = model.stem(x)
    assert stem.shape == (2, 64, 147, 147)
    shapes = []
    h = stem
    for block in model.entry:
        h = block(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(128, 74, 74), (256, 37, 37), (728, 19, 19)]
    assert model.middle(h).shape == (2, 728, 19, 19)
    features = model.forward_features(x)
    assert features.shape == (2, 2048, 10, 10)
    assert model.forward_head(features, pre_logits=True).shape == (2, 2048)
    assert model.forward_head(features).shape == (2, 1000)


def test_shortcut_reads_the_tensor_before_the_leading_relu():
    torch.manual_seed(0)
    model = build_model(width=0.05, num_classes=10).eval()
    for block in (model.entry[1], model.middle[0], model.exit[0]):
        x = torch.randn(1, _in_channels(block), 9, 9)
        kept = x.clone()
        with torch.no_grad():
            out = block(x)
            expected = block.body(kept.clone()) + block.shortcut(kept)
        assert torch.equal(x, kept), "the block overwrote its input"
        torch.testing.assert_close(out, expected)
        assert (kept < 0).any()  # so a ReLU before the shortcut would have changed the result


def _in_channels(block):
    first_conv = next(m for m in block.body.modules() if isinstance(m, nn.Conv2d))
    return first_conv.in_channels


VARIANTS = {
    "pointwise_first depthwise": dict(op_order="pointwise_first"),
    "regular": dict(conv="regular"),
    **{f"segments {k} {order}": dict(segments=k, op_order=order)
       for k in (1, 2, 4, 8) for order in ("depthwise_first", "pointwise_first")},
    "residual off": dict(residual=False),
    "middle depth 0": dict(middle_depth=0),
    "middle depth 16": dict(middle_depth=16),
    "mid_norm": dict(mid_norm=True),
    "mid_norm pointwise_first segments 4": dict(mid_norm=True, op_order="pointwise_first", segments=4),
    "10 classes": dict(num_classes=10),
    "1 input channel": dict(in_channels=1),
}


def _closed_form_args(knobs):
    args = dict(knobs)
    args["classes"] = args.pop("num_classes", 1000)
    args["depth"] = args.pop("middle_depth", 8)
    args["in_ch"] = args.pop("in_channels", 3)
    return args


@pytest.mark.parametrize("knobs", VARIANTS.values(), ids=VARIANTS.keys())
def test_parameter_count_matches_closed_form(knobs):
    expected = xception_params(**_closed_form_args(knobs))
    assert trainable(meta_model(**knobs)) == expected
    assert cost(XceptionConfig(**knobs)).params == expected


@pytest.mark.parametrize("segments,channels", [
    (3, (33, 66, 129, 258, 729, 1026, 1536, 2049)),
    (16, (32, 64, 128, 256, 736, 1024, 1536, 2048)),
])
def test_segments_that_do_not_divide_round_channels_up(segments, channels):
    model = meta_model(segments=segments)
    assert trainable(model) == xception_params(ch=channels, segments=segments)
    assert all(row["c_out"] % segments == 0 for row in model.spec.layers()[:-1])


def test_width_multiplier_rounds_each_count_up_to_the_segment_multiple():
    # 0.5 x (32 ... 2048) = 16, 32, 64, 128, 364, 512, 768, 1024; with 8 segments 364 -> 368.
    model = meta_model(width=0.5, segments=8)
    assert trainable(model) == xception_params(ch=(16, 32, 64, 128, 368, 512, 768, 1024), segments=8)
    assert model.num_features == 1024
