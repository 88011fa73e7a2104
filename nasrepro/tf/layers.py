"""TF2 layers with the numerics of the ENAS family (ENAS, NAO-WS; NHWC throughout).

Every layer creates its variables in its constructor from explicit channel counts, so a model
is complete before its first call and tf.function traces never create variables. Weights are
He-normal with no conv biases; batch norm keeps moving averages with decay 0.9 and eps 1e-5.
Randomness (dropout, drop-path) comes from a tf.random.Generator passed in by the caller, whose
state goes into the checkpoint, so a resumed run draws the same numbers."""
import math

import tensorflow as tf


def he_normal(shape, fan_in: int, name: str, trainable: bool = True) -> tf.Variable:
    """A weight drawn from a truncated normal with stddev sqrt(2 / fan_in) (He et al.)."""
    std = math.sqrt(2.0 / fan_in)
    return tf.Variable(tf.random.truncated_normal(shape, stddev=std), name=name,
                       trainable=trainable)


def fan_out_truncated_normal(shape, name: str, trainable: bool = True) -> tf.Variable:
    """TF1's variance_scaling_initializer(mode='fan_out') (NAO/cnn's convolutions): a truncated
    normal of variance 1 / fan_out, the stddev divided by 0.8796 to undo the truncation;
    fan_out = kernel area x output channels (the last axis)."""
    fan_out = int(math.prod(shape[:-2])) * int(shape[-1])
    std = math.sqrt(1.0 / max(fan_out, 1)) / 0.87962566103423978
    return tf.Variable(tf.random.truncated_normal(shape, stddev=std), name=name,
                       trainable=trainable)


def _kernel_shape(kernel) -> tuple:
    return (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)


def conv_weight(kernel, in_channels: int, out_channels: int, name: str = "w",
                init: str = "he_normal"):
    """A [kh, kw, in, out] kernel (kernel: k or (kh, kw)); init "he_normal" (ENAS, NAO-WS) or
    "fan_out" (NAO/cnn)."""
    kh, kw = _kernel_shape(kernel)
    shape = [kh, kw, in_channels, out_channels]
    if init == "fan_out":
        return fan_out_truncated_normal(shape, name)
    return he_normal(shape, kh * kw * in_channels, name)


class Conv(tf.Module):
    """k x k (or kh x kw) convolution, SAME padding, no bias, optionally dilated."""

    def __init__(self, in_channels: int, out_channels: int, kernel=1, stride: int = 1,
                 name=None, dilation: int = 1, init: str = "he_normal"):
        super().__init__(name=name)
        if stride > 1 and dilation > 1:
            raise ValueError(f"a convolution cannot have both stride {stride} and dilation "
                             f"{dilation} (TensorFlow refuses it)")
        self.in_channels, self.out_channels, self.kernel, self.stride = (
            in_channels, out_channels, kernel, stride)
        self.dilation = dilation
        with self.name_scope:
            self.w = conv_weight(kernel, in_channels, out_channels, init=init)

    def __call__(self, x):
        return tf.nn.conv2d(x, self.w, self.stride, "SAME", dilations=self.dilation)


class BatchNorm(tf.Module):
    """Batch norm with learned scale and offset and moving averages of mean and variance.

    In training mode it normalizes with the batch statistics (biased variance) and moves the
    averages toward them (with the unbiased variance, as TF1's fused batch norm did)."""

    def __init__(self, channels: int, decay: float = 0.9, epsilon: float = 1e-5, name=None):
        super().__init__(name=name)
        self.decay, self.epsilon = decay, epsilon
        with self.name_scope:
            self.scale = tf.Variable(tf.ones([channels]), name="scale")
            self.offset = tf.Variable(tf.zeros([channels]), name="offset")
            # MEAN: under tf.distribute every replica moves the averages towards its own
            # batch's statistics and the copies keep their mean (one tower's TF1 update each).
            self.moving_mean = tf.Variable(tf.zeros([channels]), name="moving_mean",
                                           trainable=False,
                                           aggregation=tf.VariableAggregation.MEAN)
            self.moving_variance = tf.Variable(tf.ones([channels]), name="moving_variance",
                                               trainable=False,
                                               aggregation=tf.VariableAggregation.MEAN)

    def __call__(self, x, training: bool):
        if not training:
            return tf.nn.batch_normalization(x, self.moving_mean, self.moving_variance,
                                             self.offset, self.scale, self.epsilon)
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), x.dtype)
        unbiased = variance * count / tf.maximum(count - 1.0, 1.0)
        self.moving_mean.assign_sub((1.0 - self.decay) * (self.moving_mean - mean))
        self.moving_variance.assign_sub((1.0 - self.decay) * (self.moving_variance - unbiased))
        return tf.nn.batch_normalization(x, mean, variance, self.offset, self.scale,
                                         self.epsilon)


def batch_norm_train(x, scale, offset, epsilon: float = 1e-5):
    """Batch norm on batch statistics only, with given scale and offset (no moving averages);
    ENAS's search-mode separable convs gather these per chosen input."""
    mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
    return tf.nn.batch_normalization(x, mean, variance, offset, scale, epsilon)


class ConvBN(tf.Module):
    """Optional ReLU, then a k x k conv, then batch norm: the 1x1 "calibration" block."""

    def __init__(self, in_channels: int, out_channels: int, kernel=1, stride: int = 1,
                 relu_first: bool = True, name=None, dilation: int = 1,
                 init: str = "he_normal"):
        super().__init__(name=name)
        self.relu_first = relu_first
        with self.name_scope:
            self.conv = Conv(in_channels, out_channels, kernel, stride, name="conv",
                             dilation=dilation, init=init)
            self.bn = BatchNorm(out_channels, name="bn")

    def __call__(self, x, training: bool):
        if self.relu_first:
            x = tf.nn.relu(x)
        return self.bn(self.conv(x), training)


class FactorizedReduction(tf.Module):
    """Halves the resolution without losing pixels: two strided 1x1 convs to out/2 channels, the
    second on the input shifted by one pixel, concatenated, then batch norm (no ReLU inside).
    With stride 1 it is a 1x1 conv plus batch norm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2, name=None,
                 init: str = "he_normal"):
        super().__init__(name=name)
        if stride == 2 and out_channels % 2:
            raise ValueError(f"factorized reduction needs an even channel count, got "
                             f"{out_channels}")
        self.stride = stride
        with self.name_scope:
            if stride == 1:
                self.conv = Conv(in_channels, out_channels, 1, name="conv", init=init)
            else:
                self.path1 = Conv(in_channels, out_channels // 2, 1, name="path1_conv",
                                  init=init)
                self.path2 = Conv(in_channels, out_channels // 2, 1, name="path2_conv",
                                  init=init)
            self.bn = BatchNorm(out_channels, name="bn")

    def __call__(self, x, training: bool):
        if self.stride == 1:
            return self.bn(self.conv(x), training)
        path1 = tf.nn.avg_pool2d(x, 1, self.stride, "VALID")
        path1 = self.path1(path1)
        shifted = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
        path2 = self.path2(tf.nn.avg_pool2d(shifted, 1, self.stride, "VALID"))
        return self.bn(tf.concat([path1, path2], axis=3), training)


class SeparableConvBN(tf.Module):
    """ReLU, depthwise k x k and pointwise 1x1 convolution, batch norm (one half of ENAS's
    separable-conv op, which stacks two of these)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 name=None, dilation: int = 1, init: str = "he_normal"):
        super().__init__(name=name)
        if stride > 1 and dilation > 1:
            raise ValueError(f"a separable convolution cannot have both stride {stride} and "
                             f"dilation {dilation} (TensorFlow refuses it)")
        self.stride, self.dilation = stride, dilation
        with self.name_scope:
            if init == "fan_out":
                self.depthwise = fan_out_truncated_normal([kernel, kernel, in_channels, 1],
                                                          "depthwise")
                self.pointwise = fan_out_truncated_normal([1, 1, in_channels, out_channels],
                                                          "pointwise")
            else:
                self.depthwise = he_normal([kernel, kernel, in_channels, 1],
                                           kernel * kernel * in_channels, "depthwise")
                self.pointwise = he_normal([1, 1, in_channels, out_channels], in_channels,
                                           "pointwise")
            self.bn = BatchNorm(out_channels, name="bn")

    def __call__(self, x, training: bool):
        x = tf.nn.relu(x)
        x = tf.nn.separable_conv2d(x, self.depthwise, self.pointwise,
                                   [1, self.stride, self.stride, 1], "SAME",
                                   dilations=[self.dilation, self.dilation])
        return self.bn(x, training)


class Dense(tf.Module):
    """Fully connected layer: He-normal and no bias (ENAS's classifier), or with `bias` a
    Glorot-uniform kernel and a zero bias (TF1 tf.layers.dense's defaults, NAO/cnn)."""

    def __init__(self, in_features: int, out_features: int, name=None, bias: bool = False):
        super().__init__(name=name)
        self.b = None
        with self.name_scope:
            if bias:
                limit = math.sqrt(6.0 / (in_features + out_features))
                self.w = tf.Variable(tf.random.uniform([in_features, out_features], -limit,
                                                       limit), name="w")
                self.b = tf.Variable(tf.zeros([out_features]), name="b")
            else:
                self.w = he_normal([in_features, out_features], in_features, "w")

    def __call__(self, x):
        y = tf.matmul(x, self.w)
        return y if self.b is None else y + self.b


def global_avg_pool(x):
    return tf.reduce_mean(x, axis=[1, 2])


def pool(x, kind: str, stride: int = 1, size: int = 3):
    """Average, max or min pooling with SAME padding ("avg", "max", "min"); the average leaves
    the padding out, min is -max(-x) (NAO/cnn's min_pool)."""
    if kind == "avg":
        return tf.nn.avg_pool2d(x, size, stride, "SAME")
    if kind == "max":
        return tf.nn.max_pool2d(x, size, stride, "SAME")
    if kind == "min":
        return -tf.nn.max_pool2d(-x, size, stride, "SAME")
    raise ValueError(f"unknown pooling '{kind}' (expected avg, max or min)")


def dropout(x, keep_prob, generator: tf.random.Generator):
    """Inverted dropout that keeps each unit with probability keep_prob."""
    if isinstance(keep_prob, (int, float)) and keep_prob >= 1.0:
        return x
    mask = tf.cast(generator.uniform(tf.shape(x)) < keep_prob, x.dtype)
    return x * mask / keep_prob


def drop_path(x, keep_prob, generator: tf.random.Generator):
    """Drops whole examples of a branch: output = x / keep * Bernoulli(keep) per example."""
    shape = tf.stack([tf.shape(x)[0], 1, 1, 1])
    mask = tf.floor(keep_prob + generator.uniform(shape))
    return x / keep_prob * mask
