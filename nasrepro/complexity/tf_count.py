"""Parameters and mult-adds of TensorFlow 2 code (tf.Module models built from tf.nn ops).

Mult-adds are read off the graph of a traced tf.function: every Conv2D, DepthwiseConv2dNative,
Conv2DBackpropInput (transposed conv), MatMul and BatchMatMul op contributes its multiply-adds,
computed from the static shapes of the trace, and nested tf.function calls are followed.
Nothing is executed, so counting an ImageNet-size network takes only the trace."""
from typing import Callable, Iterable

import numpy as np

from ..errors import ConfigError
from ..tf.startup import import_tensorflow

tf = import_tensorflow()

_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")
# Their trip count or branch taken is not known from the graph.
_CONTROL_FLOW_OPS = ("While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase")


def count_params(module: tf.Module, exclude: Iterable[str] = ()) -> int:
    """Number of trainable parameters of `module`, each variable counted once.

    A variable is skipped when its name (variable.name) contains an `exclude` substring, or
    when every attribute path reaching it (e.g. "aux_head.w") does."""
    exclude = tuple(exclude)
    paths = {}
    variables = {}
    for path, var in module._flatten(predicate=_is_trainable_variable, with_path=True):
        variables[id(var)] = var
        paths.setdefault(id(var), []).append(".".join(str(p) for p in path))
    total = 0
    for key, var in variables.items():
        named_out = any(word in var.name for word in exclude)
        pathed_out = bool(exclude) and all(any(w in p for w in exclude) for p in paths[key])
        if not (named_out or pathed_out):
            total += int(np.prod(var.shape.as_list(), dtype=np.int64))
    return total


def _is_trainable_variable(value) -> bool:
    return isinstance(value, tf.Variable) and value.trainable


def count_mult_adds(fn: Callable, *example_inputs, input_size=None) -> int:
    """Multiply-adds of one call of `fn` (a callable or tf.function), traced at batch 1.

    Inputs are tf.TensorSpec, tensors or arrays (a TensorSpec's unknown leading dimension
    becomes 1), or `input_size=(1, 32, 32, 3)` for a single float32 input. Bind Python
    arguments such as `training=False` with a lambda: `count_mult_adds(lambda x: net(x,
    training=False), input_size=(1, 32, 32, 3))`."""
    if input_size is not None:
        if example_inputs:
            raise ConfigError("give either example inputs or input_size, not both")
        example_inputs = (tf.TensorSpec(tuple(input_size), tf.float32),)
    if not example_inputs:
        raise ConfigError("count_mult_adds needs example inputs or input_size")
    specs = [_batch_one(x) for x in example_inputs]
    function = fn if hasattr(fn, "get_concrete_function") else tf.function(fn)
    graph = function.get_concrete_function(*specs).graph
    return _graph_mult_adds(graph)


def _batch_one(x):
    if isinstance(x, tf.TensorSpec):
        shape = x.shape.as_list()
        if shape and shape[0] is None:
            shape[0] = 1
        return tf.TensorSpec(shape, x.dtype, name=x.name)
    x = tf.convert_to_tensor(x)
    return tf.TensorSpec(x.shape, x.dtype)


def _graph_mult_adds(graph) -> int:
    total = 0
    for op in graph.get_operations():
        if op.type in _CALL_OPS:
            total += _graph_mult_adds(graph._get_function(op.get_attr("f").name).graph)
        elif op.type in _CONTROL_FLOW_OPS:
            raise ConfigError(f"op '{op.name}' ({op.type}): cannot count mult-adds through "
                              "graph control flow; unroll the loop or branch in Python")
        elif op.type in _COUNTERS:
            total += _COUNTERS[op.type](op)
    return total


def _shape(tensor, op) -> list:
    shape = tensor.shape
    if not shape.is_fully_defined():
        raise ConfigError(f"op '{op.name}' ({op.type}): shape {shape} is not fully known; "
                          "trace with fixed input shapes")
    return shape.as_list()


def _conv2d(op) -> int:
    # filter [kh, kw, in/groups, out]; one multiply-add per filter tap per output value.
    kh, kw, cin_per_group, _ = _shape(op.inputs[1], op)
    return int(np.prod(_shape(op.outputs[0], op), dtype=np.int64)) * kh * kw * cin_per_group


def _depthwise(op) -> int:
    # filter [kh, kw, in, multiplier]; each output channel sees one input channel.
    kh, kw, _, _ = _shape(op.inputs[1], op)
    return int(np.prod(_shape(op.outputs[0], op), dtype=np.int64)) * kh * kw


def _conv_transpose(op) -> int:
    # Every input value is spread over a kh x kw x out patch: inputs[2] is that input.
    kh, kw, cout, _ = _shape(op.inputs[1], op)
    return int(np.prod(_shape(op.inputs[2], op), dtype=np.int64)) * kh * kw * cout


def _matmul(op) -> int:
    a = _shape(op.inputs[0], op)
    inner = a[0] if op.get_attr("transpose_a") else a[1]
    return int(np.prod(_shape(op.outputs[0], op), dtype=np.int64)) * inner


def _batch_matmul(op) -> int:
    a = _shape(op.inputs[0], op)
    inner = a[-2] if op.get_attr("adj_x") else a[-1]
    return int(np.prod(_shape(op.outputs[0], op), dtype=np.int64)) * inner


_COUNTERS = {
    "Conv2D": _conv2d,
    "DepthwiseConv2dNative": _depthwise,
    "Conv2DBackpropInput": _conv_transpose,
    "MatMul": _matmul,
    "BatchMatMul": _batch_matmul,
    "BatchMatMulV2": _batch_matmul,
    "BatchMatMulV3": _batch_matmul,
}
