"""DARTS' NetworkCIFAR (nasrepro.torch.darts_network) and genotypes (nasrepro.archs.darts):
parameter and mult-add counts equal to what quark0/darts' own cnn/model.py builds, shapes, the
aux head, drop path on non-identity ops only, and genotype errors."""
import pytest
import torch

from nasrepro.archs.darts import DARTS_V2, Genotype, GenotypeError, check_genotype
from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.torch import darts_network
from nasrepro.torch.darts_network import NetworkCIFAR

# Determined's const.yaml architectures (determined-ai/determined, examples/hp_search_benchmarks/
# darts/cnn/const.yaml at commit 5df9466728, 2020-09; darts_cifar10_pytorch/const.yaml at
# commit c0a6d4e949, 2021-07).
CONST_2020 = Genotype(
    normal=[("max_pool_3x3", 0), ("sep_conv_3x3", 0), ("max_pool_3x3", 1), ("sep_conv_3x3", 0),
            ("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("skip_connect", 0), ("skip_connect", 1)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_5x5", 0), ("avg_pool_3x3", 0),
            ("dil_conv_3x3", 2), ("max_pool_3x3", 2), ("sep_conv_5x5", 1), ("max_pool_3x3", 4)],
    reduce_concat=[2, 3, 4, 5])
CONST_2021 = Genotype(
    normal=[("sep_conv_3x3", 1), ("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_3x3", 1),
            ("sep_conv_3x3", 0), ("dil_conv_3x3", 0), ("max_pool_3x3", 0), ("sep_conv_3x3", 0)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("dil_conv_3x3", 1), ("max_pool_3x3", 1), ("skip_connect", 2), ("dil_conv_3x3", 0),
            ("sep_conv_3x3", 1), ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_3x3", 4)],
    reduce_concat=[2, 3, 4, 5])

# Measured on quark0/darts cnn/model.py (HEAD of the repository), built on the CPU with the same
# genotype and configuration, 10 classes: (params without aux head, all params, mult-adds at
# 32x32 in eval mode). 3,349,342 is also the "param size" DARTS' own training log prints.
GOLDEN = {
    ("DARTS_V2", 36, 20): (3_349_342, 3_825_768, 528_359_040),
    ("CONST_2020", 36, 20): (2_621_638, 3_098_064, 416_827_008),
    ("CONST_2021", 36, 20): (3_339_190, 3_815_616, 518_405_760),
    ("DARTS_V2", 8, 5): (37_018, 456_100, 7_392_512),
    ("CONST_2021", 8, 5): (45_906, 464_988, 8_185_088),
}
GENOTYPES = {"DARTS_V2": DARTS_V2, "CONST_2020": CONST_2020, "CONST_2021": CONST_2021}


@pytest.mark.parametrize("name, C, layers", sorted(GOLDEN))
def test_counts_equal_darts_own_network(name, C, layers):
    net = NetworkCIFAR(C, 10, layers, True, GENOTYPES[name])
    params, total, madds = GOLDEN[(name, C, layers)]
    assert count_params(net) == params
    assert count_params(net, exclude=()) == total
    assert count_mult_adds(net, (1, 3, 32, 32)) == madds


def test_shapes_and_the_aux_head_only_in_training():
    torch.manual_seed(0)
    net = NetworkCIFAR(8, 10, 5, True, CONST_2021)
    x = torch.randn(2, 3, 32, 32)
    logits, aux = net(x)
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    logits, aux = net(x)
    assert logits.shape == (2, 10) and aux is None
    assert NetworkCIFAR(8, 100, 5, False, CONST_2021).train()(x)[1] is None


def test_drop_path_skips_identity_ops_only(monkeypatch):
    calls = []

    def recording(h, keep_prob):
        calls.append(keep_prob)
        return h
    monkeypatch.setattr(darts_network, "drop_path", recording)
    # CONST_2020's normal cell has two skip_connects (identities at stride 1) among 8 edges.
    net = NetworkCIFAR(8, 10, 3, False, CONST_2020)
    net.drop_path_prob = 0.2
    net(torch.randn(2, 3, 32, 32))
    reduction_cells = 2                      # cells 1 and 2 of 3; their skip is a real op
    normal_cells = 1
    assert len(calls) == normal_cells * 6 + reduction_cells * 8
    assert calls == [pytest.approx(0.8)] * len(calls)
    calls.clear()
    net.eval()
    net(torch.randn(2, 3, 32, 32))
    assert calls == []


@pytest.mark.parametrize("change, message", [
    (lambda g: g._replace(normal=[("conv_9x9", 0)] + list(g.normal[1:])),
     "normal cell, node 1, edge 1: unknown op 'conv_9x9'"),
    (lambda g: g._replace(reduce=list(g.reduce[:2]) + [("skip_connect", 3)] + list(g.reduce[3:])),
     "reduce cell, node 2, edge 1: input 3, expected a state index in 0..2"),
    (lambda g: g._replace(normal=list(g.normal[:7])), "normal cell has 7 edges"),
    (lambda g: g._replace(reduce_concat=[2, 6]), "reduce_concat [2, 6], expected state "
                                                 "indices in 0..5"),
])
def test_genotype_errors_name_the_cell_node_and_edge(change, message):
    with pytest.raises(GenotypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_genotype(change(CONST_2021))
    with pytest.raises(GenotypeError):
        NetworkCIFAR(8, 10, 5, False, change(CONST_2021))
