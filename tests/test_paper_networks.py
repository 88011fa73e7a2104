"""Every paper network the systems declare (the `paper_network`s of their static_checks.py),
built exactly as its script builds it: it trains one step on a tiny batch (forward as the script
trains it half-way, backward, every main weight gets a gradient), and its parameter count is
the one its static claim stands for: the original implementation's count where claims.yaml has
it, else the count pinned here (checked by hand formulas in the ENAS child tests)."""
import numpy as np
import pytest

from nasrepro.static_checks import paper_networks
from reproduce.claims import load_claims

NETWORKS = paper_networks()
CLAIMS = {claim.id: claim for claim in load_claims()}
# Networks whose claim has no original_exact (it has a reported value): tests/test_micro_child.py
# and tests/test_macro_child.py derive the ENAS ones from the decoded architectures;
# NAONet-WS's is the count of renqianluo/NAO's own TF1 graph (tests/test_naows_cnn.py).
PINNED_PARAMS = {"enas-micro-final": 3_894_372, "enas-macro-final": 42_559_392,
                 "naows-final": 2_466_252}


def test_every_system_with_static_checks_declares_its_networks():
    assert sorted(NETWORKS) == ["asha-const2020", "asha-const2021", "enas-macro-final",
                                "enas-micro-final", "gaea-imagenet", "naov2-cifar",
                                "naov2-imagenet", "naows-final"]
    for net in NETWORKS.values():
        assert net.params_claim in CLAIMS and CLAIMS[net.params_claim].is_static, net.name


def _torch_step(net):
    import torch
    from torch import nn

    from nasrepro.complexity.torch_count import count_params

    torch.manual_seed(0)
    model = net.build().train()
    images = torch.randn(*net.tiny_input)
    labels = torch.randint(0, net.classes, (net.tiny_input[0],))
    logits, aux = net.train_forward(model, images)
    assert logits.shape == (net.tiny_input[0], net.classes)
    loss = nn.functional.cross_entropy(logits, labels)
    if aux is not None:
        assert aux.shape == logits.shape
        loss = loss + 0.4 * nn.functional.cross_entropy(aux, labels)
    loss.backward()
    assert np.isfinite(loss.item())
    no_grad = [name for name, p in model.named_parameters()
               if not any(word in name for word in net.params_exclude) and p.grad is None]
    return count_params(model, exclude=net.params_exclude), no_grad


def _tf_step(net):
    import tensorflow as tf

    from nasrepro.complexity.tf_count import count_params

    tf.random.set_seed(0)
    model = net.build()
    images = tf.random.normal(net.tiny_input)
    labels = tf.random.uniform([net.tiny_input[0]], 0, net.classes, dtype=tf.int32)
    with tf.GradientTape() as tape:
        logits, aux = net.train_forward(model, images)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    assert tuple(logits.shape) == (net.tiny_input[0], net.classes)
    main = [v for v in model.trainable_variables
            if not any(word in v.name for word in net.params_exclude)]
    grads = tape.gradient(loss, main)
    assert np.isfinite(float(loss))
    no_grad = [v.name for v, g in zip(main, grads) if g is None]
    return count_params(model, exclude=net.params_exclude), no_grad


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_paper_network_trains_a_step_and_has_its_claimed_parameter_count(name):
    net = NETWORKS[name]
    params, no_grad = (_torch_step if net.framework == "torch" else _tf_step)(net)
    assert no_grad == []
    claim = CLAIMS[net.params_claim]
    expected = claim.original_exact if claim.original_exact is not None else PINNED_PARAMS[name]
    assert params == expected
