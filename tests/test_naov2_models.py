"""NAO-V2's networks (final models and weight-sharing supernet) and the shared PyTorch ops:
parameter and mult-add counts against the original implementation, shapes, the drop-path
rules, weight sharing and batch-statistics evaluation, and the DARTS op table."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasrepro.archs.nao import PUBLISHED_NAONET_V2, ArchError, parse_nao_arch
from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.errors import ConfigError
from nasrepro.paper_modules import load_paper_module
from nasrepro.torch.aux_heads import AuxHead, cifar_aux_head, imagenet_aux_head
from nasrepro.torch.drop_path import drop_path
from nasrepro.torch.ops import OPS, DilConv, FactorizedReduce, ReLUConvBN, SepConv


operations, drop_path_rule, model, model_search = (
    load_paper_module("NAO-V2", name)
    for name in ("operations", "drop_path_rule", "model", "model_search"))
NASNetworkCIFAR, NASNetworkImageNet = model.NASNetworkCIFAR, model.NASNetworkImageNet
NASWSNetworkCIFAR = model_search.NASWSNetworkCIFAR

# Both cells: concat [0, 6] (a reduction cell must factorized-reduce s0 for its output), and
# node 3 reads state 4 twice, the x branch through the identity (op 4).
ARCH_A = "1 0 1 1 2 0 2 1 3 2 3 3 4 4 4 0 5 1 5 2 1 0 1 1 2 0 2 1 3 2 3 3 4 4 4 0 5 1 5 2"

# ---- golden values -------------------------------------------------------------------------
# Measured on the original implementation (renqianluo/NAO_pytorch, NAO_V2/, commit 418ff71),
# built on the CPU with an args namespace, with nasrepro.complexity.torch_count: count_params
# (names containing "auxiliary" excluded) and count_mult_adds (eval mode, batch 1, aux head
# excluded). Keep probabilities and steps do not change the counts.
PAPER_CIFAR = dict(params=4_387_654, params_with_aux=4_864_080, mult_adds=684_238_464)
PAPER_IMAGENET = dict(params=7_026_850, params_with_aux=8_297_354, mult_adds=782_069_184)
# NASNetworkCIFAR(classes=10, layers=1, nodes=5, channels=8): arch -> (params, mult-adds).
MINI_SMALL = {
    ARCH_A: (62_786, 10_084_992),                                          # concat [0,6]/[0,6]
    "1 2 0 1 2 2 1 1 3 1 1 4 1 1 3 3 0 0 2 4 0 3 0 1 2 4 0 0 2 1 2 0 4 2 4 3 4 1 4 0":
        (68_306, 11_531_200),                                              # [4,5,6]/[1,3,5,6]
    "0 2 0 2 0 4 2 0 3 2 0 4 4 0 2 4 4 2 5 4 0 0 0 1 0 0 0 3 2 1 3 3 3 4 3 0 0 4 2 0":
        (46_242, 6_824_576),                                               # [1,6]/[1,4,5,6]
    "0 0 0 0 0 3 1 3 1 3 3 1 2 4 4 4 2 3 5 3 1 3 1 1 2 0 1 3 3 2 1 1 2 2 3 4 0 4 3 1":
        (42_866, 7_188_800),                                               # [6]/[4,5,6]
}
MINI_MIDDLE = {
    "1 6 1 8 1 7 2 2 0 3 1 8 4 0 2 8 0 7 0 4 1 3 0 2 2 2 2 4 1 5 2 5 2 9 4 7 4 6 2 9":
        (71_114, 12_401_600),
    "0 2 1 1 2 6 0 0 1 0 0 5 4 4 4 9 4 6 2 5 0 4 0 2 2 0 0 1 3 6 3 2 3 3 2 0 3 8 3 1":
        (60_978, 10_419_136),
}
# NASWSNetworkCIFAR(classes=10, layers, nodes=5, channels), aux head off: parameters.
SUPERNET = {("small", 3, 20): 7_387_350, ("small", 1, 8): 788_754,
            ("middle", 3, 20): 18_152_950, ("middle", 1, 8): 2_108_114}


def final_cifar(arch=PUBLISHED_NAONET_V2, layers=1, channels=8, classes=10, aux=True,
                drop_path_keep_prob=1.0, rule="release", space="small", steps=100):
    return NASNetworkCIFAR(classes, layers, 5, channels, 1.0, drop_path_keep_prob, aux, steps,
                           arch, drop_path_rule=rule, search_space=space)


def supernet(layers=1, channels=8, aux=False, drop_path_keep_prob=1.0, rule="release",
             space="small"):
    return NASWSNetworkCIFAR(10, layers, 5, channels, 1.0, drop_path_keep_prob, aux, 100,
                             drop_path_rule=rule, search_space=space)


# ---- 1. counts equal the original's --------------------------------------------------------

def test_naonet_v2_cifar_paper_size_matches_the_original():
    net = final_cifar(layers=6, channels=36)
    assert count_params(net) == PAPER_CIFAR["params"]
    assert count_params(net, exclude=()) == PAPER_CIFAR["params_with_aux"]
    assert count_mult_adds(net, (1, 3, 32, 32)) == PAPER_CIFAR["mult_adds"]


def test_naonet_v2_imagenet_paper_size_matches_the_original():
    net = NASNetworkImageNet(1000, 4, 5, 52, 1.0, 1.0, True, 100, PUBLISHED_NAONET_V2)
    assert count_params(net) == PAPER_IMAGENET["params"]
    assert count_params(net, exclude=()) == PAPER_IMAGENET["params_with_aux"]
    assert count_mult_adds(net, (1, 3, 224, 224)) == PAPER_IMAGENET["mult_adds"]


@pytest.mark.parametrize("space,arch", [("small", a) for a in MINI_SMALL] +
                         [("middle", a) for a in MINI_MIDDLE])
def test_mini_final_networks_match_the_original(space, arch):
    params, mult_adds = {**MINI_SMALL, **MINI_MIDDLE}[arch]
    net = final_cifar(arch, space=space)
    assert (count_params(net), count_mult_adds(net, (1, 3, 32, 32))) == (params, mult_adds)


@pytest.mark.parametrize("space,layers,channels", list(SUPERNET))
def test_supernet_matches_the_original(space, layers, channels):
    net = supernet(layers, channels, space=space)
    assert count_params(net) == SUPERNET[(space, layers, channels)]


def test_every_arch_form_builds_the_same_network():
    arch = parse_nao_arch(ARCH_A)
    forms = [arch, ARCH_A, arch.ints, [list(arch.normal), list(arch.reduce)]]
    nets = [final_cifar(form) for form in forms]
    assert {n.arch for n in nets} == {arch}
    assert {count_params(n) for n in nets} == {MINI_SMALL[ARCH_A][0]}


# ---- 2. shapes and the aux head ------------------------------------------------------------

def test_cifar_forward_shapes_and_aux_only_in_training():
    torch.manual_seed(0)
    net = final_cifar(ARCH_A, classes=7)
    x = torch.randn(2, 3, 32, 32)
    net.train()
    logits, aux = net(x, step=0)
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    net.eval()
    logits, aux = net(x)
    assert logits.shape == (2, 7) and aux is None
    net = final_cifar(ARCH_A, aux=False).train()
    assert net(x, step=0)[1] is None
    assert not any("auxiliary" in name for name, _ in net.named_parameters())


def test_cell_output_channels_follow_the_concat_list():
    net = final_cifar(layers=2, channels=4)
    # NAONet-V2 concatenates 4 nodes in both cells: 4x the cell's channels (4, 8, 16).
    assert [c.out_state[1] for c in net.cells] == [16, 16, 32, 32, 32, 64, 64, 64]
    assert net.classifier.in_features == 64
    assert net.auxiliary_head.features[2].in_channels == 64  # after cell 2*layers+1 = 5


def test_imagenet_forward_shapes_with_tiny_channels():
    torch.manual_seed(0)
    net = NASNetworkImageNet(5, 1, 5, 4, 1.0, 1.0, True, 100, PUBLISHED_NAONET_V2)
    x = torch.randn(2, 3, 224, 224)  # 2: the aux head's BN sees 1x1 maps in training
    logits, aux = net.train()(x, step=0)
    assert logits.shape == (2, 5) and aux.shape == (2, 5)
    logits, aux = net.eval()(x)
    assert logits.shape == (2, 5) and aux is None


def test_supernet_forward_shapes():
    torch.manual_seed(0)
    net = supernet(aux=True)
    x = torch.randn(2, 3, 32, 32)
    logits, aux = net.train()(x, ARCH_A, step=0)
    assert logits.shape == (2, 10) and aux.shape == (2, 10)
    assert net.eval()(x, ARCH_A)[1] is None
    assert all(c.out_state[1] == c.final_combine_conv.bn.num_features for c in net.cells)


def test_imagenet_supernet_runs_with_the_corrected_stem():
    torch.manual_seed(0)
    net = model_search.NASWSNetworkImageNet(5, 1, 5, 4, 1.0, 1.0, False, 100)
    assert net.stem.stem0[4].num_features == 4  # the original has BatchNorm2d(C/2) here
    logits, _ = net.eval()(torch.randn(1, 3, 224, 224), PUBLISHED_NAONET_V2)
    assert logits.shape == (1, 5)


# ---- 3. drop path --------------------------------------------------------------------------

def test_drop_path_keep_schedule():
    keep = drop_path_rule.drop_path_keep
    assert keep(0.8, 19, 20, 99, 100) == pytest.approx(0.8)     # last cell, last step
    assert keep(0.8, 9, 20, 49, 100) == pytest.approx(1 - 0.5 * 0.5 * 0.2)
    assert keep(0.8, 0, 20, 0, 100) == pytest.approx(1 - 0.01 * 0.05 * 0.2)


def _count_drop_path_calls(monkeypatch, module, net, forward):
    calls = []

    def recorder(x, keep):
        calls.append(keep)
        return x

    monkeypatch.setattr(module, "drop_path", recorder)
    forward(net)
    return calls


@pytest.mark.parametrize("rule,expected", [("release", 40), ("head", 50)])
def test_final_network_release_rule_spares_branches_reading_state_4(monkeypatch, rule,
                                                                      expected):
    net = final_cifar(ARCH_A, drop_path_keep_prob=0.6, rule=rule).train()
    x = torch.randn(2, 3, 32, 32)
    calls = _count_drop_path_calls(monkeypatch, model, net, lambda n: n(x, step=50))
    # 5 cells x 10 branches; node 3 of both cells reads state 4 on both branches.
    assert len(calls) == expected and all(k < 1 for k in calls)
    node3 = net.cells[0].ops[3]
    assert (node3.x_drops, node3.y_drops) == ((False, False) if rule == "release" else
                                              (True, True))
    assert net.cells[0].ops[2].x_drops  # reads state 3: dropped under both rules


@pytest.mark.parametrize("rule,expected", [("release", 45), ("head", 50)])
def test_supernet_release_rule_spares_identity_branches(monkeypatch, rule, expected):
    net = supernet(drop_path_keep_prob=0.6, rule=rule).train()
    x = torch.randn(2, 3, 32, 32)
    calls = _count_drop_path_calls(monkeypatch, model_search, net,
                                   lambda n: n(x, ARCH_A, step=50))
    # Only node 3's x branch uses op 4 (identity), once per cell.
    assert len(calls) == expected


def test_no_drop_path_in_eval_mode_or_at_keep_1(monkeypatch):
    x = torch.randn(2, 3, 32, 32)
    off = final_cifar(ARCH_A, drop_path_keep_prob=1.0).train()
    assert _count_drop_path_calls(monkeypatch, model, off, lambda n: n(x)) == []
    on = final_cifar(ARCH_A, drop_path_keep_prob=0.6).eval()
    assert _count_drop_path_calls(monkeypatch, model, on, lambda n: n(x)) == []


def test_training_with_drop_path_needs_the_step():
    net = final_cifar(ARCH_A, drop_path_keep_prob=0.6).train()
    with pytest.raises(ConfigError, match="step=None"):
        net(torch.randn(2, 3, 32, 32))


def test_drop_path_zeroes_or_rescales_whole_samples():
    torch.manual_seed(0)
    x = torch.rand(400, 3, 4, 4) + 1.0
    assert drop_path(x, 1.0) is x
    out = drop_path(x, 0.75)
    kept = (out != 0).flatten(1)
    assert torch.all(kept.all(1) | ~kept.any(1))                 # one decision per sample
    survivors = kept.all(1)
    assert torch.allclose(out[survivors], x[survivors] / 0.75)
    assert 0.65 < survivors.float().mean().item() < 0.85
    with pytest.raises(ConfigError, match="keep_prob"):
        drop_path(x, 0.0)


# ---- 4. the supernet -----------------------------------------------------------------------

def _grad_params(net, arch):
    net.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    logits, _ = net(torch.randn(4, 3, 32, 32), arch)
    logits.square().sum().backward()
    return {name for name, p in net.named_parameters()
            if p.grad is not None and p.grad.abs().sum() > 0}


def test_supernet_weights_are_shared_by_node_slot_op_and_input_id():
    torch.manual_seed(0)
    net = supernet().train()
    # Node 0 of the normal cell reads (1, sep3) in the x slot in both archs, (0, sep3) vs
    # (1, sep3) in the y slot.
    arch_a = "1 0 0 0 " + "2 2 2 3 " * 4 + "0 2 1 2 " + "2 2 2 3 " * 4
    arch_b = "1 0 1 0 " + "2 3 2 2 " * 4 + "0 2 1 2 " + "2 2 2 3 " * 4
    used_a, used_b = _grad_params(net, arch_a), _grad_params(net, arch_b)
    x_sep = "cells.0.ops.0.x_op.0.first.depthwise."
    y_sep = "cells.0.ops.0.y_op.0.first.depthwise."
    assert x_sep + "1" in used_a and x_sep + "1" in used_b          # shared by both archs
    assert x_sep + "0" not in used_a | used_b                       # input 0 has its own
    assert y_sep + "0" in used_a and y_sep + "0" not in used_b       # per input id
    assert y_sep + "1" in used_b and y_sep + "1" not in used_a
    op = net.cells[0].ops[0].x_op[0].first
    assert op.depthwise[0] is not op.depthwise[1]
    assert op.bn.weight[0] is not op.bn.weight[1]
    assert op.bn.running_mean.shape == (8,)                          # one set of statistics


def test_supernet_gives_finite_logits_for_different_archs():
    torch.manual_seed(0)
    net = supernet().eval()
    x = torch.randn(3, 3, 32, 32)
    out_a = net(x, ARCH_A)[0]
    out_b = net(x, PUBLISHED_NAONET_V2)[0]
    assert torch.isfinite(out_a).all() and torch.isfinite(out_b).all()
    assert not torch.allclose(out_a, out_b)
    with pytest.raises(ArchError, match="forward arch: 3 integers"):
        net(x, "1 2 3")


def test_bn_train_uses_batch_statistics_in_eval_mode():
    torch.manual_seed(0)
    net = supernet().eval()
    x = torch.randn(4, 3, 32, 32)
    other = torch.cat([x[:1], torch.randn(3, 3, 32, 32)])
    # Running statistics: the first sample's logits do not depend on the rest of the batch.
    assert torch.allclose(net(x, ARCH_A)[0][0], net(other, ARCH_A)[0][0], atol=1e-5)
    stem_mean = net.stem[1].running_mean.clone()
    wsbn = net.cells[0].ops[0].x_op[0].first.bn
    wsbn_mean = wsbn.running_mean.clone()
    fac_mean = net.cells[1].fac_1.bn.running_mean.clone()  # ARCH_A keeps s0 of the reduction
    with torch.no_grad():
        first = net(x, ARCH_A, bn_train=True)[0][0]
        assert not torch.allclose(first, net(other, ARCH_A, bn_train=True)[0][0], atol=1e-3)
    assert not torch.equal(wsbn.running_mean, wsbn_mean)      # batch statistics, updated
    assert torch.equal(net.stem[1].running_mean, stem_mean)   # the stem BN stays in eval
    assert torch.equal(net.cells[1].fac_1.bn.running_mean, fac_mean)  # as in the original
    assert not any(m.training for m in net.modules())         # modes restored


# ---- 5. the shared DARTS op table ----------------------------------------------------------

@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride,size,out", [(1, 8, 8), (2, 8, 4), (2, 7, 4)])
def test_darts_ops_output_shapes(name, stride, size, out):
    torch.manual_seed(0)
    op = OPS[name](6, stride, True)
    assert op(torch.randn(2, 6, size, size)).shape == (2, 6, out, out)


def _n(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("C", [4, 6])
def test_darts_op_parameter_counts(C):
    # Depthwise k*k*C + pointwise C*C + BN 2C per ReLU-dw-pw-BN stack.
    for k in (3, 5):
        assert _n(OPS[f"sep_conv_{k}x{k}"](C, 1, True)) == 2 * (C * k * k + C * C + 2 * C)
        assert _n(OPS[f"dil_conv_{k}x{k}"](C, 2, True)) == C * k * k + C * C + 2 * C
        assert _n(OPS[f"sep_conv_{k}x{k}"](C, 1, False)) == 2 * (C * k * k + C * C)
    # Two 1x1 convs to C/2 each + BN 2C.
    assert _n(OPS["skip_connect"](C, 2, True)) == 2 * (C * C // 2) + 2 * C
    assert _n(OPS["skip_connect"](C, 1, True)) == 0
    assert _n(FactorizedReduce(3 * C, C)) == 3 * C * C + 2 * C
    assert _n(ReLUConvBN(3 * C, C, 1, 1, 0)) == 3 * C * C + 2 * C
    for name in ("none", "avg_pool_3x3", "max_pool_3x3"):
        assert _n(OPS[name](C, 2, True)) == 0


def test_only_the_first_depthwise_conv_of_sep_conv_is_strided():
    op = SepConv(4, 4, 3, 2, 1)
    depthwise = [m for m in op.modules() if isinstance(m, nn.Conv2d) and m.groups == 4]
    assert [m.stride for m in depthwise] == [(2, 2), (1, 1)]
    dil = DilConv(4, 4, 3, 2, 2, 2)
    assert dil[1].dilation == (2, 2) and dil[1].stride == (2, 2)


def test_factorized_reduce_equals_darts_on_even_sizes_and_relu_is_a_flag():
    torch.manual_seed(0)
    fr = FactorizedReduce(4, 6, affine=True).eval()
    x = torch.randn(2, 4, 8, 8)
    r = F.relu(x)
    darts = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], dim=1))
    assert torch.allclose(fr(x), darts, atol=1e-6)
    plain = FactorizedReduce(4, 6, relu=False).eval()
    plain.load_state_dict(fr.state_dict())
    assert not torch.allclose(plain(x), fr(x))
    assert torch.allclose(plain(r), fr(x), atol=1e-6)
    with pytest.raises(ConfigError, match="C_out"):
        FactorizedReduce(4, 5)


def test_naov2_identity_at_stride_2_has_no_relu():
    fr = operations.OPERATIONS_small[4](4, 2)
    assert isinstance(fr, FactorizedReduce) and fr.relu is None
    assert isinstance(operations.OPERATIONS_small[4](4, 1), nn.Identity)
    assert isinstance(OPS["skip_connect"](4, 2, True).relu, nn.ReLU)


def test_aux_heads():
    torch.manual_seed(0)
    cifar, imagenet = cifar_aux_head(16, 10).eval(), imagenet_aux_head(16, 10).eval()
    assert cifar(torch.randn(2, 16, 8, 8)).shape == (2, 10)
    assert imagenet(torch.randn(2, 16, 7, 7)).shape == (2, 10)
    # ReLU, pool, 1x1 conv C->128 + BN, 2x2 conv 128->768 + BN, linear 768->classes.
    expected = 16 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10
    assert _n(cifar) == _n(imagenet) == expected
    darts_imagenet = imagenet_aux_head(16, 10, final_bn=False)
    assert _n(darts_imagenet) == expected - 2 * 768
    assert [m.stride for m in (cifar.features[1], imagenet.features[1])] == [3, 2]
    assert isinstance(cifar, AuxHead) and not cifar.features[1].count_include_pad


# ---- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(rule="later"), "drop_path_rule"),
    (dict(drop_path_keep_prob=0.0), "drop_path_keep_prob"),
    (dict(drop_path_keep_prob=0.8, steps=0), "steps"),
    (dict(space="large"), "search_space"),
    (dict(channels=0), "channels"),
])
def test_bad_constructor_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        final_cifar(**kwargs)


def test_bad_architectures_name_the_position():
    with pytest.raises(ArchError, match="position 0"):
        final_cifar("7 " + " ".join(["0"] * 39))
    with pytest.raises(ArchError, match="integers, expected 40"):
        final_cifar("1 0 1 0")
    with pytest.raises(ConfigError, match="even"):
        NASNetworkImageNet(10, 1, 5, 5, 1.0, 1.0, False, 1, PUBLISHED_NAONET_V2)


def test_middle_space_ops_are_checked_against_ten_ops():
    arch = np.array(parse_nao_arch(next(iter(MINI_MIDDLE)), num_ops=10).ints)
    assert final_cifar(arch.tolist(), space="middle").arch.ints == arch.tolist()
    with pytest.raises(ArchError, match="op id in 0..4"):
        final_cifar(arch.tolist(), space="small")
