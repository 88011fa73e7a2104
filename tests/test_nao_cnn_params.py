"""NAO's CIFAR network (NAO/cnn): the hand parameter count (calculate_params.py) of every named
architecture equals the trainable-variable count of renqianluo/NAO's own graph, split into the
aux head and the rest."""
import pytest

# Golden counts measured 2026-12-03 from the original's NAO/cnn/model.py (renqianluo/NAO at
# e07be44, unchanged) built outside the repository under tf.compat.v1 graph mode (TF 2.21 with the
# tf_keras legacy layers behind tf.compat.v1.layers): build_model(is_training=True) on a
# [2, 32, 32, 3] input with the params of train_cifar.py's get_params, summing
# tf.trainable_variables() as its _log_variable_sizes does ("Trainable Variables Total size");
# aux_head = the variables under the aux_head scope, main = the rest.
# final_c10: train_cifar10_final.sh (N=6, filters=128, num_nodes=5, stem_multiplier 3.0,
# --use_aux_head, cifar10); small: the same with N=1, filters=8. Values: (main, aux_head).
FINAL_C10 = {
    "ENAS": (45_935_754, 730_378),
    "ENAS_new": (51_639_178, 730_378),
    "AmoebaNet_A": (37_660_554, 599_306),
    "AmoebaNet_B": (33_737_866, 599_306),
    "NASNet_A": (49_734_026, 795_914),
    "PNASNet_A": (49_734_026, 795_914),
    "NAONet": (145_247_882, 599_306),
}
SMALL = {
    "ENAS": (65_442, 423_178),
    "ENAS_new": (77_378, 423_178),
    "AmoebaNet_A": (70_754, 414_986),
    "AmoebaNet_B": (44_946, 414_986),
    "NASNet_A": (72_370, 427_274),
    "PNASNet_A": (72_370, 427_274),
    "NAONet": (139_634, 414_986),
}
# NAONet at train_cifar100_final.sh (N=6, filters=128, cifar100) and at the architecture
# training of train_cifar10_search.sh (N=3, filters=32, cifar10), same measurement and date.
NAONET_C100 = (145_386_212, 668_516)
NAONET_SEARCH = (4_964_522, 451_850)

CONFIGS = {"final_c10": (6, 128, FINAL_C10), "small": (1, 8, SMALL)}


@pytest.fixture(scope="module")
def nao(paper_module):
    return {name: paper_module("NAO/cnn", name) for name in ("calculate_params", "dag")}


def _expected(main, aux):
    return {"main": main, "aux_head": aux, "total": main + aux}


def test_every_named_architecture_is_pinned(nao):
    assert set(nao["dag"].NAMES) == set(FINAL_C10) == set(SMALL)


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("arch", sorted(FINAL_C10))
def test_hand_count_equals_the_original_graph(nao, arch, config):
    N, filters, golden = CONFIGS[config]
    count = nao["calculate_params"].count_params_by_hand(nao["dag"].named(arch), N, filters, 10)
    assert count == _expected(*golden[arch])


def test_naonet_cifar100_final(nao):
    count = nao["calculate_params"].count_params_by_hand(nao["dag"].named("NAONet"), 6, 128, 100)
    assert count == _expected(*NAONET_C100)


def test_naonet_search_configuration(nao):
    count = nao["calculate_params"].count_params_by_hand(nao["dag"].named("NAONet"), 3, 32, 10)
    assert count == _expected(*NAONET_SEARCH)


def test_without_aux_head_only_main_remains(nao):
    count = nao["calculate_params"].count_params_by_hand(nao["dag"].named("NAONet"), 6, 128, 10,
                                                         use_aux_head=False)
    assert count == _expected(FINAL_C10["NAONet"][0], 0)
