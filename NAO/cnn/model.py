"""The CIFAR network NAO trains a cell dag in (renqianluo/NAO NAO/cnn/model.py at e07be44), in
TensorFlow 2, NHWC.

A 3x3 stem to int(filters * stem_multiplier) channels, then 3N normal cells with a reduction
cell inserted before normal cells int(N) and int(2N) (channels doubled at each), ReLU, global
average pooling, dropout and a dense layer with bias. Every cell reads the two previous outputs:
h[i-2] is factorized-reduced when larger, or 1x1-projected when its channels differ (the first
cell has no h[i-2] and reads the raw stem output twice); h[i-1] always goes through ReLU-1x1-BN.
Its nodes add op_1(input_1) + op_2(input_2); in a reduction cell only ops reading the cell inputs
use stride 2. The cell concatenates its loose ends, the larger or wider ones factorized-reduced
first. Ops are ReLU-conv-BN (two of them for "1xk+kx1" and for separable convs); pools and
identities get a ReLU-1x1-BN only when the channels differ or (identity) the stride is 2.

ScheduledDropPath (the original's "v3") drops every op's output except identity's, per example,
with keep probability 1 - ratio_cell * ratio_step * (1 - drop_path_keep_prob), where ratio_cell
= (cell index + 1) / (3N + 2) and ratio_step = min(1, step / total_steps). The aux head (training
only) reads the first normal cell after the second reduction.

Convolutions are initialized as TF1's variance_scaling_initializer(mode='fan_out'); batch norm
has decay 0.9 and epsilon 1e-5. Randomness is stateless, keyed by (seed, step, op, replica), so
a resumed run and every replica of a tf.distribute strategy draw their own, repeatable numbers.
"""
from __future__ import annotations

import itertools
from typing import Optional

from nasrepro.archs.nao_dag import Dag, DagError, check_buildable, loose_ends, parse_op
from nasrepro.tf.layers import (BatchNorm, Conv, ConvBN, Dense, FactorizedReduction,
                                SeparableConvBN, global_avg_pool, pool)
from nasrepro.tf.startup import import_tensorflow

tf = import_tensorflow()

INIT = "fan_out"
AUX_PROJECT, AUX_CONV = 128, 768
DILATION = 2  # dil_sep_conv's rate when the op string gives none
DENSE_DROPOUT_ID = 1 << 14  # the classifier dropout's noise stream, after every op's


def _size(size: str):
    """'3x3' -> 3, '1x3+3x1' -> [(1, 3), (3, 1)]."""
    if "+" in size:
        return [tuple(int(v) for v in part.split("x")) for part in size.split("+")]
    h, w = size.split("x")
    return int(h)


class Noise:
    """Stateless uniform noise for one network call: seeds [step, seed * 2^20 + op * 64 +
    replica], so every op of every step of every replica gets its own stream."""

    def __init__(self, seed, step):
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        self.step = tf.cast(step, tf.int64)
        self.base = (tf.cast(seed, tf.int64) * (1 << 20)
                     + tf.cast(replica, tf.int64))

    def uniform(self, shape, op_id: int):
        seed = tf.stack([self.step, self.base + op_id * 64])
        return tf.random.stateless_uniform(shape, seed=seed)


class DropPathSchedule:
    """The keep probability of a cell's ops at a step (ScheduledDropPath "v3")."""

    def __init__(self, keep_prob: float, cell_index: int, total_cells: int, total_steps: int):
        self.keep_prob = keep_prob
        self.cell_keep = 1.0 - (cell_index + 1) / float(total_cells) * (1.0 - keep_prob)
        self.total_steps = max(int(total_steps), 1)

    def keep(self, step):
        ratio = tf.minimum(1.0, tf.cast(step, tf.float32) / float(self.total_steps))
        return 1.0 - ratio * (1.0 - self.cell_keep)


class Op(tf.Module):
    """One op of a node: `op` ("conv 3x3", "identity", ...) from `in_channels` at `stride`."""

    def __init__(self, op: str, in_channels: int, filters: int, stride: int, where: str,
                 op_id: int, name=None):
        super().__init__(name=name)
        kind, size = parse_op(op, where)
        self.kind, self.op_id = kind, op_id
        self.pool_kind = self.pool_size = None
        self.layers = []
        with self.name_scope:
            if kind in ("sep_conv", "dil_sep_conv"):
                k = _size(size)
                if not isinstance(k, int):
                    raise DagError(f"{where}: {op!r}: a separable conv needs a square size")
                dil = DILATION if kind == "dil_sep_conv" else 1
                if dil > 1 and stride > 1:
                    raise DagError(f"{where}: {op!r} reads a cell input of a reduction cell, "
                                   "which needs stride 2 with dilation 2: TensorFlow cannot "
                                   "(the original fails there too)")
                self.layers = [SeparableConvBN(in_channels, filters, k, stride, name="sep_1",
                                               dilation=dil, init=INIT),
                               SeparableConvBN(filters, filters, k, 1, name="sep_2",
                                               dilation=dil, init=INIT)]
            elif kind == "conv":
                k = _size(size)
                kernels = [k] if isinstance(k, int) else k
                c_in = in_channels
                for i, kernel in enumerate(kernels):
                    self.layers.append(ConvBN(c_in, filters, kernel, stride if i == 0 else 1,
                                              name=f"conv_{i + 1}", init=INIT))
                    c_in = filters
            elif kind == "identity":
                if stride > 1 or in_channels != filters:
                    self.layers = [ConvBN(in_channels, filters, 1, stride, name="project",
                                          init=INIT)]
            else:
                k = _size(size)
                if not isinstance(k, int):
                    raise DagError(f"{where}: {op!r}: a pool needs a square size")
                self.pool_kind, self.pool_size, self.stride = kind[:3], k, stride
                if in_channels != filters:
                    self.layers = [ConvBN(in_channels, filters, 1, 1, name="project",
                                          init=INIT)]

    def __call__(self, x, training: bool, keep=None, noise: Optional[Noise] = None):
        if self.pool_kind is not None:
            x = pool(x, self.pool_kind, self.stride, self.pool_size)
        for layer in self.layers:
            x = layer(x, training)
        if self.kind != "identity" and keep is not None and noise is not None:
            mask = tf.floor(keep + noise.uniform(tf.stack([tf.shape(x)[0], 1, 1, 1]),
                                                 self.op_id))
            x = x / keep * mask
        return x


class Cell(tf.Module):
    """A normal (stride 1) or reduction (stride 2) cell of `dag` with `filters` channels per
    node, reading inputs of shapes (spatial size, channels); `prev` is None for the first."""

    def __init__(self, dag_cell, filters: int, stride: int, prev, curr, where: str,
                 drop_path: Optional[DropPathSchedule], op_ids, name=None):
        super().__init__(name=name)
        self.names = [k for k in dag_cell if k != "loose_ends"]
        self.dag, self.filters, self.drop_path = dag_cell, filters, drop_path
        self.reduce_prev = self.project_prev = None
        with self.name_scope:
            if prev is None:
                prev = curr
            elif prev[0] != curr[0]:
                self.reduce_prev = FactorizedReduction(prev[1], filters, 2, name="reduce_prev",
                                                       init=INIT)
                prev = (curr[0], filters)
            elif prev[1] != filters:
                self.project_prev = ConvBN(prev[1], filters, 1, name="project_prev", init=INIT)
                prev = (prev[0], filters)
            self.project_curr = ConvBN(curr[1], filters, 1, name="project_curr", init=INIT)
            shapes = {self.names[0]: prev, self.names[1]: (curr[0], filters)}
            self.ops = {}
            for key in self.names[2:]:
                _, in1, in2, op1, op2 = dag_cell[key]
                hw = None
                for slot, (src, op) in enumerate(((in1, op1), (in2, op2)), start=1):
                    from_input = src in self.names[:2]
                    s = stride if from_input else 1
                    self.ops[f"{key}_{slot}"] = Op(op, shapes[src][1], filters, s,
                                                   f"{where}.{key} op_{slot}", next(op_ids),
                                                   name=f"{key}_op_{slot}")
                    out_hw = -(-shapes[src][0] // s)
                    if hw is not None and hw != out_hw:
                        raise DagError(f"{where}.{key}: its two inputs come out at sizes {hw} "
                                       f"and {out_hw}")
                    hw = out_hw
                shapes[key] = (hw, filters)
            self.ends = loose_ends(dag_cell)
            out_hw = min(shapes[n][0] for n in self.ends)
            self.reduce_end = {}
            for n in self.ends:
                hw, c = shapes[n]
                if hw != out_hw or c != filters:
                    self.reduce_end[n] = FactorizedReduction(c, filters, 2 if hw != out_hw else 1,
                                                             name=f"reduce_{n}", init=INIT)
            self.out_shape = (out_hw, filters * len(self.ends))

    def __call__(self, prev, curr, training: bool, step=None, noise: Optional[Noise] = None):
        if prev is None:
            prev = curr
        elif self.reduce_prev is not None:
            prev = self.reduce_prev(tf.nn.relu(prev), training)
        elif self.project_prev is not None:
            prev = self.project_prev(prev, training)
        h = {self.names[0]: prev, self.names[1]: self.project_curr(curr, training)}
        keep = None
        if training and self.drop_path is not None and self.drop_path.keep_prob < 1.0:
            keep = self.drop_path.keep(step)
        for key in self.names[2:]:
            _, in1, in2, _, _ = self.dag[key]
            h[key] = (self.ops[f"{key}_1"](h[in1], training, keep, noise)
                      + self.ops[f"{key}_2"](h[in2], training, keep, noise))
        outs = [self.reduce_end[n](h[n], training) if n in self.reduce_end else h[n]
                for n in self.ends]
        return tf.concat(outs, axis=3)


class AuxHead(tf.Module):
    """ReLU, 5x5 average pool stride 3 (VALID), 1x1 conv to 128 + BN + ReLU, a conv over the
    whole remaining map to 768 + BN + ReLU, global mean, dense with bias."""

    def __init__(self, in_shape, num_classes: int, name="aux_head"):
        super().__init__(name=name)
        hw, c = in_shape
        self.pooled = (hw - 5) // 3 + 1
        if self.pooled < 1:
            raise DagError(f"the aux head needs a map of at least 5x5, got {hw}x{hw}")
        with self.name_scope:
            self.proj = Conv(c, AUX_PROJECT, 1, name="proj", init=INIT)
            self.proj_bn = BatchNorm(AUX_PROJECT, name="proj_bn")
            self.conv = Conv(AUX_PROJECT, AUX_CONV, self.pooled, name="conv", init=INIT)
            self.conv_bn = BatchNorm(AUX_CONV, name="conv_bn")
            self.fc = Dense(AUX_CONV, num_classes, name="fc", bias=True)

    def __call__(self, x, training: bool):
        x = tf.nn.avg_pool2d(tf.nn.relu(x), 5, 3, "VALID")
        x = tf.nn.relu(self.proj_bn(self.proj(x), training))
        x = tf.nn.conv2d(x, self.conv.w, 1, "VALID")  # the kernel covers the whole map
        x = tf.nn.relu(self.conv_bn(x, training))
        return self.fc(tf.reduce_mean(x, axis=[1, 2]))


def reduction_cells(N: int) -> list:
    """The normal-cell indices a reduction cell goes before (the original's float arithmetic)."""
    num_cells = 3 * N
    return [int((float(pool_num) / 3) * num_cells) for pool_num in (1, 2)]


class Network(tf.Module):
    """NAO's CIFAR network for `dag` (see the module docstring)."""

    def __init__(self, dag: Dag, N: int, filters: int, num_classes: int,
                 stem_multiplier: float = 3.0, use_aux_head: bool = True,
                 drop_path_keep_prob: float = 1.0, dense_dropout_keep_prob: float = 1.0,
                 total_steps: int = 1, image_size: int = 32, name="nao_network"):
        super().__init__(name=name)
        check_buildable(dag)
        self.dense_keep = dense_dropout_keep_prob
        self.num_classes = num_classes
        num_cells = 3 * N
        total_cells = num_cells + 2
        self.reductions = reduction_cells(N)
        aux_index = self.reductions[1]
        op_ids = itertools.count()  # one noise stream per op
        with self.name_scope:
            stem_c = int(filters * stem_multiplier)
            self.stem = Conv(3, stem_c, 3, name="stem_conv", init=INIT)
            self.stem_bn = BatchNorm(stem_c, name="stem_bn")
            shapes = [None, (image_size, stem_c)]
            self.cells, self.aux_head, self.aux_after = [], None, None
            scaling, cell_index = 1, 0
            for i in range(num_cells):
                kinds = ([("reduction", dag.reduc, 2)] if i in self.reductions else []) + [
                    ("normal", dag.conv, 1)]
                for kind, cell, stride in kinds:
                    if kind == "reduction":
                        scaling *= 2
                    schedule = DropPathSchedule(drop_path_keep_prob, cell_index, total_cells,
                                                total_steps)
                    where = "reduc_dag" if stride == 2 else "conv_dag"
                    module = Cell(cell, filters * scaling, stride, shapes[-2], shapes[-1], where,
                                  schedule, op_ids, name=f"cell_{cell_index}_{kind}")
                    self.cells.append(module)
                    shapes.append(module.out_shape)
                    cell_index += 1
                if use_aux_head and i == aux_index:
                    self.aux_after = len(self.cells) - 1
                    self.aux_head = AuxHead(shapes[-1], num_classes)
            self.fc = Dense(shapes[-1][1], num_classes, name="fully_connected", bias=True)

    def __call__(self, images, training: bool, step=0, seed=0):
        """images [B, 32, 32, 3] -> {"logits": ..., "aux_logits": ... (training with aux)}."""
        noise = Noise(seed, step) if training else None
        x = self.stem_bn(self.stem(images), training)
        prev, curr = None, x
        out = {}
        for i, cell in enumerate(self.cells):
            prev, curr = curr, cell(prev, curr, training, step, noise)
            if training and i == self.aux_after:
                out["aux_logits"] = self.aux_head(curr, training)
        x = global_avg_pool(tf.nn.relu(curr))
        if training and self.dense_keep < 1.0:
            mask = tf.floor(self.dense_keep + noise.uniform(tf.shape(x), DENSE_DROPOUT_ID))
            x = x * mask / self.dense_keep
        out["logits"] = self.fc(x)
        return out
