"""NAO-V2's weight-sharing supernet: NASWSNetworkCIFAR (and NASWSNetworkImageNet).

Every architecture of the space is a path through one network. Each node holds two op sets (one
per input slot), each with every op; a parametric op keeps separate weights per input id, so a
weight is indexed by (cell, node, slot, op, input id). A cell's concatenated unused states go
through a shared 1x1 conv with per-state weight blocks, so every cell outputs `channels`
channels whatever the architecture. forward takes the architecture to run."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional, Sequence

import torch
from torch import nn

from cell_adapters import MaybeCalibrateSize
from drop_path_rule import branch_drops
from model import ArchLike, as_nao_arch, configure_network, init_parameters, run_network
from nasrepro.archs.nao import cell_concat
from nasrepro.torch.drop_path import drop_path
from nasrepro.torch.ops import FactorizedReduce
from operations import build_aux_head
from ws_operations import WSBN, WSReLUConvBN, search_ops


class WSNode(nn.Module):
    """Node `node_id` of a supernet cell: every op for the x slot and for the y slot, each able
    to read any of the node_id+2 states before it."""

    def __init__(self, node_id: int, channels: int, cell_stride: int, search_space: str):
        super().__init__()
        self.cell_stride = cell_stride
        table = search_ops(search_space)
        num_inputs = node_id + 2
        self.x_op = nn.ModuleList(table[k](num_inputs, channels, cell_stride)
                                  for k in sorted(table))
        self.y_op = nn.ModuleList(table[k](num_inputs, channels, cell_stride)
                                  for k in sorted(table))

    def branch(self, ops: nn.ModuleList, x, input_id: int, op_id: int, keep: float,
               drops: bool):
        stride = self.cell_stride if input_id in (0, 1) else 1
        x = ops[op_id](x, input_id, stride)
        return drop_path(x, keep) if drops and keep < 1.0 else x


class WSCell(nn.Module):
    """A supernet cell; in_states: [(level, channels)] of its two inputs."""

    def __init__(self, in_states, nodes: int, channels: int, reduction: bool,
                 search_space: str, drop_path_rule: str):
        super().__init__()
        self.reduction = reduction
        self.search_space, self.drop_path_rule = search_space, drop_path_rule
        self.maybe_calibrate_size = MaybeCalibrateSize(in_states, channels)
        level = self.maybe_calibrate_size.out_states[1][0]
        stride = 2 if reduction else 1
        self.ops = nn.ModuleList(WSNode(i, channels, stride, search_space) for i in range(nodes))
        if reduction:
            # For s0/s1 in the concat list, which are still at the input resolution.
            self.fac_1 = FactorizedReduce(channels, channels, relu=False)
            self.fac_2 = FactorizedReduce(channels, channels, relu=False)
        self.final_combine_conv = WSReLUConvBN(nodes + 2, channels, channels, 1)
        self.out_state = (level + reduction, channels)

    def forward(self, s0, s1, cell: Sequence[int], keep: float = 1.0):
        states = list(self.maybe_calibrate_size(s0, s1))
        for node, op in enumerate(self.ops):
            x_id, x_op, y_id, y_op = cell[4 * node:4 * node + 4]
            x = op.branch(op.x_op, states[x_id], x_id, x_op, keep, self._drops(x_id, x_op))
            y = op.branch(op.y_op, states[y_id], y_id, y_op, keep, self._drops(y_id, y_op))
            states.append(x + y)
        concat = cell_concat(cell)
        if self.reduction:
            for i, fac in ((0, self.fac_1), (1, self.fac_2)):
                if i in concat:
                    states[i] = fac(states[i])
        return self.final_combine_conv(torch.cat([states[i] for i in concat], dim=1), concat)

    def _drops(self, input_id: int, op_id: int) -> bool:
        return branch_drops(self.drop_path_rule, "supernet", self.search_space, input_id, op_id)

    def batch_stat_norms(self):
        """The BNs the original switches to batch statistics for shared-weight evaluation
        (bn_train=True): all but fac_1/fac_2, which it calls without the flag."""
        for part in (self.maybe_calibrate_size, self.ops, self.final_combine_conv):
            for module in part.modules():
                if isinstance(module, (nn.modules.batchnorm._BatchNorm, WSBN)):
                    yield module


@contextmanager
def batch_statistics(norms):
    """Normalise with batch statistics (updating the running ones, as training does) in the
    given BN modules for the duration, whatever their train/eval mode."""
    norms = list(norms)
    modes = [m.training for m in norms]
    for m in norms:
        m.training = True
    try:
        yield
    finally:
        for m, mode in zip(norms, modes):
            m.training = mode


class _NASWSNetwork(nn.Module):
    DATASET = ""

    def __init__(self, classes: int, layers: int, nodes: int, channels: int, keep_prob: float,
                 drop_path_keep_prob: float, use_aux_head: bool, steps: int,
                 drop_path_rule: str = "release", search_space: str = "small"):
        super().__init__()
        states = configure_network(self, classes, layers, nodes, channels, keep_prob,
                                   drop_path_keep_prob, use_aux_head, steps, drop_path_rule,
                                   search_space)
        self.cells = nn.ModuleList()
        cell_channels = channels
        for i in range(self.num_cells):
            reduction = i in self.pool_layers
            if reduction:
                cell_channels *= 2
            cell = WSCell(states, nodes, cell_channels, reduction, search_space, drop_path_rule)
            self.cells.append(cell)
            states = [states[1], cell.out_state]
            if use_aux_head and i == self.aux_head_index:
                self.auxiliary_head = build_aux_head(self.DATASET, cell_channels, classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.classifier = nn.Linear(cell_channels, classes)
        init_parameters(self)

    def forward(self, x: torch.Tensor, arch: ArchLike, step: Optional[int] = None,
                bn_train: bool = False):
        """Run architecture `arch` (a NaoArch, a string/int sequence, or [normal, reduce]).
        bn_train: cell BNs use batch statistics even in eval mode (shared-weight evaluation);
        the stem BN keeps its mode. Returns (logits, aux_logits or None)."""
        arch = as_nao_arch(arch, self.nodes, self.search_space,
                           source=f"{type(self).__name__}.forward arch")
        norms = [n for cell in self.cells for n in cell.batch_stat_norms()] \
            if bn_train and not self.training else []
        with batch_statistics(norms):
            return run_network(self, x, step, lambda cell, s0, s1, keep: cell(
                s0, s1, arch.reduce if cell.reduction else arch.normal, keep))


class NASWSNetworkCIFAR(_NASWSNetwork):
    DATASET = "cifar"


class NASWSNetworkImageNet(_NASWSNetwork):
    """The original's ImageNet supernet cannot run (its stem0 ends in BatchNorm2d(C/2) after a
    conv to C, and it declares the stem outputs at 112/56 with C/2 channels); here the stems and
    the first cell's inputs are those of NASNetworkImageNet."""
    DATASET = "imagenet"
