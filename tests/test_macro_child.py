"""ENAS macro child (melodyguan/enas, src/cifar10/general_child.py): shapes of every op in
search and fixed mode, hand-computed parameter counts (tiny configs and the published 24-layer
arc of scripts/cifar10_macro_final.sh), the B5 fixes (pooling ops in fixed mode, optional real
separable convs), op and skip semantics against tf.nn references, single-branch execution in
search mode, and determinism of dropout."""
import numpy as np
import pytest
import tensorflow as tf

from nasrepro.archs.enas import PUBLISHED_MACRO_ARC, parse_macro_arc
from nasrepro.complexity.tf_count import count_params
from nasrepro.errors import ConfigError
from nasrepro.paper_modules import load_paper_module

general_child = load_paper_module("ENAS", "src.cifar10.general_child")
FixedLayer, GeneralChild = general_child.FixedLayer, general_child.GeneralChild
SearchLayer, pool_layer_ids = general_child.SearchLayer, general_child.pool_layer_ids

C = 8
# 4 layers, codec order: op, then k skip bits. Pools follow layers [4//3 - 1, 2*(4//3) - 1].
TINY_ARC = [0, 1, 1, 4, 0, 1, 5, 1, 1, 1]  # conv3 | sep3 + stem | avg + L0 | max + stem, L0, L1


def _images(n=2, size=32, seed=0):
    return tf.random.stateless_normal([n, size, size, 3], seed=[seed, 1])


def _gen(seed=0):
    return tf.random.Generator.from_seed(seed)


def _uniform_arc(op, num_layers, bit=0):
    """Every layer uses `op`; every skip bit equals `bit`."""
    out = []
    for k in range(num_layers):
        out += [op] + [bit] * k
    return out


# ---------------------------------------------------------------------- shapes


def test_pool_layers_match_the_original():
    assert pool_layer_ids(12) == [3, 7]
    assert pool_layer_ids(24) == [7, 15]
    assert pool_layer_ids(4) == [0, 1]
    assert pool_layer_ids(2) == [-1, -1]  # too shallow: no pooling


@pytest.mark.parametrize("op", range(6))
def test_search_layer_every_op_keeps_shape(op):
    layer = SearchLayer(2, C, 6)
    prev = [tf.random.stateless_normal([2, 8, 8, C], seed=[i, 2]) for i in range(3)]
    out = layer(prev, tf.constant(op), tf.constant([1, 0]), training=True)
    assert out.shape == (2, 8, 8, C)


@pytest.mark.parametrize("op", range(6))
@pytest.mark.parametrize("separable", [False, True])
def test_fixed_layer_every_op_keeps_shape(op, separable):
    layer = FixedLayer(2, C, op, (1, 1), separable)
    prev = [tf.random.stateless_normal([2, 8, 8, C], seed=[i, 3]) for i in range(3)]
    out = layer(prev, training=True)
    assert out.shape == (2, 8, 8, C)
    assert np.all(np.isfinite(out.numpy()))


@pytest.mark.parametrize("fixed", [False, True])
@pytest.mark.parametrize("num_classes", [10, 100])
def test_logits_and_final_feature_map(monkeypatch, fixed, num_classes):
    seen = []

    def recording_pool(x):
        seen.append(tuple(x.shape))
        return tf.reduce_mean(x, axis=[1, 2])

    monkeypatch.setattr(general_child, "global_avg_pool", recording_pool)
    child = GeneralChild(num_layers=4, out_filters=C, num_classes=num_classes,
                         fixed_arc=TINY_ARC if fixed else None)
    logits, aux = child(_images(), training=True, generator=_gen(),
                        arc=None if fixed else TINY_ARC)
    assert logits.shape == (2, num_classes) and aux is None
    # Two pooling layers: 32 -> 8. Fixed mode doubles C twice, search mode keeps C.
    assert seen == [(2, 8, 8, 4 * C if fixed else C)]


@pytest.mark.parametrize("op", range(6))
def test_whole_network_runs_every_op_in_both_modes(op):
    arc = _uniform_arc(op, 4, bit=1)
    search = GeneralChild(num_layers=4, out_filters=C)
    fixed = GeneralChild(num_layers=4, out_filters=C, fixed_arc=arc)
    for logits, _ in (search(_images(), training=False, generator=_gen(), arc=arc),
                      fixed(_images(), training=False, generator=_gen())):
        assert logits.shape == (2, 10)
        assert np.all(np.isfinite(logits.numpy()))


# ---------------------------------------------------------------------- parameter counts


def test_search_param_count_by_hand():
    c = C
    stem = 3 * 3 * 3 * c + 2 * c                                      # 232
    inp = c * c + 2 * c                                               # 1x1 + BN: 80
    ops = ((inp + 9 * c * c + 2 * c)                                  # conv3: 672
           + (inp + 9 * c + c * c + 2 * c)                            # sep3: 232
           + (inp + 25 * c * c + 2 * c)                               # conv5: 1696
           + (inp + 25 * c + c * c + 2 * c)                           # sep5: 360
           + 2 * inp)                                                 # avg, max: 160
    layers = ops + 3 * (ops + 2 * c)                                  # skip BN from layer 1
    reductions = (2 + 3) * (c * c + 2 * c)  # after L0: stem, L0; after L1: stem, L0, L1
    fc = c * 10
    expected = stem + layers + reductions + fc
    assert expected == 13240
    assert count_params(GeneralChild(num_layers=4, out_filters=C)) == expected


def test_fixed_param_count_by_hand():
    def conv_bn(k, cin, cout):
        return k * k * cin * cout + 2 * cout

    def reduction(cin, cout):  # two 1x1 convs to cout/2, BN
        return cin * cout + 2 * cout

    stem = conv_bn(3, 3, 8)                                            # 232
    l0 = conv_bn(1, 8, 8) + conv_bn(3, 8, 8)                           # conv3, no skip conv
    pool0 = 2 * reduction(8, 16)                                       # stem, L0 -> 16 ch
    l1 = conv_bn(1, 16, 16) + conv_bn(3, 16, 16) + conv_bn(1, 2 * 16, 16)  # "sep3" regular
    pool1 = 3 * reduction(16, 32)                                      # stem, L0, L1 -> 32
    l2 = conv_bn(1, 32, 32) + conv_bn(1, 2 * 32, 32)                   # avg pool, 1 skip
    l3 = conv_bn(1, 32, 32) + conv_bn(1, 4 * 32, 32)                   # max pool, 3 skips
    fc = 32 * 10
    expected = stem + l0 + pool0 + l1 + pool1 + l2 + l3 + fc
    assert expected == 14888
    child = GeneralChild(num_layers=4, out_filters=C, fixed_arc=TINY_ARC)
    assert count_params(child) == expected
    assert child.fc.w.shape == (32, 10)


def test_fixed_separable_changes_params_by_hand_difference():
    regular = GeneralChild(num_layers=4, out_filters=C, fixed_arc=TINY_ARC)
    separable = GeneralChild(num_layers=4, out_filters=C, fixed_arc=TINY_ARC,
                             fixed_separable=True)
    # Only L1 (op 1, 3x3, 16 channels) is separable: 3*3*16*16 -> 3*3*16 + 16*16.
    assert count_params(regular) - count_params(separable) == 9 * 16 * 16 - (9 * 16 + 16 * 16)
    assert 9 * 16 * 16 - (9 * 16 + 16 * 16) == 1904


def test_out_filters_scale_multiplies_the_width():
    scaled = GeneralChild(num_layers=4, out_filters=4, out_filters_scale=2, fixed_arc=TINY_ARC)
    assert count_params(scaled) == 14888


def _published_count(width: int, separable: bool, num_classes: int = 10) -> int:
    """The arc of melodyguan/enas scripts/cifar10_macro_final.sh at `width`, counted from the
    decoded rows (independent of the model)."""
    kernels = {0: 3, 1: 3, 2: 5, 3: 5}
    c = width
    total = 27 * c + 2 * c
    for k, (op, bits) in enumerate(parse_macro_arc(PUBLISHED_MACRO_ARC, 24).layers):
        total += c * c + 2 * c
        kk = kernels[op]  # the published arc has no pooling ops
        total += (kk * kk * c + c * c if separable and op in (1, 3) else kk * kk * c * c) + 2 * c
        if k > 0:
            total += (sum(bits) + 1) * c * c + 2 * c
        if k in (7, 15):
            total += (k + 2) * (c * 2 * c + 2 * 2 * c)
            c *= 2
    return total + c * num_classes


def test_published_macro_arc_param_count():
    # cifar10_macro_final.sh: 24 layers, 96 filters (96 -> 192 -> 384).
    child = GeneralChild(num_layers=24, out_filters=96, keep_prob=0.5,
                         fixed_arc=PUBLISHED_MACRO_ARC)
    assert count_params(child) == _published_count(96, False) == 42_559_392
    assert child.fc.w.shape == (384, 10)
    # With real separable convs (B5 fixed) the 7 "sep" layers shrink: 30.9M.
    assert _published_count(96, True) == 30_947_424
    # The paper's 21.3M row fits width 68 with the original's regular convs (21.36M) or
    # width 80 with real separable convs (21.50M).
    assert _published_count(68, False) == 21_364_988
    assert _published_count(80, True) == 21_504_080


def test_published_arc_separable_count_matches_model():
    child = GeneralChild(num_layers=24, out_filters=68, fixed_arc=PUBLISHED_MACRO_ARC,
                         fixed_separable=True, num_classes=100)
    assert count_params(child) == _published_count(68, True, num_classes=100)


# ---------------------------------------------------------------------- semantics


def test_fixed_pool_op_is_relu_conv_bn_then_pool():
    layer = FixedLayer(0, C, 4, (), separable=False)
    x = tf.random.stateless_normal([2, 8, 8, C], seed=[5, 5])
    conv = tf.nn.conv2d(tf.nn.relu(x), layer.conv_1x1.conv.w, 1, "SAME")
    mean, var = tf.nn.moments(conv, axes=[0, 1, 2])
    expected = tf.nn.avg_pool2d(tf.nn.batch_normalization(conv, mean, var, 0.0, 1.0, 1e-5),
                                3, 1, "SAME")
    np.testing.assert_allclose(layer([x], training=True).numpy(), expected.numpy(), atol=1e-5)


def test_fixed_skip_concatenates_selected_layers_before_out():
    layer = FixedLayer(2, C, 5, (0, 1), separable=False)
    prev = [tf.random.stateless_normal([2, 8, 8, C], seed=[i, 6]) for i in range(3)]
    conv = tf.nn.conv2d(tf.nn.relu(prev[2]), layer.conv_1x1.conv.w, 1, "SAME")
    mean, var = tf.nn.moments(conv, axes=[0, 1, 2])
    out = tf.nn.max_pool2d(tf.nn.batch_normalization(conv, mean, var, 0.0, 1.0, 1e-5),
                           3, 1, "SAME")
    joined = tf.nn.relu(tf.concat([prev[1], out], axis=3))  # only bit 1 (layer 0) is set
    skip = tf.nn.conv2d(joined, layer.skip.conv.w, 1, "SAME")
    mean, var = tf.nn.moments(skip, axes=[0, 1, 2])
    expected = tf.nn.batch_normalization(skip, mean, var, 0.0, 1.0, 1e-5)
    assert layer.skip.conv.w.shape == (1, 1, 2 * C, C)
    np.testing.assert_allclose(layer(prev, training=True).numpy(), expected.numpy(), atol=1e-5)


def test_search_conv_op_is_post_activation_with_eps_1e3():
    layer = SearchLayer(1, C, 6)
    prev = [tf.random.stateless_normal([2, 8, 8, C], seed=[i, 7]) for i in range(2)]
    op = layer.ops[2]  # conv 5x5

    def bn(t, eps):
        mean, var = tf.nn.moments(t, axes=[0, 1, 2])
        return tf.nn.batch_normalization(t, mean, var, 0.0, 1.0, eps)

    h = tf.nn.relu(bn(tf.nn.conv2d(prev[1], op.inp_conv.w, 1, "SAME"), 1e-5))
    h = tf.nn.relu(bn(tf.nn.conv2d(h, op.conv.w, 1, "SAME"), 1e-3))
    expected = bn(h + prev[0], 1e-5)  # skip bit 0 = the stem, then BN
    got = layer(prev, tf.constant(2), tf.constant([1]), training=True)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4)
    assert op.out_bn.epsilon == 1e-3


def test_search_different_arcs_give_different_outputs():
    child = GeneralChild(num_layers=4, out_filters=C)
    images, outs = _images(), {}
    for op in range(6):
        outs[op] = child(images, training=False, generator=_gen(),
                         arc=_uniform_arc(op, 4))[0].numpy()
    for a in range(6):
        for b in range(a + 1, 6):
            assert np.max(np.abs(outs[a] - outs[b])) > 1e-4, (a, b)


def test_search_skips_change_the_output():
    child = GeneralChild(num_layers=4, out_filters=C)
    images = _images()
    no_skip = _uniform_arc(0, 4, bit=0)
    one_skip = list(no_skip)
    one_skip[-1] = 1  # layer 3, bit 2: adds layer 1
    a = child(images, training=False, generator=_gen(), arc=no_skip)[0].numpy()
    b = child(images, training=False, generator=_gen(), arc=one_skip)[0].numpy()
    assert np.max(np.abs(a - b)) > 1e-4


def test_search_runs_only_the_chosen_op_and_one_trace_serves_all_arcs():
    child = GeneralChild(num_layers=4, out_filters=C)
    images, generator = _images(), _gen()

    @tf.function
    def train_call(arc):
        return child(images, training=True, generator=generator, arc=arc)[0]

    eager = child(images, training=False, generator=_gen(), arc=_uniform_arc(4, 4))[0]
    train_call(tf.constant(_uniform_arc(4, 4)))
    train_call(tf.constant(_uniform_arc(1, 4)))
    assert train_call.experimental_get_tracing_count() == 1
    layer0 = child.layers[0]
    moved = [float(tf.reduce_sum(tf.abs(op.inp_bn.moving_mean if hasattr(op, "inp_bn")
                                        else op.bn.moving_mean))) > 0 for op in layer0.ops]
    assert moved == [False, True, False, False, True, False]
    assert eager.shape == (2, 10)


def test_eval_uses_moving_averages_and_no_dropout():
    child = GeneralChild(num_layers=4, out_filters=C, keep_prob=0.5, fixed_arc=TINY_ARC)
    images = _images()
    a = child(images, training=False, generator=_gen(1))[0]
    b = child(images, training=False, generator=_gen(2))[0]
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # One image alone gives the same logits in eval (no batch statistics).
    single = child(images[:1], training=False, generator=_gen(3))[0]
    np.testing.assert_allclose(single.numpy(), a.numpy()[:1], atol=1e-5)


def test_dropout_is_deterministic_per_generator_seed():
    child = GeneralChild(num_layers=4, out_filters=C, keep_prob=0.5)
    images, arc = _images(), TINY_ARC
    a = child(images, training=True, generator=_gen(7), arc=arc)[0].numpy()
    b = child(images, training=True, generator=_gen(7), arc=arc)[0].numpy()
    c = child(images, training=True, generator=_gen(8), arc=arc)[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-4


# ---------------------------------------------------------------------- errors


def test_bad_fixed_arc_names_the_position():
    bad = list(TINY_ARC)
    bad[4] = 2  # layer 2, skip bit 0
    with pytest.raises(ConfigError, match="fixed_arc: position 4"):
        GeneralChild(num_layers=4, out_filters=C, fixed_arc=bad)
    with pytest.raises(ConfigError, match="expected 10 integers"):
        GeneralChild(num_layers=4, out_filters=C, fixed_arc=TINY_ARC[:-1])
    with pytest.raises(ConfigError, match="position 3 .* op id"):
        GeneralChild(num_layers=4, out_filters=C, num_branches=4, fixed_arc=TINY_ARC)


def test_bad_search_arc_and_flags():
    child = GeneralChild(num_layers=4, out_filters=C)
    with pytest.raises(ConfigError, match="expected an int32 vector of 10"):
        child(_images(), training=False, generator=_gen(), arc=TINY_ARC[:-1])
    with pytest.raises(ConfigError, match="out_filters=7"):
        GeneralChild(num_layers=4, out_filters=7)
    with pytest.raises(ConfigError, match="num_branches=7"):
        GeneralChild(num_layers=4, out_filters=C, num_branches=7)
