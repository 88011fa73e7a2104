"""ENAS micro child (nasrepro/tf/micro_child.py, micro_ops.py): shapes of every op and cell in
both modes, weight sharing by chosen input, parameter counts (by hand and at the scripts'
configurations), the drop-path schedule, B6 and determinism. Eager mode, small configs."""
import numpy as np
import pytest
import tensorflow as tf

from nasrepro.archs.enas import PUBLISHED_MICRO_ARC, ArcError, parse_micro_arc
from nasrepro.complexity.tf_count import count_params
from nasrepro.errors import ConfigError
from nasrepro.tf.micro_child import MicroChild, drop_path_keep
from nasrepro.tf.micro_ops import FixedBranch, FixedCell, SearchBranch, SearchCell

PUBLISHED = parse_micro_arc(PUBLISHED_MICRO_ARC)
# A 3-layer arc (num_cells=5) different from the published one in both cells.
OTHER_ARC = [1, 4, 0, 2, 2, 3, 1, 0, 3, 1, 2, 4, 0, 0, 4, 3, 5, 2, 1, 1,
             0, 0, 1, 1, 2, 2, 0, 3, 3, 4, 1, 0, 0, 1, 4, 2, 5, 3, 2, 0]


def images(n=2, seed=0):
    return tf.random.stateless_normal([n, 32, 32, 3], seed=[seed, 1])


def gen(seed=7):
    return tf.random.Generator.from_seed(seed)


# ------------------------------------------------------------------ shapes


@pytest.mark.parametrize("op", range(5))
def test_search_op_shapes(op):
    branch = SearchBranch(node=3, channels=8)
    nodes = [tf.random.normal([2, 8, 8, 8]) for _ in range(3)]
    out = branch(nodes, tf.constant(2), tf.constant(op))
    assert out.shape == (2, 8, 8, 8)


@pytest.mark.parametrize("op", range(5))
@pytest.mark.parametrize("stride", [1, 2])
def test_fixed_op_shapes(op, stride):
    out = FixedBranch(op, 8, stride)(tf.random.normal([2, 8, 8, 8]), training=True)
    assert out.shape == (2, 8 // stride, 8 // stride, 8)


def test_cell_shapes():
    x0, x1 = tf.random.normal([2, 16, 16, 6]), tf.random.normal([2, 8, 8, 4])
    # Search cell: input 0 (twice as large) is factorized-reduced; output C channels.
    cell = SearchCell([(16, 6), (8, 4)], 8)
    assert cell(x0, x1, tf.constant(PUBLISHED.normal), training=True).shape == (2, 8, 8, 8)
    # Fixed normal cell of the published arc: loose ends 2..6 -> 5 * C channels.
    normal = FixedCell([(16, 6), (8, 4)], 8, PUBLISHED.normal, stride=1)
    assert normal.loose_ends == [2, 3, 4, 5, 6]
    assert normal(x0, x1, training=True).shape == (2, 8, 8, 40)
    # Fixed reduction cell: loose ends 2, 4, 5, 6 -> 4 * C channels at half size.
    reduce = FixedCell([(8, 4), (8, 4)], 8, PUBLISHED.reduce, stride=2)
    assert reduce.loose_ends == [2, 4, 5, 6]
    assert reduce(x1, x1, training=True).shape == (2, 4, 4, 32)


def test_fixed_reduction_cell_reduces_loose_inputs():
    # Node 2 = identity(1) + identity(1): input 0 is a loose end and must be reduced too.
    cell = FixedCell([(8, 4), (8, 4)], 4, [1, 4, 1, 4], stride=2)
    assert cell.loose_ends == [0, 2]
    assert cell(tf.random.normal([2, 8, 8, 4]), tf.random.normal([2, 8, 8, 4]),
                training=True).shape == (2, 4, 4, 8)


@pytest.mark.parametrize("num_classes", [10, 100])
@pytest.mark.parametrize("fixed", [False, True])
def test_logits_shapes(num_classes, fixed):
    child = MicroChild(num_layers=3, out_filters=8, num_classes=num_classes, use_aux_heads=True,
                       fixed_arc=PUBLISHED if fixed else None, drop_path_keep_prob=0.6)
    assert (child.pool_layers, child.aux_head_layer, child.layer_ids) == ([1, 3], 4,
                                                                          [0, 1, 2, 3, 4])
    arc = None if fixed else tf.constant(PUBLISHED.ints)
    logits, aux = child(images(3), training=True, generator=gen(), arc=arc,
                        drop_path_progress=tf.constant(0.5))
    assert logits.shape == (3, num_classes) and aux.shape == (3, num_classes)
    logits, aux = child(images(3), training=False, generator=gen(), arc=arc)
    assert logits.shape == (3, num_classes) and aux is None


# ------------------------------------------------------------------ search mode


def test_search_arcs_share_weights_but_differ():
    child = MicroChild(num_layers=3, out_filters=8)
    a, _ = child(images(), training=True, generator=gen(), arc=PUBLISHED.ints)
    b, _ = child(images(), training=True, generator=gen(), arc=OTHER_ARC)
    c, _ = child(images(), training=True, generator=gen(), arc=tf.constant(PUBLISHED.ints))
    assert not np.allclose(a.numpy(), b.numpy())
    np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-5, atol=1e-6)


def _grads(branch, input_id, op_id):
    nodes = [tf.random.stateless_normal([2, 6, 6, 4], seed=[i, 0]) for i in range(3)]
    variables = branch.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(branch(nodes, tf.constant(input_id), tf.constant(op_id)) ** 2)
    grads = tape.gradient(loss, variables)
    return {v.name: (None if g is None else tf.convert_to_tensor(g).numpy())
            for v, g in zip(variables, grads)}


def _nonzero_rows(grad):
    return [] if grad is None else sorted(set(np.nonzero(grad)[0].tolist()))


@pytest.mark.parametrize("input_id", [0, 1])
def test_only_chosen_op_and_input_row_get_gradient(input_id):
    branch = SearchBranch(node=3, channels=4)
    grads = _grads(branch, input_id, 0)  # sep conv 3x3 reading `input_id`
    for name, grad in grads.items():
        if "conv_3x3" in name:
            # Both stacked convs' depthwise/pointwise/scale/offset: only the chosen row.
            assert _nonzero_rows(grad) == [input_id], name
        else:
            assert _nonzero_rows(grad) == [], name
    assert len([n for n in grads if "conv_3x3" in n]) == 8
    # A pool or identity trains no weight of the slot.
    for op in (2, 3, 4):
        assert all(_nonzero_rows(g) == [] for g in _grads(branch, input_id, op).values())


def test_search_mode_is_always_training_B6():
    child = MicroChild(num_layers=3, out_filters=8, keep_prob=0.5)
    train, _ = child(images(), training=True, generator=gen(3), arc=PUBLISHED.ints)
    evaluate, aux = child(images(), training=False, generator=gen(3), arc=PUBLISHED.ints)
    # Same generator state -> same dropout mask: eval is the training computation.
    np.testing.assert_allclose(train.numpy(), evaluate.numpy(), rtol=1e-5, atol=1e-6)
    corrected = MicroChild(num_layers=3, out_filters=8, keep_prob=0.5,
                           search_eval_training=False)
    a, _ = corrected(images(), training=False, generator=gen(3), arc=PUBLISHED.ints)
    b, _ = corrected(images(), training=False, generator=gen(4), arc=PUBLISHED.ints)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # no dropout in evaluation


# ------------------------------------------------------------------ parameter counts


def _bn(c):  # scale + offset
    return 2 * c


def _fr(cin, cout):  # two 1x1 convs to cout/2, BN
    return 2 * cin * (cout // 2) + _bn(cout)


def test_fixed_param_count_by_hand():
    # num_layers=1: pool_distance 0, reduction cells at layers 0 and 1, normal cell at 2.
    # Normal: node 2 = sep3x3(0) + identity(1); reduce: node 2 = avg(1) + identity(0).
    child = MicroChild(num_layers=1, out_filters=4, num_cells=1, fixed_arc=[0, 0, 1, 4,
                                                                             1, 2, 0, 4])
    stem = 3 * 3 * 3 * 12 + _bn(12)                                  # 348
    # layer 0, C=8: calibrate both stem inputs 12->8, layer_base, identity(0) at stride 2.
    layer0 = 2 * (12 * 8 + _bn(8)) + (8 * 8 + _bn(8)) + _fr(8, 8)   # 384
    # layer 1, C=16: input 0 (stem, 32x32) reduced, input 1 8->16, layer_base, FR identity.
    layer1 = _fr(12, 16) + (8 * 16 + _bn(16)) + (16 * 16 + _bn(16)) + _fr(16, 16)  # 960
    # layer 2, C=16: input 0 (16x16, 8 ch) reduced, layer_base, one sep conv 3x3 (2 stacks).
    sep3 = 2 * (3 * 3 * 16 + 16 * 16 + _bn(16))                     # 864
    layer2 = _fr(8, 16) + (16 * 16 + _bn(16)) + sep3                 # 1312
    fc = 16 * 10
    assert stem + layer0 + layer1 + layer2 + fc == 3164
    assert count_params(child) == 3164


def test_search_param_count_by_hand():
    child = MicroChild(num_layers=1, out_filters=4, num_cells=1)

    def slot(c, inputs):  # sep3 and sep5 tables, 2 stacks each, one row per possible input
        return sum(2 * inputs * (k * k * c + c * c + _bn(c)) for k in (3, 5))

    def final(c):  # [num_cells + 2, C*C] 1x1 conv rows, BN
        return 3 * c * c + _bn(c)

    stem = 3 * 3 * 3 * 12 + _bn(12)                                  # 348
    # layer 0 (reduction, C=8): FR of the stem before the cell, then the cell's calibration
    # reduces input 0 (the 32x32 stem) too.
    layer0 = _fr(12, 8) + _fr(12, 8) + 2 * slot(8, 2) + final(8)     # 3888
    # layer 1 (reduction, C=16): FR of layer 0's output; input 0 is that 16x16 output.
    layer1 = _fr(8, 16) + _fr(8, 16) + 2 * slot(16, 2) + final(16)   # 10080
    layer2 = 2 * slot(16, 2) + final(16)                             # 9760
    assert stem + layer0 + layer1 + layer2 + 16 * 10 == 24236
    assert count_params(child) == 24236


def test_published_arc_param_count():
    # cifar10_micro_final.sh: 15 layers, 36 filters, aux head on but not counted (B4).
    child = MicroChild(num_layers=15, out_filters=36, use_aux_heads=True, fixed_arc=PUBLISHED,
                       keep_prob=0.8, drop_path_keep_prob=0.6)
    assert child.pool_layers == [5, 11] and child.aux_head_layer == 12
    assert count_params(child, exclude=("aux_head",)) == 3_894_372
    # aux head: 1x1 144*5 -> 128, 2x2 conv 128 -> 768, BNs, FC 768 -> 10.
    aux = 720 * 128 + 256 + 2 * 2 * 128 * 768 + 1536 + 768 * 10
    assert sum(int(np.prod(v.shape)) for v in child.aux_head_variables) == aux == 494_848
    assert (len(child.main_variables) + len(child.aux_head_variables)
            == len(child.trainable_variables))


def test_micro_search_param_count():
    # cifar10_micro_search.sh: 6 layers, 20 filters, search mode, aux head not counted.
    child = MicroChild(num_layers=6, out_filters=20, use_aux_heads=True)
    assert child.pool_layers == [2, 5] and child.aux_head_layer == 6
    assert count_params(child, exclude=("aux_head",)) == 5_373_140


# ------------------------------------------------------------------ drop-path, determinism


def test_drop_path_keep_schedule():
    # keep_layer = 1 - (layer+1)/(L+2) * (1-p); keep = 1 - progress * (1 - keep_layer)
    assert drop_path_keep(16, 15, 0.6, 1.0) == pytest.approx(0.6)
    assert drop_path_keep(0, 15, 0.6, 0.5) == pytest.approx(1 - 0.5 * (1 / 17) * 0.4)
    assert drop_path_keep(8, 15, 0.6, 0.25) == pytest.approx(1 - 0.25 * (9 / 17) * 0.4)
    assert drop_path_keep(3, 6, 0.6, 0.0) == 1.0


def test_drop_path_applied_in_fixed_training():
    child = MicroChild(num_layers=3, out_filters=8, fixed_arc=PUBLISHED,
                       drop_path_keep_prob=0.6)

    def run(seed, progress):
        return child(images(), training=True, generator=gen(seed),
                     drop_path_progress=tf.constant(progress))[0].numpy()

    # At progress 0 every keep probability is 1: the generator does not matter.
    np.testing.assert_allclose(run(1, 0.0), run(2, 0.0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(run(1, 1.0), run(2, 1.0))
    with pytest.raises(ValueError, match="drop_path_progress"):
        child(images(), training=True, generator=gen())


@pytest.mark.parametrize("fixed", [False, True])
def test_same_seed_same_logits(fixed):
    child = MicroChild(num_layers=3, out_filters=8, keep_prob=0.7, drop_path_keep_prob=0.6,
                       fixed_arc=PUBLISHED if fixed else None)
    arc = None if fixed else OTHER_ARC

    def run(seed):
        return child(images(), training=True, generator=gen(seed), arc=arc,
                     drop_path_progress=tf.constant(0.9))[0].numpy()

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.allclose(run(5), run(6))


# ------------------------------------------------------------------ errors


def test_bad_configuration_errors():
    with pytest.raises(ArcError, match=r"fixed_arc: position 2 \(normal cell, node 2"):
        MicroChild(num_layers=3, out_filters=8, fixed_arc=[0, 0, 2, 0] + [0] * 36)
    with pytest.raises(ConfigError, match="out_filters=7"):
        MicroChild(num_layers=3, out_filters=7)
    child = MicroChild(num_layers=3, out_filters=8)
    with pytest.raises(ConfigError, match="expected an int32 vector of 40"):
        child(images(), training=True, generator=gen(), arc=[0] * 39)
