"""Cells of ENAS's micro search space (melodyguan/enas, src/cifar10/micro_child.py), NHWC, used
by MicroChild (and NAO-WS).

Op ids: 0 sep conv 3x3, 1 sep conv 5x5, 2 avg pool 3x3, 3 max pool 3x3, 4 identity. A "sep
conv" is [ReLU -> depthwise k x k + pointwise 1x1 -> BN] twice. Node 0 is the output of cell
k-2, node 1 of cell k-1, nodes 2.. are computed as op(node[i]) + op(node[j]).

- `SearchCell`: the shared-weight cell of a search run. The arc is a tensor, so the chosen
  inputs and ops are picked at run time; every (node, slot) owns its sep-conv weights as tables
  with one row per possible input node. Its output is the loose ends -> ReLU -> 1x1 conv -> BN.
- `FixedCell`: one cell of a fixed architecture, built from Python ints: stride 2 on ops that
  read the cell inputs in a reduction cell, drop-path, and the raw concat of the loose ends.

Every variable is created in a constructor from static (spatial size, channels) pairs."""
import tensorflow as tf

from .layers import (BatchNorm, ConvBN, FactorizedReduction, SeparableConvBN, batch_norm_train,
                     drop_path, he_normal, pool)

NUM_OPS = 5
SEP_KERNELS = (3, 5)  # op 0 and op 1
IDENTITY = 4


def node_used_mask(input_ids, num_nodes: int):
    """int32 [num_nodes]: how many times each node is read by a computed node."""
    return tf.reduce_sum(tf.one_hot(input_ids, num_nodes, dtype=tf.int32), axis=0)


class CalibrateInputs(tf.Module):
    """Brings both cell inputs to `out_filters` channels at input 1's size (the original's
    `_maybe_calibrate_size`): input 0 is ReLU+factorized-reduced if twice as large, else
    ReLU+1x1+BN if its channel count differs; input 1 gets ReLU+1x1+BN if its channels differ."""

    def __init__(self, shapes, out_filters: int, name=None):
        super().__init__(name=name)
        (hw0, c0), (hw1, c1) = shapes
        if hw0 not in (hw1, 2 * hw1):
            raise ValueError(f"cell inputs of sizes {hw0} and {hw1}: input 0 must be the same "
                             "size as input 1 or twice as large")
        self.out_hw = hw1
        self.reduce_x = self.project_x = self.project_y = None
        with self.name_scope:
            if hw0 != hw1:
                self.reduce_x = FactorizedReduction(c0, out_filters, 2, name="pool_x")
            elif c0 != out_filters:
                self.project_x = ConvBN(c0, out_filters, name="pool_x")
            if c1 != out_filters:
                self.project_y = ConvBN(c1, out_filters, name="pool_y")

    def __call__(self, x, y, training: bool):
        if self.reduce_x is not None:
            x = self.reduce_x(tf.nn.relu(x), training)
        elif self.project_x is not None:
            x = self.project_x(x, training)
        if self.project_y is not None:
            y = self.project_y(y, training)
        return x, y


# ----------------------------------------------------------------------------- search mode


def _table(rows: int, width: int, name: str) -> tf.Variable:
    # The original created these 2-D tables with Keras' he_normal, whose fan-in for a 2-D shape
    # is its first dimension (the number of possible inputs), not the kernel's fan-in. Kept:
    # the init scale sets the weights' size relative to the L2 term.
    return he_normal([rows, width], rows, name)


class SharedSepConv(tf.Module):
    """Search-mode sep conv of one (node, slot): depthwise, pointwise and BN scale/offset of both
    stacked convs are [num_inputs, ...] tables; the row of the chosen input node is used, so the
    weights are specific to (node, slot, input, op). BN uses batch statistics only."""

    def __init__(self, kernel: int, num_inputs: int, channels: int, name=None):
        super().__init__(name=name)
        self.kernel, self.channels = kernel, channels
        with self.name_scope:
            self.depthwise = [_table(num_inputs, kernel * kernel * channels, f"w_depth_{i}")
                              for i in range(2)]
            self.pointwise = [_table(num_inputs, channels * channels, f"w_point_{i}")
                              for i in range(2)]
            self.bn_scale = [tf.Variable(tf.ones([num_inputs, channels]), name=f"scale_{i}")
                             for i in range(2)]
            self.bn_offset = [tf.Variable(tf.zeros([num_inputs, channels]), name=f"offset_{i}")
                              for i in range(2)]

    def row(self, i: int, input_id):
        """(depthwise [k,k,c,1], pointwise [1,1,c,c], BN scale, BN offset) of stacked conv i."""
        k, c = self.kernel, self.channels
        return (tf.reshape(tf.gather(self.depthwise[i], input_id), [k, k, c, 1]),
                tf.reshape(tf.gather(self.pointwise[i], input_id), [1, 1, c, c]),
                tf.gather(self.bn_scale[i], input_id), tf.gather(self.bn_offset[i], input_id))

    def __call__(self, x, input_id):
        for i in range(2):
            depthwise, pointwise, scale, offset = self.row(i, input_id)
            x = _relu_sep_conv_bn(x, depthwise, pointwise, scale, offset)
        return x


def _relu_sep_conv_bn(x, depthwise, pointwise, scale, offset):
    x = tf.nn.separable_conv2d(tf.nn.relu(x), depthwise, pointwise, [1, 1, 1, 1], "SAME")
    return batch_norm_train(x, scale, offset)


def _pad_kernel(depthwise, size: int):
    # A k x k SAME convolution equals a size x size one whose kernel is the k x k kernel with
    # zeros around it, so the 3x3 and 5x5 sep convs can share one 5x5 computation.
    pad = (size - depthwise.shape[0]) // 2
    return tf.pad(depthwise, [[pad, pad], [pad, pad], [0, 0], [0, 0]])


class SearchBranch(tf.Module):
    """One input slot (x or y) of a computed node in search mode: picks the input node and the
    op at run time."""

    def __init__(self, node: int, channels: int, name=None):
        super().__init__(name=name)
        with self.name_scope:
            # Node `node` can read nodes 0..node-1: one table row per possible input.
            self.sep_convs = [SharedSepConv(k, node, channels, name=f"conv_{k}x{k}")
                              for k in SEP_KERNELS]

    def __call__(self, nodes, input_id, op_id):
        # No control flow: tf.switch_case here made the first trace of a training step take
        # minutes (cond_v2 builds a gradient for every branch of every slot). Instead the chosen
        # input is gathered, the two sep convs run as one 5x5 sep conv whose weights are those
        # of the chosen kernel size (the 3x3 kernel zero-padded), and the op output is
        # gathered from [sep, sep, avg, max, identity]. Values and gradients are those of the
        # original, which computed all five ops and gathered one; unchosen weights get zero
        # gradient through tf.where.
        x = tf.gather(tf.stack(nodes), input_id)

        def sep_conv():
            use_3x3 = tf.equal(op_id, 0)
            small, large = self.sep_convs
            y = x
            for i in range(2):
                d3, p3, s3, o3 = small.row(i, input_id)
                d5, p5, s5, o5 = large.row(i, input_id)
                y = _relu_sep_conv_bn(y, tf.where(use_3x3, _pad_kernel(d3, 5), d5),
                                      tf.where(use_3x3, p3, p5), tf.where(use_3x3, s3, s5),
                                      tf.where(use_3x3, o3, o5))
            return y

        return tf.switch_case(tf.maximum(op_id - 1, 0), [
            sep_conv, lambda: pool(x, "avg"), lambda: pool(x, "max"), lambda: x])


class SearchCell(tf.Module):
    """The shared-weight cell of a search run (normal and reduction alike: it runs at stride 1;
    the child reduces before a reduction cell). Output: `out_filters` channels at input 1's
    size."""

    def __init__(self, shapes, out_filters: int, num_cells: int = 5, name=None):
        super().__init__(name=name)
        self.num_cells, self.out_filters = num_cells, out_filters
        with self.name_scope:
            self.calibrate = CalibrateInputs(shapes, out_filters, name="calibrate")
            self.branches = [[SearchBranch(node, out_filters, name=f"cell_{node - 2}_{slot}")
                              for slot in "xy"] for node in range(2, num_cells + 2)]
            # Row i is the C x C block of the 1x1 conv applied to node i when it is a loose end.
            self.final_conv = _table(num_cells + 2, out_filters * out_filters, "final_conv_w")
            self.final_bn = BatchNorm(out_filters, name="final_bn")
        self.out_hw = self.calibrate.out_hw

    def __call__(self, x0, x1, cell_arc, training: bool):
        """`cell_arc`: int32 tensor [4 * num_cells] (input, op, input, op per node)."""
        nodes = list(self.calibrate(x0, x1, training))
        for j, (branch_x, branch_y) in enumerate(self.branches):
            x = branch_x(nodes, cell_arc[4 * j], cell_arc[4 * j + 1])
            y = branch_y(nodes, cell_arc[4 * j + 2], cell_arc[4 * j + 3])
            nodes.append(x + y)
        input_ids = tf.concat([cell_arc[0::4], cell_arc[2::4]], axis=0)
        loose = tf.reshape(tf.where(tf.equal(node_used_mask(input_ids, len(nodes)), 0)), [-1])
        c = self.out_filters
        # Concatenating the loose ends on channels = gathering them from a node axis.
        stacked = tf.gather(tf.stack(nodes, axis=3), loose, axis=3)  # [N, H, W, k, C]
        shape = tf.shape(x1)
        concat = tf.reshape(stacked, [shape[0], shape[1], shape[2], -1])
        weight = tf.reshape(tf.gather(self.final_conv, loose), [1, 1, -1, c])
        out = tf.nn.conv2d(tf.nn.relu(concat), weight, 1, "SAME")
        out = tf.ensure_shape(out, nodes[0].shape)
        return self.final_bn(out, training)


# ----------------------------------------------------------------------------- fixed mode


class FixedSepConv(tf.Module):
    """[ReLU -> sep conv -> BN] twice; the stride goes on the first."""

    def __init__(self, kernel: int, channels: int, stride: int, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.stacks = [SeparableConvBN(channels, channels, kernel, stride, name="sep_conv_0"),
                           SeparableConvBN(channels, channels, kernel, 1, name="sep_conv_1")]

    def __call__(self, x, training: bool):
        for stack in self.stacks:
            x = stack(x, training)
        return x


class FixedBranch(tf.Module):
    """One op of a fixed cell. Stride 2 only for ops reading a cell input of a reduction cell;
    identity then becomes a factorized reduction."""

    def __init__(self, op: int, channels: int, stride: int, name=None):
        super().__init__(name=name)
        self.op, self.stride = op, stride
        self.module = None
        with self.name_scope:
            if op < len(SEP_KERNELS):
                self.module = FixedSepConv(SEP_KERNELS[op], channels, stride, name="sep_conv")
            elif op == IDENTITY and stride == 2:
                self.module = FactorizedReduction(channels, channels, 2, name="reduce")
        # After calibration every node has `channels` channels, so the original's extra
        # ReLU-1x1-BN for pools and identity with other channel counts is never built.

    def __call__(self, x, training: bool):
        if self.op in (2, 3):
            return pool(x, "avg" if self.op == 2 else "max", self.stride)
        if self.module is None:
            return x
        return self.module(x, training)


class FixedCell(tf.Module):
    """A cell of a fixed architecture; `cell_arc` is 4 * num_cells Python ints.

    Output: the concat of the loose ends (#loose * out_filters channels), at input 1's size
    divided by `stride`; loose cell inputs of a reduction cell are factorized-reduced first."""

    def __init__(self, shapes, out_filters: int, cell_arc, stride: int = 1, name=None):
        super().__init__(name=name)
        self.cell_arc = tuple(int(v) for v in cell_arc)
        self.num_cells = len(self.cell_arc) // 4
        num_nodes = self.num_cells + 2
        used = set(self.cell_arc[0::4]) | set(self.cell_arc[2::4])
        self.loose_ends = [i for i in range(num_nodes) if i not in used]
        with self.name_scope:
            self.calibrate = CalibrateInputs(shapes, out_filters, name="calibrate")
            self.layer_base = ConvBN(out_filters, out_filters, name="layer_base")
            self.branches = []
            for j in range(self.num_cells):
                x_id, x_op, y_id, y_op = self.cell_arc[4 * j:4 * j + 4]
                self.branches.append([
                    FixedBranch(op, out_filters, stride if node_id < 2 else 1,
                                name=f"cell_{j}_{slot}")
                    for slot, node_id, op in (("x", x_id, x_op), ("y", y_id, y_op))])
            # A loose cell input of a reduction cell is twice the output size.
            self.combine_reduce = [
                FactorizedReduction(out_filters, out_filters, 2, name=f"calibrate_{i}")
                if stride == 2 and i < 2 else None for i in self.loose_ends]
        self.out_hw = self.calibrate.out_hw // stride
        self.out_channels = len(self.loose_ends) * out_filters

    def __call__(self, x0, x1, training: bool, drop_path_keep=None, generator=None):
        """`drop_path_keep`: this layer's keep probability (tensor) or None for no drop-path."""
        x0, x1 = self.calibrate(x0, x1, training)
        nodes = [x0, self.layer_base(x1, training)]
        for j, branch_pair in enumerate(self.branches):
            out = 0.0
            for slot, branch in enumerate(branch_pair):
                h = branch(nodes[self.cell_arc[4 * j + 2 * slot]], training)
                if drop_path_keep is not None and branch.op != IDENTITY:
                    h = drop_path(h, drop_path_keep, generator)
                out = out + h
            nodes.append(out)
        outs = []
        for i, reduce in zip(self.loose_ends, self.combine_reduce):
            outs.append(nodes[i] if reduce is None else reduce(nodes[i], training))
        return tf.concat(outs, axis=3)
