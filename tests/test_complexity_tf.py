"""Parameter and mult-add counts of TensorFlow 2 code against hand-computed values and torch."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from nasrepro.complexity import tf_count  # noqa: E402
from nasrepro.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.tf


def w(*shape):
    return tf.Variable(tf.zeros(shape))


def madds(fn, *shape):
    return tf_count.count_mult_adds(fn, input_size=shape)


def test_conv_variants():
    k = w(3, 3, 3, 16)
    # conv 3->16 k3 s1 SAME on 32x32: 16*32*32 outputs, 3*3*3 taps each = 442,368.
    assert madds(lambda x: tf.nn.conv2d(x, k, 1, "SAME"), 1, 32, 32, 3) == 442_368
    # bias add counts nothing.
    assert madds(lambda x: tf.nn.conv2d(x, k, 1, "SAME") + 1.0, 1, 32, 32, 3) == 442_368
    # stride 2: 16x16 outputs.
    assert madds(lambda x: tf.nn.conv2d(x, k, 2, "SAME"), 1, 32, 32, 3) == 16 * 16 * 16 * 27
    # VALID: 30x30 outputs.
    assert madds(lambda x: tf.nn.conv2d(x, k, 1, "VALID"), 1, 32, 32, 3) == 16 * 30 * 30 * 27
    # dilation 2, SAME: 32x32 outputs, still 9 taps.
    d = w(3, 3, 8, 8)
    assert madds(lambda x: tf.nn.conv2d(x, d, 1, "SAME", dilations=2), 1, 32, 32, 8) == \
        8 * 32 * 32 * 9 * 8
    # 4 groups 16->32: the filter holds 16/4 = 4 input channels.
    g = w(3, 3, 4, 32)
    assert madds(lambda x: tf.nn.conv2d(x, g, 1, "SAME"), 1, 32, 32, 16) == 32 * 32 * 32 * 9 * 4


def test_depthwise_and_separable():
    dw = w(3, 3, 16, 1)
    assert madds(lambda x: tf.nn.depthwise_conv2d(x, dw, [1, 1, 1, 1], "SAME"),
                 1, 32, 32, 16) == 16 * 32 * 32 * 9
    pw = w(1, 1, 16, 24)
    # separable = depthwise (16*32*32*9) + pointwise 16->24 (24*32*32*16).
    assert madds(lambda x: tf.nn.separable_conv2d(x, dw, pw, [1, 1, 1, 1], "SAME"),
                 1, 32, 32, 16) == 16 * 32 * 32 * 9 + 24 * 32 * 32 * 16


def test_transposed_conv_matmul_batch_matmul():
    t = w(2, 2, 4, 8)  # [kh, kw, out, in]
    assert madds(lambda x: tf.nn.conv2d_transpose(x, t, [1, 16, 16, 4], 2),
                 1, 8, 8, 8) == 8 * 8 * 8 * 2 * 2 * 4
    m = w(100, 10)
    assert madds(lambda x: tf.matmul(x, m), 1, 100) == 1000
    assert madds(lambda x: tf.matmul(m, x, transpose_a=True, transpose_b=True), 1, 100) == 1000
    # attention-like scores: batch 1, 5 queries, 7 keys, width 6: 5*7*6.
    keys = w(1, 6, 7)
    assert madds(lambda q: tf.matmul(q, keys), 1, 5, 6) == 5 * 7 * 6
    assert madds(lambda q: tf.matmul(keys, q, adjoint_a=True, adjoint_b=True), 1, 5, 6) == \
        7 * 5 * 6


def test_nested_tf_function_and_tensor_spec_batch():
    k = w(1, 1, 3, 4)
    inner = tf.function(lambda x: tf.nn.conv2d(x, k, 1, "SAME"))
    outer = tf.function(lambda x: inner(inner_input(x)))

    def inner_input(x):
        return x * 2.0

    spec = tf.TensorSpec([None, 8, 8, 3])  # unknown batch becomes 1
    assert tf_count.count_mult_adds(outer, spec) == 4 * 8 * 8 * 3
    assert tf_count.count_mult_adds(outer, np.zeros((1, 8, 8, 3), np.float32)) == 4 * 8 * 8 * 3


def test_unknown_shape_and_control_flow_are_errors():
    m = w(4, 4)
    with pytest.raises(ConfigError, match="not fully known"):
        tf_count.count_mult_adds(lambda x: tf.matmul(x, m), tf.TensorSpec([3, None]))

    def loop(x):
        return tf.while_loop(lambda i, y: i < tf.shape(y)[0], lambda i, y: (i + 1, tf.matmul(y, m)),
                             (tf.constant(0), x))[1]
    with pytest.raises(ConfigError, match="control flow"):
        tf_count.count_mult_adds(loop, input_size=(1, 4))


class TFSmallNet(tf.Module):
    """conv(3->8, k3, SAME, no bias)-BN-ReLU-global pool-dense(8->10), plus an aux head."""

    def __init__(self):
        super().__init__(name="small_net")
        with self.name_scope:
            self.conv = tf.Variable(tf.zeros([3, 3, 3, 8]), name="conv_w")
            self.bn_gamma = tf.Variable(tf.ones([8]), name="bn_gamma")
            self.bn_beta = tf.Variable(tf.zeros([8]), name="bn_beta")
            self.bn_mean = tf.Variable(tf.zeros([8]), trainable=False, name="bn_mean")
            self.bn_var = tf.Variable(tf.ones([8]), trainable=False, name="bn_var")
            self.fc_w = tf.Variable(tf.zeros([8, 10]), name="fc_w")
            self.fc_b = tf.Variable(tf.zeros([10]), name="fc_b")
            self.auxiliary_head = [tf.Variable(tf.zeros([8, 10]), name="aux_w"),
                                   tf.Variable(tf.zeros([10]), name="aux_b")]
            self.fc_alias = self.fc_w  # the same variable reached twice counts once

    def __call__(self, x, training=False):
        x = tf.nn.conv2d(x, self.conv, 1, "SAME")
        x = tf.nn.batch_normalization(x, self.bn_mean, self.bn_var, self.bn_beta, self.bn_gamma,
                                      1e-5)
        x = tf.reduce_mean(tf.nn.relu(x), axis=[1, 2])
        logits = tf.matmul(x, self.fc_w) + self.fc_b
        if training:
            return logits, tf.matmul(x, self.auxiliary_head[0]) + self.auxiliary_head[1]
        return logits


def test_small_net_params_and_exclusion():
    net = TFSmallNet()
    main = 8 * 3 * 3 * 3 + 8 + 8 + 8 * 10 + 10   # BN moving stats are not trainable
    aux = 8 * 10 + 10
    assert tf_count.count_params(net) == main + aux
    assert tf_count.count_params(net, exclude=("auxiliary",)) == main   # by attribute path
    assert tf_count.count_params(net, exclude=("aux_",)) == main        # by variable name
    assert tf_count.count_params(net, exclude=("fc_alias",)) == main + aux  # fc_w still reached


def test_torch_and_tf_agree_on_the_same_architecture():
    torch_count = pytest.importorskip("nasrepro.complexity.torch_count")
    from torch import nn

    class TorchSmallNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.fc = nn.Linear(8, 10)
            self.auxiliary_head = nn.Linear(8, 10)

        def forward(self, x):
            x = nn.functional.relu(self.bn(self.conv(x))).mean((2, 3))
            return (self.fc(x), self.auxiliary_head(x)) if self.training else self.fc(x)

    tnet, fnet = TorchSmallNet(), TFSmallNet()
    assert torch_count.count_params(tnet) == tf_count.count_params(fnet, exclude=("auxiliary",))
    expected = 8 * 32 * 32 * 27 + 8 * 10
    assert torch_count.count_mult_adds(tnet, (1, 3, 32, 32)) == expected
    assert tf_count.count_mult_adds(lambda x: fnet(x, training=False),
                                    input_size=(1, 32, 32, 3)) == expected
