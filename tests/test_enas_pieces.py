"""ENAS's training pieces: scripts' values, log line formats, lr schedule, input pipeline,
the architecture log and the optimizers' update rules."""
import json
import math

import numpy as np
import pytest

from nasrepro.runs.arch_log import ArchLog
from nasrepro.errors import DataError
from nasrepro.environment import REPO_ROOT
from nasrepro.paper_modules import load_paper_module
from nasrepro.schedules import cosine_restarts_lr, staircase_lr
from nasrepro.shell_flags import read_script_flags
from nasrepro.tf.child_steps import child_log_line

ENAS = REPO_ROOT / "ENAS"
_trainer = load_paper_module(ENAS, "src.cifar10.trainer")
arc_print_lines = _trainer.arc_print_lines
controller_log_line = _trainer.controller_log_line

# The flags of melodyguan/enas scripts/cifar10_*.sh, script by script (True = bare boolean flag,
# False = --noflag).
SCRIPT_VALUES = {
    "cifar10_macro_search.sh": dict(
        search_for="macro", batch_size="128", num_epochs="310", child_num_layers="12",
        child_out_filters="36", child_l2_reg="0.00025", child_num_branches="6",
        child_num_cell_layers="5", child_keep_prob="0.90", child_drop_path_keep_prob="0.60",
        child_lr_min="0.0005", controller_training=True, controller_num_aggregate="20",
        controller_train_steps="50", controller_lr="0.001", controller_tanh_constant="1.5",
        controller_skip_target="0.4", controller_skip_weight="0.8"),
    "cifar10_macro_final.sh": dict(
        search_for="macro", batch_size="100", num_epochs="310", child_num_layers="24",
        child_out_filters="96", child_l2_reg="2e-4", child_num_branches="4",
        child_keep_prob="0.50", child_lr_min="0.001", nocontroller_training=True,
        controller_num_aggregate="20", controller_train_steps="50", controller_lr="0.001"),
    "cifar10_micro_search.sh": dict(
        search_for="micro", batch_size="160", num_epochs="150", child_num_layers="6",
        child_out_filters="20", child_l2_reg="1e-4", child_num_branches="5",
        child_num_cells="5", child_keep_prob="0.90", child_drop_path_keep_prob="0.60",
        child_lr_min="0.0005", controller_training=True, controller_num_aggregate="10",
        controller_train_steps="30", controller_lr="0.0035", controller_tanh_constant="1.10",
        controller_op_tanh_reduce="2.5"),
    "cifar10_micro_final.sh": dict(
        search_for="micro", batch_size="144", num_epochs="630", child_num_layers="15",
        child_out_filters="36", child_l2_reg="2e-4", child_num_branches="5",
        child_num_cells="5", child_keep_prob="0.80", child_drop_path_keep_prob="0.60",
        child_lr_min="0.0001", nocontroller_training=True, controller_num_aggregate="10",
        controller_train_steps="50", controller_lr="0.001", controller_tanh_constant="1.50"),
}
COMMON = dict(data_format="NCHW", reset_output_dir=True, data_path="data/cifar10",
              output_dir="outputs", log_every="50", eval_every_epochs="1",
              child_use_aux_heads=True, child_lr_cosine=True, child_lr_max="0.05",
              child_lr_T_0="10", child_lr_T_mul="2", controller_search_whole_channels=True,
              controller_entropy_weight="0.0001", controller_train_every="1",
              controller_sync_replicas=True)


@pytest.mark.parametrize("script", sorted(SCRIPT_VALUES))
def test_scripts_pass_the_original_values(script):
    flags = read_script_flags(ENAS / "scripts" / script)
    expected = dict(COMMON, **SCRIPT_VALUES[script])
    for name, value in expected.items():
        assert flags.get(name) == value, f"{script}: --{name}"
    assert "child_cutout_size" not in flags  # no cutout in any original script
    assert (ENAS / "scripts" / script).read_text().rstrip().endswith('"$@"')


def test_final_scripts_carry_the_published_architectures():
    micro = read_script_flags(ENAS / "scripts" / "cifar10_micro_final.sh")["child_fixed_arc"]
    assert micro == ("0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 "
                     "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1")
    macro = read_script_flags(ENAS / "scripts" / "cifar10_macro_final.sh")["child_fixed_arc"]
    ints = [int(v) for v in macro.split()]
    assert len(ints) == 24 + 24 * 23 // 2 == 300
    ops = [ints[k * (k + 1) // 2] for k in range(24)]
    assert ops == [0, 3, 0, 2, 2, 3, 2, 2, 1, 0, 2, 0, 2, 1, 0, 2, 2, 2, 3, 3, 0, 3, 0, 0]
    assert sum(ints) - sum(ops) == 98  # skip bits set in the original script's arc


def test_child_log_line_matches_the_original_issue_7_line():
    line = child_log_line(149, 42050, 0.910298, 0.0005, 2.4888, 105, 160, 717.36)
    assert line.rstrip() == ("epoch=149   ch_step=42050  loss=0.910298 lr=0.0005   "
                             "|g|=2.4888   tr_acc=105/160 mins=717.36")


def test_controller_log_line_fields_and_widths():
    line = controller_log_line(5, -0.1234, 43.21, 0.0035, 1.5, 0.6875, 0.61, 12.345)
    assert line == ("ctrl_step=5      loss=-0.123  ent=43.21 lr=0.0035 |g|=1.5000   "
                    "acc=0.6875 bl=0.61  mins=12.35")


def test_architecture_print_lines():
    arc = list(range(40))
    lines = arc_print_lines(np.array(arc), "micro", 6)
    assert lines[0].startswith("[ 0  1  2") and lines[1].startswith("[20 21")
    macro = arc_print_lines(np.array([0, 3, 0, 0, 1, 0]), "macro", 3)
    assert macro == ["[0]", "[3 0]", "[0 1 0]"]


def test_cosine_restarts_fall_where_the_spec_says():
    lrs = [cosine_restarts_lr(e, 0.05, 0.0005, 10, 2) for e in range(700)]
    assert lrs[0] == pytest.approx(0.05)
    restarts = [e for e in range(1, 700) if lrs[e] > lrs[e - 1]]
    assert restarts == [10, 30, 70, 150, 310, 630]
    # Mid-period of the second period (20 epochs long): T_cur=10 of 20.
    assert lrs[20] == pytest.approx(0.0005 + 0.5 * 0.0495 * (1 + math.cos(3.1415926 / 2)))
    assert 0.0005 < lrs[149] < 0.00053  # the last epoch of the 4th period is near lr_min
    assert staircase_lr(250, 0.1, 0.1, 100) == pytest.approx(0.001)


def test_train_batches_are_deterministic_per_epoch_and_augment_as_specified():
    from nasrepro.tf.cifar_input import eval_batches, train_batches

    images = np.random.default_rng(0).uniform(0.5, 1.0, (50, 32, 32, 3)).astype(np.float32)
    labels = np.arange(50) % 10
    first = [(x.numpy(), y.numpy()) for x, y in train_batches(images, labels, 16, 7, 3)]
    again = [(x.numpy(), y.numpy()) for x, y in train_batches(images, labels, 16, 7, 3)]
    other = [(x.numpy(), y.numpy()) for x, y in train_batches(images, labels, 16, 7, 4)]
    assert [len(y) for _, y in first] == [16, 16, 16, 2]
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(first, again))
    assert not all((a[1] == b[1]).all() for a, b in zip(first, other))
    assert sorted(np.concatenate([y for _, y in first]).tolist()) == sorted(labels.tolist())
    # Pad-and-crop shifts by at most 4 pixels: zeros only in border bands of width <= 4.
    batch = first[0][0]
    assert batch.shape == (16, 32, 32, 3)
    zero_rows = (batch == 0).all(axis=(2, 3))
    assert zero_rows[:, 4:28].sum() == 0
    # Cutout: a zeroed square of side <= 8 appears inside the image in every example.
    cut = next(iter(train_batches(images, labels, 50, 7, 0, cutout_size=8)))[0].numpy()
    zeros = (cut == 0).all(axis=3)
    for example in zeros:
        rows = np.where(example.any(axis=1))[0]
        assert example.sum() > 0 and (example.sum() <= 8 * 8 + 2 * 4 * 32 + 4 * 4 * 4)
        assert rows.size > 0
    ordered = np.concatenate([x.numpy() for x, _ in eval_batches(images, labels, 20)])
    assert (ordered == images).all()


def test_arch_log_resume_drops_the_epochs_trained_again(tmp_path):
    path = tmp_path / "arcs.jsonl"
    log = ArchLog(path)
    log.add([{"epoch": 1, "kind": "sample", "arc": "0 1", "val_acc": 0.5}])
    log.add([{"epoch": 2, "kind": "sample", "arc": "1 1", "val_acc": 0.4},
             {"epoch": 2, "kind": "sample", "arc": "1 0", "val_acc": 0.6}])
    assert log.best("sample", "val_acc")["arc"] == "1 0"  # best of the latest epoch
    resumed = ArchLog(path, resume_from_epoch=1)
    assert [r["epoch"] for r in resumed.records] == [1]
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1]
    path.write_text('{"epoch": 1, "arc": "0"}\nnot json\n')
    with pytest.raises(DataError, match="arcs.jsonl:2: not a JSON line"):
        ArchLog(path, resume_from_epoch=1)


def test_optimizers_follow_tf1_update_rules():
    import tensorflow as tf

    from nasrepro.tf.optimizers import Adam, NesterovMomentum

    w = tf.Variable([1.0, -2.0])
    sgd = NesterovMomentum([w], momentum=0.9)
    sgd.apply([tf.constant([0.5, 1.0])], 0.1)
    # a = g; w -= lr * (g + m * a) = 0.1 * 1.9 * g
    np.testing.assert_allclose(w.numpy(), [1.0 - 0.095, -2.0 - 0.19], rtol=1e-6)
    sgd.apply([tf.constant([0.5, 1.0])], 0.1)  # a = 0.9 * g + g = 1.9 g; step = 0.1 * (g + 1.71 g)
    np.testing.assert_allclose(w.numpy(), [0.905 - 0.1355, -2.19 - 0.271], rtol=1e-6)
    v = tf.Variable([1.0])
    adam = Adam([v], beta1=0.0, epsilon=1e-3)
    adam.apply([tf.constant([2.0])], 0.01)
    # m = g, v = 0.001 g^2, lr_t = lr * sqrt(0.001) / 1; step = lr_t * g / (sqrt(v) + eps)
    expected = 1.0 - 0.01 * math.sqrt(0.001) * 2.0 / (math.sqrt(0.001 * 4.0) + 1e-3)
    np.testing.assert_allclose(v.numpy(), [expected], rtol=1e-6)
