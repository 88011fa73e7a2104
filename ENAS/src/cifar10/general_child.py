"""ENAS's macro child network (melodyguan/enas, src/cifar10/general_child.py): the whole
network is searched, one op per layer plus skip connections from any earlier layer. NHWC only
(the original's NHWC path raised, B3).

Arc (codec order, nasrepro.archs.enas): for layer k the op id, then k skip bits; bit i adds
prev_layers[i] where prev_layers = [stem, L0, L1, ...]. The main input of layer k is always the
previous layer (the stem for k = 0). Ops: 0 conv3x3, 1 sep3x3, 2 conv5x5, 3 sep5x5, 4 avg pool,
5 max pool.

Two modes:
- search (`fixed_arc=None`): every call takes the sampled arc as an int32 tensor. All ops of a
  layer read the same input; only the chosen one runs (tf.switch_case). Ops are post-activation
  (conv -> BN -> ReLU); skips are summed, then BN. C channels throughout; pooling layers only
  halve the resolution.
- fixed (`fixed_arc` = ints / string / MacroArc): pre-activation ops (ReLU -> conv -> BN), skips
  concatenated and projected back to C with a 1x1; C doubles at each pooling layer.

After each pooling layer every tensor in the layer list (the stem included) is replaced by a
factorized reduction of itself, so later skips still match in size (and, fixed, in channels).
BN uses batch statistics when `training` and moving averages otherwise, in both modes (unlike
the micro child, the original's macro valid/test/reward graphs were built as eval graphs).
All variables are created in __init__."""
import tensorflow as tf

from nasrepro.archs.enas import MACRO_OPS, MacroArc, macro_arc_length, parse_macro_arc
from nasrepro.errors import ConfigError, check_value
from nasrepro.tf.layers import (BatchNorm, Conv, ConvBN, Dense, FactorizedReduction,
                                SeparableConvBN, dropout, global_avg_pool, he_normal, pool)

NUM_OPS = len(MACRO_OPS)
KERNEL_SIZES = {0: 3, 1: 3, 2: 5, 3: 5}  # conv ops; the rest are pools
SEPARABLE_OPS = (1, 3)
POOL_KINDS = {4: "avg", 5: "max"}
# The original's search-mode conv ops end in batch_norm_with_mask (eps 1e-3) over all channels.
MASKED_BN_EPSILON = 1e-3


def pool_layer_ids(num_layers: int) -> list:
    """Layers after which the resolution halves: [L//3 - 1, 2*(L//3) - 1] ([7, 15] for L=24).
    For L < 3 both are -1, i.e. no pooling."""
    pool_distance = num_layers // 3
    return [pool_distance - 1, 2 * pool_distance - 1]


# ---------------------------------------------------------------------- search-mode ops


class SearchConvOp(tf.Module):
    """1x1 conv -> BN -> ReLU, then k x k conv (or depthwise k x k + pointwise) -> BN (eps 1e-3)
    -> ReLU. Post-activation, as the original's _conv_branch."""

    def __init__(self, channels: int, kernel: int, separable: bool, name=None):
        super().__init__(name=name)
        self.separable = separable
        with self.name_scope:
            self.inp_conv = Conv(channels, channels, 1, name="inp_conv_1")
            self.inp_bn = BatchNorm(channels, name="inp_bn")
            if separable:
                self.depthwise = he_normal([kernel, kernel, channels, 1],
                                           kernel * kernel * channels, "w_depth")
                self.pointwise = he_normal([1, 1, channels, channels], channels, "w_point")
            else:
                self.conv = Conv(channels, channels, kernel, name="out_conv")
            self.out_bn = BatchNorm(channels, epsilon=MASKED_BN_EPSILON, name="out_bn")

    def __call__(self, x, training: bool):
        x = tf.nn.relu(self.inp_bn(self.inp_conv(x), training))
        if self.separable:
            x = tf.nn.separable_conv2d(x, self.depthwise, self.pointwise, [1, 1, 1, 1], "SAME")
        else:
            x = self.conv(x)
        return tf.nn.relu(self.out_bn(x, training))


class SearchPoolOp(tf.Module):
    """1x1 conv -> BN -> ReLU, then 3x3 pooling at stride 1."""

    def __init__(self, channels: int, kind: str, name=None):
        super().__init__(name=name)
        self.kind = kind
        with self.name_scope:
            self.conv = Conv(channels, channels, 1, name="conv_1")
            self.bn = BatchNorm(channels, name="bn")

    def __call__(self, x, training: bool):
        return pool(tf.nn.relu(self.bn(self.conv(x), training)), self.kind)


class SearchLayer(tf.Module):
    """Layer k with shared weights for every op; the arc picks one op and the skips."""

    def __init__(self, layer_id: int, channels: int, num_branches: int, name=None):
        super().__init__(name=name)
        self.layer_id = layer_id
        with self.name_scope:
            self.ops = [_search_op(op, channels, f"branch_{op}") for op in range(num_branches)]
            # Sum of skips is renormalized; layer 0 has no skips and no BN.
            self.skip_bn = BatchNorm(channels, name="skip_bn") if layer_id > 0 else None

    def __call__(self, prev_layers, op, skip_bits, training: bool):
        x = prev_layers[-1]
        branches = [lambda fn=fn: fn(x, training) for fn in self.ops]
        out = tf.switch_case(op, branches)
        out.set_shape(x.shape)
        if self.layer_id == 0:
            return out
        bits = tf.cast(skip_bits, out.dtype)
        for i in range(self.layer_id):
            out = out + bits[i] * prev_layers[i]
        return self.skip_bn(out, training)


def _search_op(op: int, channels: int, name: str) -> tf.Module:
    if op in POOL_KINDS:
        return SearchPoolOp(channels, POOL_KINDS[op], name=name)
    return SearchConvOp(channels, KERNEL_SIZES[op], op in SEPARABLE_OPS, name=name)


# ---------------------------------------------------------------------- fixed-mode layer


class FixedLayer(tf.Module):
    """One layer of a fixed arc: ReLU -> 1x1 -> BN, then the op; for k > 0 (even without skip
    bits set, as in the original) concat [selected earlier layers..., out] -> ReLU -> 1x1 back
    to C -> BN."""

    def __init__(self, layer_id: int, channels: int, op: int, skip_bits, separable: bool,
                 name=None):
        super().__init__(name=name)
        self.layer_id, self.op = layer_id, op
        self.skip_sources = [i for i, bit in enumerate(skip_bits) if bit]
        with self.name_scope:
            self.conv_1x1 = ConvBN(channels, channels, 1, name="conv_1x1")
            if op in POOL_KINDS:
                # The original left pooling unimplemented here (`pass`, B5). We use the
                # search-mode pool op in this mode's pre-activation order: ReLU -> 1x1 -> BN
                # (conv_1x1 above), then 3x3 pooling at stride 1, no further ReLU.
                self.body = None
            elif op in SEPARABLE_OPS and separable:
                self.body = SeparableConvBN(channels, channels, KERNEL_SIZES[op], name="sep_conv")
            else:
                # B5: the original builds ops 1 and 3 as regular convs in fixed mode.
                self.body = ConvBN(channels, channels, KERNEL_SIZES[op], name="conv")
            self.skip = None
            if layer_id > 0:
                width = (len(self.skip_sources) + 1) * channels
                self.skip = ConvBN(width, channels, 1, name="skip")

    def __call__(self, prev_layers, training: bool):
        out = self.conv_1x1(prev_layers[-1], training)
        if self.body is None:
            out = pool(out, POOL_KINDS[self.op])
        else:
            out = self.body(out, training)
        if self.skip is None:
            return out
        joined = tf.concat([prev_layers[i] for i in self.skip_sources] + [out], axis=3)
        return self.skip(joined, training)


# ---------------------------------------------------------------------- network


class GeneralChild(tf.Module):
    """See the module docstring. `pool_layers` are the original's layer ids after which the
    resolution halves; `out_filters` here is the stem width (out_filters * out_filters_scale)."""

    def __init__(self, *, num_layers: int, out_filters: int, num_branches: int = NUM_OPS,
                 num_classes: int = 10, keep_prob: float = 1.0, fixed_arc=None,
                 fixed_separable: bool = False, out_filters_scale: int = 1,
                 name: str = "child"):
        super().__init__(name=name)
        _check(isinstance(num_layers, int) and num_layers >= 1, "num_layers", num_layers,
               "an integer >= 1")
        _check(isinstance(out_filters_scale, int) and out_filters_scale >= 1,
               "out_filters_scale", out_filters_scale, "an integer >= 1")
        _check(isinstance(out_filters, int) and out_filters >= 2 and
               (out_filters * out_filters_scale) % 2 == 0, "out_filters", out_filters,
               "an integer >= 2 whose product with out_filters_scale is even (factorized "
               "reduction splits channels in two)")
        _check(1 <= num_branches <= NUM_OPS, "num_branches", num_branches,
               f"1..{NUM_OPS} (ops: {', '.join(MACRO_OPS)})")
        _check(num_classes >= 1, "num_classes", num_classes, "an integer >= 1")
        _check(0.0 < keep_prob <= 1.0, "keep_prob", keep_prob, "a probability in (0, 1]")
        self.num_layers, self.num_branches, self.num_classes = num_layers, num_branches, num_classes
        self.keep_prob, self.fixed_separable = keep_prob, fixed_separable
        self.out_filters = out_filters * out_filters_scale
        self.arc_length = macro_arc_length(num_layers)
        self.pool_layers = pool_layer_ids(num_layers)
        self.fixed_arc = None
        if fixed_arc is not None:
            self.fixed_arc = (fixed_arc if isinstance(fixed_arc, MacroArc) else
                              parse_macro_arc(fixed_arc, num_layers, num_branches, "fixed_arc"))
            if self.fixed_arc.num_layers != num_layers:
                raise ConfigError(f"fixed_arc has {self.fixed_arc.num_layers} layers, "
                                  f"num_layers is {num_layers}")
        with self.name_scope:
            self._build()

    @property
    def search_mode(self) -> bool:
        return self.fixed_arc is None

    def _build(self):
        channels = self.out_filters
        self.stem_conv = Conv(3, channels, 3, name="stem_conv")
        self.stem_bn = BatchNorm(channels, name="stem_bn")
        self.layers, self.reductions = [], []
        for layer_id in range(self.num_layers):
            name = f"layer_{layer_id}"
            if self.search_mode:
                layer = SearchLayer(layer_id, channels, self.num_branches, name=name)
            else:
                op, bits = self.fixed_arc.layers[layer_id]
                layer = FixedLayer(layer_id, channels, op, bits, self.fixed_separable, name=name)
            self.layers.append(layer)
            reductions = None
            if layer_id in self.pool_layers:
                in_channels = channels
                if not self.search_mode:
                    channels *= 2
                # One reduction per tensor in the list: the stem and layers 0..layer_id.
                reductions = [FactorizedReduction(in_channels, channels, 2,
                                                  name=f"pool_at_{layer_id}_from_{i}")
                              for i in range(layer_id + 2)]
            self.reductions.append(reductions)
        self.fc = Dense(channels, self.num_classes, name="fc")

    def __call__(self, images, *, training: bool, generator: tf.random.Generator, arc=None,
                 drop_path_progress=None):
        """Logits [N, num_classes] and None (no aux head). `arc`: int32 [L + L(L-1)/2] in
        search mode, ignored in fixed mode. `drop_path_progress` is ignored (the macro child
        has no drop-path; accepted so both children share one call signature)."""
        if self.search_mode:
            arc = self._check_arc(arc)
        x = self.stem_bn(self.stem_conv(images), training)
        prev_layers = [x]
        start = 0  # position of layer k's op id in the arc
        for layer_id, (layer, reductions) in enumerate(zip(self.layers, self.reductions)):
            if self.search_mode:
                op = arc[start]
                bits = arc[start + 1:start + 1 + layer_id]
                x = layer(prev_layers, op, bits, training)
            else:
                x = layer(prev_layers, training)
            prev_layers.append(x)
            if reductions is not None:
                prev_layers = [reduce(t, training) for reduce, t in zip(reductions, prev_layers)]
            start += 1 + layer_id
        x = global_avg_pool(x)
        if training:
            x = dropout(x, self.keep_prob, generator)
        return self.fc(x), None

    def _check_arc(self, arc):
        if arc is None:
            raise ValueError("a search-mode GeneralChild needs the sampled arc on every call")
        if isinstance(arc, MacroArc):
            arc = arc.ints
        arc = tf.convert_to_tensor(arc, tf.int32)
        if arc.shape.rank != 1 or arc.shape[0] not in (None, self.arc_length):
            raise ConfigError(f"arc: expected an int32 vector of {self.arc_length} ints (per "
                              f"layer k: op id, then k skip bits), got shape {arc.shape}")
        return arc


def _check(ok: bool, flag: str, value, expected: str):
    check_value(ok, "GeneralChild", flag, value, expected)
