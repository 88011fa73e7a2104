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


def conv_weight(kernel: int, in_channels: int, out_channels: int, name: str = "w"):
    return he_normal([kernel, kernel, in_channels, out_channels], kernel * kernel * in_channels,
                     name)


class Conv(tf.Module):
    """k x k convolution, SAME padding, no bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                 name=None):
        super().__init__(name=name)
        self.in_channels, self.out_channels, self.kernel, self.stride = (
            in_channels, out_channels, kernel, stride)
        with self.name_scope:
            self.w = conv_weight(kernel, in_channels, out_channels)

    def __call__(self, x):
        return tf.nn.conv2d(x, self.w, self.stride, "SAME")


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
            self.moving_mean = tf.Variable(tf.zeros([channels]), name="moving_mean",
                                           trainable=False)
            self.moving_variance = tf.Variable(tf.ones([channels]), name="moving_variance",
                                               trainable=False)

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

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                 relu_first: bool = True, name=None):
        super().__init__(name=name)
        self.relu_first = relu_first
        with self.name_scope:
            self.conv = Conv(in_channels, out_channels, kernel, stride, name="conv")
            self.bn = BatchNorm(out_channels, name="bn")

    def __call__(self, x, training: bool):
        if self.relu_first:
            x = tf.nn.relu(x)
        return self.bn(self.conv(x), training)


class FactorizedReduction(tf.Module):
    """Halves the resolution without losing pixels: two strided 1x1 convs to out/2 channels, the
    second on the input shifted by one pixel, concatenated, then batch norm (no ReLU inside).
    With stride 1 it is a 1x1 conv plus batch norm."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2, name=None):
        super().__init__(name=name)
        if stride == 2 and out_channels % 2:
            raise ValueError(f"factorized reduction needs an even channel count, got "
                             f"{out_channels}")
        self.stride = stride
        with self.name_scope:
            if stride == 1:
                self.conv = Conv(in_channels, out_channels, 1, name="conv")
            else:
                self.path1 = Conv(in_channels, out_channels // 2, 1, name="path1_conv")
                self.path2 = Conv(in_channels, out_channels // 2, 1, name="path2_conv")
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
                 name=None):
        super().__init__(name=name)
        self.stride = stride
        with self.name_scope:
            self.depthwise = he_normal([kernel, kernel, in_channels, 1],
                                       kernel * kernel * in_channels, "depthwise")
            self.pointwise = he_normal([1, 1, in_channels, out_channels], in_channels,
                                       "pointwise")
            self.bn = BatchNorm(out_channels, name="bn")

    def __call__(self, x, training: bool):
        x = tf.nn.relu(x)
        x = tf.nn.separable_conv2d(x, self.depthwise, self.pointwise,
                                   [1, self.stride, self.stride, 1], "SAME")
        return self.bn(x, training)


class Dense(tf.Module):
    """Fully connected layer without bias (ENAS's classifier)."""

    def __init__(self, in_features: int, out_features: int, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.w = he_normal([in_features, out_features], in_features, "w")

    def __call__(self, x):
        return tf.matmul(x, self.w)


def global_avg_pool(x):
    return tf.reduce_mean(x, axis=[1, 2])


def pool(x, kind: str, stride: int = 1, size: int = 3):
    """3x3 average or max pooling with SAME padding ("avg" or "max")."""
    if kind == "avg":
        return tf.nn.avg_pool2d(x, size, stride, "SAME")
    if kind == "max":
        return tf.nn.max_pool2d(x, size, stride, "SAME")
    raise ValueError(f"unknown pooling '{kind}' (expected avg or max)")


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
