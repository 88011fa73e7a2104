"""ENAS's micro child network (melodyguan/enas, src/cifar10/micro_child.py): a stem,
num_layers + 2 cells of which two are reduction cells, and a classifier; optionally an auxiliary
head. NHWC, 32x32 images by default.

Two modes:
- search (`fixed_arc=None`): every call takes the sampled arc as an int32 tensor and runs the
  shared-weight cells (micro_ops.SearchCell). Before a reduction cell the previous output is
  factorized-reduced; the cell itself runs at stride 1. As in the original, every call behaves
  as training (batch-statistics BN, dropout) unless `search_eval_training=False` (B6).
- fixed (`fixed_arc` = MicroArc or 8 * num_cells ints): real stride-2 reduction cells, concat
  cell outputs, drop-path on ops 0-3 with the layer- and step-dependent keep probability.

No flag parsing here, so NAO-WS builds the same child. All variables exist after __init__."""
import tensorflow as tf

from ..archs.enas import MicroArc, parse_micro_arc
from ..errors import ConfigError, check_value
from .layers import BatchNorm, Conv, Dense, FactorizedReduction, dropout, global_avg_pool
from .micro_ops import NUM_OPS, FixedCell, SearchCell

AUX_PROJECT_CHANNELS = 128
AUX_CONV_CHANNELS = 768


def drop_path_keep(layer_id: int, num_layers: int, drop_path_keep_prob: float, progress):
    """Keep probability of drop-path in cell `layer_id` at training progress `progress`
    = min(1, (global_step + 1) / total_steps): deeper cells drop more, linearly in depth, and
    the drop rate grows linearly from 0 to that value over training."""
    layer_keep = 1.0 - (layer_id + 1) / (num_layers + 2) * (1.0 - drop_path_keep_prob)
    return 1.0 - progress * (1.0 - layer_keep)


class AuxHead(tf.Module):
    """ReLU -> 5x5/3 avg pool (VALID) -> 1x1 conv 128, BN, ReLU -> conv over the whole pooled
    map to 768, BN, ReLU -> global avg pool -> FC. Its BNs always use batch statistics."""

    def __init__(self, in_channels: int, in_hw: int, num_classes: int, name="aux_head"):
        super().__init__(name=name)
        pooled_hw = (in_hw - 5) // 3 + 1
        if pooled_hw < 1:
            raise ConfigError(f"aux head: feature map {in_hw}x{in_hw} is smaller than its 5x5 "
                              "pooling window; use larger images or no aux head")
        with self.name_scope:
            self.proj = Conv(in_channels, AUX_PROJECT_CHANNELS, 1, name="proj")
            self.proj_bn = BatchNorm(AUX_PROJECT_CHANNELS, name="proj_bn")
            self.conv = Conv(AUX_PROJECT_CHANNELS, AUX_CONV_CHANNELS, pooled_hw, name="avg_pool")
            self.conv_bn = BatchNorm(AUX_CONV_CHANNELS, name="avg_pool_bn")
            self.fc = Dense(AUX_CONV_CHANNELS, num_classes, name="fc")

    def __call__(self, x):
        x = tf.nn.avg_pool2d(tf.nn.relu(x), 5, 3, "VALID")
        x = tf.nn.relu(self.proj_bn(self.proj(x), training=True))
        x = tf.nn.relu(self.conv_bn(self.conv(x), training=True))
        return self.fc(global_avg_pool(x))


class MicroChild(tf.Module):
    """See the module docstring. `layer_ids`, `pool_layers` (reduction cells) and
    `aux_head_layer` (None without aux head) are the original's layer numbers."""

    def __init__(self, *, num_layers: int, out_filters: int, num_cells: int = 5,
                 num_branches: int = 5, num_classes: int = 10, keep_prob: float = 1.0,
                 drop_path_keep_prob: float = 1.0, use_aux_heads: bool = False, fixed_arc=None,
                 search_eval_training: bool = True, image_size: int = 32, name: str = "child"):
        super().__init__(name=name)
        _check(num_layers >= 1, "num_layers", num_layers, "an integer >= 1")
        _check(out_filters >= 2 and out_filters % 2 == 0, "out_filters", out_filters,
               "an even integer >= 2 (factorized reduction splits channels in two)")
        _check(num_cells >= 1, "num_cells", num_cells, "an integer >= 1")
        _check(1 <= num_branches <= NUM_OPS, "num_branches", num_branches,
               f"1..{NUM_OPS} (the micro space has {NUM_OPS} ops)")
        _check(0.0 < keep_prob <= 1.0, "keep_prob", keep_prob, "a probability in (0, 1]")
        _check(0.0 < drop_path_keep_prob <= 1.0, "drop_path_keep_prob", drop_path_keep_prob,
               "a probability in (0, 1]")
        self.num_layers, self.num_cells, self.num_classes = num_layers, num_cells, num_classes
        self.keep_prob, self.drop_path_keep_prob = keep_prob, drop_path_keep_prob
        self.search_eval_training = search_eval_training
        self.fixed_arc = None
        if fixed_arc is not None:
            self.fixed_arc = (fixed_arc if isinstance(fixed_arc, MicroArc) else
                              parse_micro_arc(fixed_arc, num_cells, num_branches, "fixed_arc"))
            if self.fixed_arc.num_cells != num_cells:
                raise ConfigError(f"fixed_arc has {self.fixed_arc.num_cells} nodes per cell, "
                                  f"num_cells is {num_cells}")
        pool_distance = num_layers // 3
        self.layer_ids = list(range(num_layers + 2))
        self.pool_layers = [pool_distance, 2 * pool_distance + 1]
        self.aux_head_layer = self.pool_layers[-1] + 1 if use_aux_heads else None
        self.aux_head = None
        with self.name_scope:
            self._build(out_filters, image_size)

    @property
    def search_mode(self) -> bool:
        return self.fixed_arc is None

    def _build(self, out_filters: int, image_size: int):
        self.stem_conv = Conv(3, 3 * out_filters, 3, name="stem_conv")
        self.stem_bn = BatchNorm(3 * out_filters, name="stem_bn")
        shapes = [(image_size, 3 * out_filters)] * 2  # (spatial size, channels) of the inputs
        filters = out_filters
        self.cells, self.reductions = [], []
        for layer_id in self.layer_ids:
            reduction = layer_id in self.pool_layers
            filters *= 2 if reduction else 1
            name = f"layer_{layer_id}"
            reduce = None
            if self.search_mode:
                if reduction:
                    hw, channels = shapes[1]
                    reduce = FactorizedReduction(channels, filters, 2, name=name + "_reduce")
                    shapes = [shapes[1], (hw // 2, filters)]
                cell = SearchCell(shapes, filters, self.num_cells, name=name)
                out_shape = (cell.out_hw, filters)
            else:
                arc = self.fixed_arc.reduce if reduction else self.fixed_arc.normal
                cell = FixedCell(shapes, filters, arc, 2 if reduction else 1, name=name)
                out_shape = (cell.out_hw, cell.out_channels)
            self.cells.append(cell)
            self.reductions.append(reduce)
            shapes = [shapes[1], out_shape]
            if layer_id == self.aux_head_layer:
                self.aux_head = AuxHead(out_shape[1], out_shape[0], self.num_classes)
        self.fc = Dense(shapes[1][1], self.num_classes, name="fc")

    @property
    def aux_head_variables(self) -> tuple:
        return self.aux_head.trainable_variables if self.aux_head is not None else ()

    @property
    def main_variables(self) -> tuple:
        """Trainable variables without the aux head's (the original trained only these, B4)."""
        aux = {id(v) for v in self.aux_head_variables}
        return tuple(v for v in self.trainable_variables if id(v) not in aux)

    # Plain Python control flow over Python values only: autograph's conversion would just add
    # tracing time (a lot of it, for hundreds of calls).
    @tf.autograph.experimental.do_not_convert
    def __call__(self, images, *, training: bool, generator: tf.random.Generator, arc=None,
                 drop_path_progress=None):
        """Logits [N, num_classes] and the aux head's logits (None unless training and
        use_aux_heads). `arc`: int32 [8 * num_cells] in search mode, ignored in fixed mode.
        `drop_path_progress`: min(1, (global_step + 1) / total_steps), fixed-mode training."""
        # B6: the original built every search-mode graph (valid, test, reward) as training.
        as_training = training or (self.search_mode and self.search_eval_training)
        if self.search_mode:
            normal_arc, reduce_arc = self._split_arc(arc)
        keep_schedule = (training and not self.search_mode and self.drop_path_keep_prob < 1.0)
        if keep_schedule:
            if drop_path_progress is None:
                raise ValueError("fixed-mode training with drop-path needs drop_path_progress")
            progress = tf.minimum(1.0, tf.cast(drop_path_progress, tf.float32))
        x = self.stem_bn(self.stem_conv(images), as_training)
        layers = [x, x]
        aux_logits = None
        for layer_id, (cell, reduce) in enumerate(zip(self.cells, self.reductions)):
            if self.search_mode:
                if reduce is not None:
                    layers = [layers[1], reduce(layers[1], as_training)]
                cell_arc = reduce_arc if layer_id in self.pool_layers else normal_arc
                x = cell(layers[0], layers[1], cell_arc, as_training)
            else:
                keep = None
                if keep_schedule:
                    keep = drop_path_keep(layer_id, self.num_layers, self.drop_path_keep_prob,
                                          progress)
                x = cell(layers[0], layers[1], as_training, keep, generator)
            layers = [layers[1], x]
            if training and layer_id == self.aux_head_layer:
                aux_logits = self.aux_head(x)
        x = global_avg_pool(tf.nn.relu(x))
        if as_training and self.keep_prob < 1.0:
            x = dropout(x, self.keep_prob, generator)
        return self.fc(x), aux_logits

    def _split_arc(self, arc):
        if arc is None:
            raise ValueError("a search-mode MicroChild needs the sampled arc on every call")
        if isinstance(arc, MicroArc):
            arc = arc.ints
        arc = tf.convert_to_tensor(arc, tf.int32)
        length = 8 * self.num_cells
        if arc.shape.rank != 1 or arc.shape[0] not in (None, length):
            raise ConfigError(f"arc: expected an int32 vector of {length} ints (normal cell, "
                              f"then reduction cell), got shape {arc.shape}")
        half = 4 * self.num_cells
        return arc[:half], arc[half:]


def _check(ok: bool, flag: str, value, expected: str):
    check_value(ok, "MicroChild", flag, value, expected)
