"""Determined experiment configs: loading, defaults, errors, overrides, HP sampling and checks."""
import random

import pytest
import yaml

from nasrepro.errors import ConfigError
from nasrepro.hpsearch.det_config import (
    SEARCHERS, ExperimentConfig, SearcherConfig, apply_overrides, check_hparams,
    length_in_batches, load_experiment_config, sample_hparams,
)

OPS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5"]

# A cut-down adaptive.yaml: the original's layout and values, two architecture HPs instead of 32,
# plus one spec of each remaining Determined form.
ADAPTIVE = f"""
description: darts_cnn_nas
data:
  data_download_dir: /data
min_validation_period:
  batches: 500
hyperparameters:
  learning_rate: 0.025
  momentum: 0.9
  weight_decay: 3.0e-4
  global_batch_size: 96
  auxiliary: true
  cutout_length: {{type: const, val: 16}}
  layers: {{type: int, minval: 8, maxval: 20}}
  drop_path_prob: {{type: double, minval: 0.0, maxval: 0.3}}
  lr_search: {{type: log, minval: -4, maxval: -1, base: 10}}
  normal_node1_edge1:
    type: categorical
    vals: [0, 1]
  normal_node1_edge1_op:
    type: categorical
    vals: {OPS}
resources:
  slots_per_trial: 1
  max_slots: 16
scheduling_unit: 100
bind_mounts:
  - host_path: /tmp
    container_path: /data
    read_only: false
searcher:
  name: adaptive_asha
  metric: top1_accuracy
  smaller_is_better: false
  max_length:
    batches: 156200
  max_trials: 10000
  mode: aggressive
  max_rungs: 5
  max_concurrent_trials: 16
entrypoint: model_def:DARTSCNNTrial
"""

CONST = """
description: darts_cnn_nas
hyperparameters:
  learning_rate: 0.025
  global_batch_size: 96
  normal_node1_edge1: 0
  normal_node1_edge1_op: max_pool_3x3
searcher:
  name: single
  metric: top1_accuracy
  max_length:
    batches: 156200
entrypoint: model_def:DARTSCNNTrial
"""


def write(tmp_path, text, name="adaptive.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def edited(text, **changes):
    """`text` with keys set (None deletes), written back as YAML; `a__b` is the key b in a."""
    raw = yaml.safe_load(text)
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = raw
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(raw)


@pytest.fixture
def adaptive(tmp_path):
    return load_experiment_config(write(tmp_path, ADAPTIVE))


def load_error(tmp_path, text, overrides=()):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_experiment_config(path, overrides)
    message = str(info.value)
    assert message.startswith(str(path)), message
    return message


# --- loading and defaults ----------------------------------------------------------------------

def test_adaptive_loads_with_its_values(adaptive, tmp_path):
    assert adaptive.path == str(tmp_path / "adaptive.yaml")
    assert adaptive.searcher == SearcherConfig(
        name="adaptive_asha", metric="top1_accuracy", smaller_is_better=False,
        max_length={"batches": 156200}, max_trials=10000, mode="aggressive", divisor=4,
        max_rungs=5, max_concurrent_trials=16)
    assert adaptive.entrypoint() == ("model_def", "DARTSCNNTrial")
    assert adaptive.slots_per_trial() == 1
    assert adaptive.min_validation_period() == {"batches": 500}
    assert adaptive.records_per_epoch() is None
    assert adaptive.raw["bind_mounts"][0]["container_path"] == "/data"
    assert adaptive.hyperparameters["normal_node1_edge1_op"]["vals"] == OPS


def test_const_gets_determined_defaults(tmp_path):
    config = load_experiment_config(write(tmp_path, CONST, "const.yaml"))
    s = config.searcher
    assert (s.name, s.smaller_is_better, s.max_trials, s.mode, s.divisor, s.max_rungs,
            s.max_concurrent_trials) == ("single", True, 1, "standard", 4, 5, 0)
    assert config.slots_per_trial() == 1
    assert config.min_validation_period() is None
    assert config.constant_hparams() == {"learning_rate": 0.025, "global_batch_size": 96,
                                         "normal_node1_edge1": 0,
                                         "normal_node1_edge1_op": "max_pool_3x3"}


def test_hparam_spec_normalises_every_form(adaptive):
    assert adaptive.hparam_spec("learning_rate") == {"type": "const", "val": 0.025}
    assert adaptive.hparam_spec("cutout_length") == {"type": "const", "val": 16}
    assert adaptive.hparam_spec("layers") == {"type": "int", "minval": 8, "maxval": 20}
    assert adaptive.hparam_spec("normal_node1_edge1") == {"type": "categorical", "vals": [0, 1]}
    with pytest.raises(ConfigError, match=r"hyperparameters\.nope: no such hyperparameter"):
        adaptive.hparam_spec("nope")


def test_constant_hparams_are_plain_and_const_specs(adaptive):
    assert adaptive.constant_hparams() == {
        "learning_rate": 0.025, "momentum": 0.9, "weight_decay": 3.0e-4,
        "global_batch_size": 96, "auxiliary": True, "cutout_length": 16}


def test_plain_list_and_mapping_values_are_constants(tmp_path):
    text = edited(CONST, hyperparameters__milestones=[10, 20],
                  hyperparameters__opt={"name": "sgd", "nesterov": True})
    config = load_experiment_config(write(tmp_path, text))
    assert config.hparam_spec("milestones") == {"type": "const", "val": [10, 20]}
    assert config.constant_hparams()["opt"] == {"name": "sgd", "nesterov": True}


# --- file-level errors -------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match="absent.yaml: file not found"):
        load_experiment_config(path)


def test_not_yaml(tmp_path):
    assert "not valid YAML" in load_error(tmp_path, "searcher: [unclosed\n")


def test_top_level_not_a_mapping(tmp_path):
    assert "expected a mapping at the top level, got list" in load_error(tmp_path, "- 1\n- 2\n")


@pytest.mark.parametrize("key", ["hyperparameters", "searcher", "entrypoint"])
def test_required_top_level_key(tmp_path, key):
    message = load_error(tmp_path, edited(CONST, **{key: None}))
    assert f": {key}: required key missing" in message


def test_unknown_top_level_key_lists_known_ones(tmp_path):
    message = load_error(tmp_path, CONST + "optimisations: {}\n")
    assert "unknown top-level key 'optimisations'" in message
    assert "optimizations" in message and "records_per_epoch" in message


def test_all_determined_top_level_keys_are_accepted(tmp_path):
    extra = {"name": "x", "min_checkpoint_period": {"batches": 10}, "records_per_epoch": 50000,
             "checkpoint_storage": {}, "environment": {}, "max_restarts": 5,
             "reproducibility": {}, "optimizations": {}, "labels": [], "workspace": "w",
             "project": "p", "profiling": {}, "checkpoint_policy": "best",
             "perform_initial_validation": False}
    config = load_experiment_config(write(tmp_path, edited(CONST, **extra)))
    assert config.records_per_epoch() == 50000
    assert config.raw["max_restarts"] == 5


# --- searcher errors ---------------------------------------------------------------------------

def test_unknown_searcher_lists_the_ported_ones(tmp_path):
    message = load_error(tmp_path, edited(ADAPTIVE, searcher__name="grid"))
    assert "searcher.name='grid'" in message
    assert all(name in message for name in SEARCHERS)
    assert "grid, pbt, ...) are not ported" in message


@pytest.mark.parametrize("key", ["metric", "max_length", "max_trials"])
def test_searcher_required_keys(tmp_path, key):
    message = load_error(tmp_path, edited(ADAPTIVE, **{f"searcher__{key}": None}))
    assert f"searcher.{key}: required key missing" in message


def test_random_needs_max_trials_but_single_does_not(tmp_path):
    text = edited(ADAPTIVE, searcher__name="random", searcher__max_trials=None)
    assert "searcher.max_trials: required key missing" in load_error(tmp_path, text)
    assert load_experiment_config(write(tmp_path, CONST)).searcher.max_trials == 1


def test_single_with_several_trials_is_rejected(tmp_path):
    message = load_error(tmp_path, edited(CONST, searcher__max_trials=3))
    assert "searcher.max_trials=3: expected 1" in message


@pytest.mark.parametrize("key, value, expected", [
    ("divisor", 1, "searcher.divisor=1: expected an integer >= 2"),
    ("divisor", 2.5, "searcher.divisor=2.5: expected an integer >= 2"),
    ("max_rungs", 0, "searcher.max_rungs=0: expected an integer >= 1"),
    ("max_trials", 0, "searcher.max_trials=0: expected an integer >= 1"),
    ("max_concurrent_trials", -1, "searcher.max_concurrent_trials=-1: expected an integer >= 0"),
    ("smaller_is_better", "no", "searcher.smaller_is_better='no': expected true or false"),
    ("mode", 3, "searcher.mode=3: expected a string"),
    ("metric", 5, "searcher.metric=5: expected the name of a validation metric"),
    ("max_length", {"steps": 10}, "searcher.max_length={'steps': 10}: expected one of"),
    ("max_length", {"batches": 0}, "searcher.max_length={'batches': 0}: expected one of"),
])
def test_searcher_value_errors(tmp_path, key, value, expected):
    assert expected in load_error(tmp_path, edited(ADAPTIVE, **{f"searcher__{key}": value}))


def test_sections_must_be_mappings(tmp_path):
    assert "searcher='single': expected a mapping" in load_error(tmp_path,
                                                                 edited(CONST, searcher="single"))
    assert "resources=[1]: expected a mapping" in load_error(tmp_path,
                                                             edited(ADAPTIVE, resources=[1]))


def test_unknown_searcher_key_lists_known_ones(tmp_path):
    message = load_error(tmp_path, edited(ADAPTIVE, searcher__max_rung=5))
    assert "searcher.max_rung: unknown key" in message
    assert "max_rungs" in message and "stop_once" in message


def test_mode_is_not_checked_here(tmp_path):
    text = edited(ADAPTIVE, searcher__mode="whatever", searcher__stop_once=True)
    assert load_experiment_config(write(tmp_path, text)).searcher.mode == "whatever"


# --- resources, hyperparameters, entrypoint, lengths -------------------------------------------

@pytest.mark.parametrize("slots", [0, "2", True])
def test_slots_per_trial_must_be_a_positive_int(tmp_path, slots):
    message = load_error(tmp_path, edited(ADAPTIVE, resources__slots_per_trial=slots))
    assert f"resources.slots_per_trial={slots!r}: expected an integer >= 1" in message


def test_slots_per_trial_is_read(tmp_path):
    config = load_experiment_config(write(tmp_path, edited(ADAPTIVE,
                                                           resources__slots_per_trial=4)))
    assert config.slots_per_trial() == 4


def test_hyperparameters_must_be_a_mapping(tmp_path):
    message = load_error(tmp_path, edited(CONST, hyperparameters=[1, 2]))
    assert "hyperparameters=[1, 2]: expected a mapping" in message


def test_global_batch_size_required(tmp_path):
    message = load_error(tmp_path, edited(CONST, hyperparameters__global_batch_size=None))
    assert "hyperparameters.global_batch_size: required hyperparameter missing" in message


@pytest.mark.parametrize("value", [0, 96.0, {"type": "categorical", "vals": [64, 96]}])
def test_global_batch_size_must_be_a_positive_int_constant(tmp_path, value):
    message = load_error(tmp_path, edited(CONST, hyperparameters__global_batch_size=value))
    assert "hyperparameters.global_batch_size=" in message
    assert "expected a positive integer constant" in message


def test_global_batch_size_as_const_spec_is_accepted(tmp_path):
    text = edited(CONST, hyperparameters__global_batch_size={"type": "const", "val": 64})
    assert load_experiment_config(write(tmp_path, text)).constant_hparams()[
        "global_batch_size"] == 64


def test_unknown_hp_type_lists_known_types(tmp_path):
    text = edited(CONST, hyperparameters__lr={"type": "uniform", "minval": 0, "maxval": 1})
    message = load_error(tmp_path, text)
    assert "hyperparameters.lr.type='uniform': expected one of" in message
    assert all(kind in message for kind in ("const", "categorical", "int", "double", "log"))


@pytest.mark.parametrize("spec, key", [
    ({"type": "categorical"}, "vals"),
    ({"type": "const"}, "val"),
    ({"type": "int", "minval": 1}, "maxval"),
    ({"type": "double", "maxval": 1.0}, "minval"),
    ({"type": "log", "minval": -4, "maxval": -1}, "base"),
])
def test_hp_spec_missing_field(tmp_path, spec, key):
    message = load_error(tmp_path, edited(CONST, hyperparameters__lr=spec))
    assert f"hyperparameters.lr.{key}: missing" in message


@pytest.mark.parametrize("spec, expected", [
    ({"type": "categorical", "vals": []}, "hyperparameters.lr.vals=[]: expected a non-empty"),
    ({"type": "int", "minval": 1.5, "maxval": 3}, "hyperparameters.lr.minval=1.5: expected an "
                                                  "integer"),
    ({"type": "double", "minval": 1.0, "maxval": 1.0}, "hyperparameters.lr.minval=1.0: expected "
                                                       "less than maxval"),
    ({"type": "log", "minval": -4, "maxval": -1, "base": 0}, "hyperparameters.lr.base=0: "
                                                              "expected a number > 0"),
    ({"type": "int", "minval": 1, "maxval": 3, "step": 1}, "hyperparameters.lr.step: unknown "
                                                           "field"),
])
def test_hp_spec_bad_values(tmp_path, spec, expected):
    assert expected in load_error(tmp_path, edited(CONST, hyperparameters__lr=spec))


@pytest.mark.parametrize("entrypoint", ["model_def", "model_def:", ":Trial", "model def:Trial",
                                        42])
def test_malformed_entrypoint(tmp_path, entrypoint):
    message = load_error(tmp_path, edited(CONST, entrypoint=entrypoint))
    assert f"entrypoint={entrypoint!r}: expected 'module:ClassName'" in message


def test_dotted_entrypoint_module(tmp_path):
    config = load_experiment_config(write(tmp_path, edited(CONST, entrypoint="pkg.mod:Trial")))
    assert config.entrypoint() == ("pkg.mod", "Trial")


def test_epoch_lengths_need_records_per_epoch(tmp_path):
    text = edited(CONST, searcher__max_length={"epochs": 300})
    assert "searcher.max_length={'epochs': 300}: a length in epochs needs records_per_epoch" \
        in load_error(tmp_path, text)
    text = edited(CONST, min_validation_period={"epochs": 1})
    assert "min_validation_period={'epochs': 1}: a length in epochs needs" \
        in load_error(tmp_path, text)
    text = edited(CONST, searcher__max_length={"epochs": 300}, records_per_epoch=50000)
    assert load_experiment_config(write(tmp_path, text)).records_per_epoch() == 50000


def test_bad_min_validation_period_and_records_per_epoch(tmp_path):
    message = load_error(tmp_path, edited(CONST, min_validation_period={"batches": -5}))
    assert "min_validation_period={'batches': -5}: expected one of" in message
    message = load_error(tmp_path, edited(CONST, records_per_epoch=0))
    assert "records_per_epoch=0: expected an integer >= 1" in message


# --- overrides ---------------------------------------------------------------------------------

def test_overrides_nested_new_keys_and_types(tmp_path):
    config = load_experiment_config(write(tmp_path, ADAPTIVE), [
        "searcher.max_trials=16",
        "searcher.smaller_is_better=true",
        "hyperparameters.normal_node1_edge1.vals=[1]",
        "hyperparameters.extra.type=const",
        "hyperparameters.extra.val=2.5",
        "records_per_epoch=50000",
        "description=a b=c",
    ])
    assert config.searcher.max_trials == 16
    assert config.searcher.smaller_is_better is True
    assert config.hparam_spec("normal_node1_edge1") == {"type": "categorical", "vals": [1]}
    assert config.hparam_spec("extra") == {"type": "const", "val": 2.5}
    assert config.records_per_epoch() == 50000
    assert config.raw["description"] == "a b=c"  # only the first "=" splits


def test_overrides_apply_before_validation(tmp_path):
    text = edited(ADAPTIVE, searcher__max_trials=None)
    config = load_experiment_config(write(tmp_path, text), ["searcher.max_trials=8"])
    assert config.searcher.max_trials == 8
    message = load_error(tmp_path, ADAPTIVE, ["searcher.divisor=1"])
    assert "searcher.divisor=1: expected an integer >= 2" in message


def test_apply_overrides_returns_a_copy():
    raw = {"searcher": {"max_trials": 5}, "resources": None}
    result = apply_overrides(raw, ["searcher.max_trials=7", "a.b.c=x"], "x.yaml")
    assert result == {"searcher": {"max_trials": 7}, "resources": None, "a": {"b": {"c": "x"}}}
    assert raw == {"searcher": {"max_trials": 5}, "resources": None}


@pytest.mark.parametrize("override, expected", [
    ("searcher.max_trials", "override 'searcher.max_trials': expected 'dotted.key=value'"),
    ("searcher..max_trials=3", "expected 'dotted.key=value'"),
    ("=3", "expected 'dotted.key=value'"),
    ("entrypoint.module=x", "override 'entrypoint.module=x': entrypoint is "
                            "'model_def:DARTSCNNTrial', expected a mapping"),
    ("hyperparameters.learning_rate.val=1", "hyperparameters.learning_rate is 0.025, "
                                            "expected a mapping"),
    ("searcher.metric=[oops", "value is not valid YAML"),
])
def test_bad_overrides(tmp_path, override, expected):
    assert expected in load_error(tmp_path, ADAPTIVE, [override])


# --- sampling and checking ---------------------------------------------------------------------

def test_samples_are_inside_their_specs(adaptive):
    rng = random.Random(0)
    samples = [sample_hparams(adaptive, rng) for _ in range(200)]
    for values in samples:
        assert set(values) == set(adaptive.hyperparameters)
        assert values["normal_node1_edge1"] in (0, 1)
        assert values["normal_node1_edge1_op"] in OPS
        assert 8 <= values["layers"] <= 20 and isinstance(values["layers"], int)
        assert 0.0 <= values["drop_path_prob"] <= 0.3
        assert 1e-4 <= values["lr_search"] <= 1e-1
        assert values["learning_rate"] == 0.025 and values["cutout_length"] == 16
        check_hparams(adaptive, values, "trial")
    # Uniform over the choices: every op and both int ends turn up in 200 draws.
    assert {v["normal_node1_edge1_op"] for v in samples} == set(OPS)
    assert {v["layers"] for v in samples} >= {8, 20}


def test_sampling_is_reproducible(adaptive):
    first = [sample_hparams(adaptive, random.Random(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert sample_hparams(adaptive, random.Random(8)) != first[0]


def test_sampled_constants_are_copies(tmp_path):
    config = load_experiment_config(write(tmp_path, edited(CONST,
                                                           hyperparameters__steps=[1, 2])))
    sample_hparams(config, random.Random(0))["steps"].append(3)
    assert config.hyperparameters["steps"] == [1, 2]


def test_check_hparams_rejects_a_value_outside_its_choices(adaptive):
    values = sample_hparams(adaptive, random.Random(0))
    values["normal_node1_edge1_op"] = "conv_7x1_1x7"
    with pytest.raises(ConfigError) as info:
        check_hparams(adaptive, values, "trial 3")
    message = str(info.value)
    assert message.startswith("trial 3:")
    assert "hyperparameters.normal_node1_edge1_op='conv_7x1_1x7'" in message
    assert str(OPS) in message


@pytest.mark.parametrize("name, value, expected", [
    ("normal_node1_edge1", True, "one of the choices [0, 1]"),
    ("layers", 21, "an integer in [8, 20]"),
    ("layers", 10.0, "an integer in [8, 20]"),
    ("drop_path_prob", -0.01, "a number in [0.0, 0.3]"),
    ("lr_search", 0.2, "a number in [0.0001, 0.1]"),
    ("cutout_length", 17, "the constant 16"),
    ("learning_rate", 0.1, "the constant 0.025"),
])
def test_check_hparams_rejects_out_of_spec_values(adaptive, name, value, expected):
    values = sample_hparams(adaptive, random.Random(0))
    values[name] = value
    with pytest.raises(ConfigError) as info:
        check_hparams(adaptive, values, "trial")
    assert f"trial: hyperparameters.{name}={value!r}: expected {expected}" in str(info.value)


def test_check_hparams_names_missing_and_unknown(adaptive):
    values = sample_hparams(adaptive, random.Random(0))
    del values["layers"]
    with pytest.raises(ConfigError, match="trial: hyperparameters missing: layers"):
        check_hparams(adaptive, values, "trial")
    values = sample_hparams(adaptive, random.Random(0))
    values["depth"] = 3
    with pytest.raises(ConfigError, match="trial: unknown hyperparameters: depth"):
        check_hparams(adaptive, values, "trial")


def test_check_hparams_accepts_the_const_config(tmp_path):
    config = load_experiment_config(write(tmp_path, CONST))
    check_hparams(config, config.constant_hparams(), "const")


# --- lengths -----------------------------------------------------------------------------------

def test_length_in_batches_all_forms():
    where = "adaptive.yaml: searcher.max_length"
    assert length_in_batches({"batches": 156200}, where, 96, None) == 156200
    assert length_in_batches({"records": 1000}, where, 96, None) == 10  # 1000 // 96
    assert length_in_batches({"records": 960}, where, 96, None) == 10
    # CIFAR-10: 50000 records in 521 batches of 96 (the last one partial).
    assert length_in_batches({"epochs": 300}, where, 96, 50000) == 300 * 521
    assert length_in_batches({"epochs": 2}, where, 100, 50000) == 1000


def test_length_in_batches_errors():
    where = "adaptive.yaml: searcher.max_length"
    with pytest.raises(ConfigError, match="adaptive.yaml: searcher.max_length=.*needs "
                                          "records_per_epoch"):
        length_in_batches({"epochs": 3}, where, 96, None)
    for bad in ({"steps": 5}, {"batches": 5, "epochs": 1}, {"batches": 2.5}, 5, {}):
        with pytest.raises(ConfigError, match="adaptive.yaml: searcher.max_length=.*expected "
                                              "one of"):
            length_in_batches(bad, where, 96, None)


def test_experiment_config_is_a_dataclass_of_the_parts(adaptive):
    assert isinstance(adaptive, ExperimentConfig)
    assert adaptive.raw["hyperparameters"] is adaptive.hyperparameters
