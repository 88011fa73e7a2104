"""NAO-V2's final networks, built from a fixed architecture: NASNetworkCIFAR and
NASNetworkImageNet.

3*layers+2 cells; cells `layers` and 2*layers+1 are reduction cells (channels double there).
A cell calibrates its two inputs to its channel count, runs its nodes (node = op(x) + op(y),
ops with stride 2 on s0/s1 in reduction cells) and concatenates the states no node reads, so it
outputs channels * len(concat). The aux head follows the second reduction cell."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from cell_adapters import FinalCombine, MaybeCalibrateSize
from drop_path_rule import branch_drops, check_drop_path_rule, drop_path_keep
from nasrepro.archs.nao import NaoArch, cell_concat, parse_nao_arch
from nasrepro.errors import ConfigError, check_value
from nasrepro.torch.drop_path import drop_path
from operations import build_aux_head, build_stem, final_ops, num_ops, stem_states

ArchLike = Union[NaoArch, str, Sequence]


def as_nao_arch(arch: ArchLike, nodes: int, search_space: str = "small",
                source: str = "arch") -> NaoArch:
    """A checked NaoArch from a NaoArch, a string, 8*nodes ints, or the original's
    [normal_cell_list, reduce_cell_list]."""
    if isinstance(arch, NaoArch):
        arch = arch.ints
    elif not isinstance(arch, str) and len(arch) == 2 and hasattr(arch[0], "__len__"):
        arch = [*arch[0], *arch[1]]
    return parse_nao_arch(arch, nodes, num_ops(search_space), source=source)


def check_network_args(owner: str, classes: int, layers: int, nodes: int, channels: int,
                       keep_prob: float, drop_path_keep_prob: float, steps: int,
                       drop_path_rule: str) -> None:
    """The constructor arguments the final networks and the supernets share."""
    for name, value in (("classes", classes), ("layers", layers), ("nodes", nodes),
                        ("channels", channels)):
        check_value(isinstance(value, int) and value >= 1, owner, name, value,
                    "a positive integer")
    for name, value in (("keep_prob", keep_prob), ("drop_path_keep_prob", drop_path_keep_prob)):
        check_value(0.0 < value <= 1.0, owner, name, value, "a probability in (0, 1]")
    if drop_path_keep_prob < 1.0:
        check_value(isinstance(steps, int) and steps >= 1, owner, "steps", steps,
                    "a positive number of training steps (the drop-path horizon)")
    check_drop_path_rule(drop_path_rule, owner)


def configure_network(net: nn.Module, classes: int, layers: int, nodes: int, channels: int,
                      keep_prob: float, drop_path_keep_prob: float, use_aux_head: bool,
                      steps: int, drop_path_rule: str, search_space: str) -> list:
    """Checks and stores what the final networks and the supernets share, builds the stem and
    returns the first cell's input states. Reductions at cells `layers` and 2*layers+1."""
    check_network_args(type(net).__name__, classes, layers, nodes, channels, keep_prob,
                       drop_path_keep_prob, steps, drop_path_rule)
    net.classes, net.layers, net.nodes, net.channels = classes, layers, nodes, channels
    net.keep_prob, net.drop_path_keep_prob = keep_prob, drop_path_keep_prob
    net.use_aux_head, net.steps = use_aux_head, steps
    net.drop_path_rule, net.search_space = drop_path_rule, search_space
    net.pool_layers = (layers, 2 * layers + 1)
    net.num_cells = 3 * layers + 2
    net.aux_head_index = net.pool_layers[-1]
    net.stem, states = build_stem(net.DATASET, channels)
    return states


def run_network(net: nn.Module, x: torch.Tensor, step: Optional[int], run_cell) -> tuple:
    """Stem, cells (run_cell(cell, s0, s1, keep_prob) -> output), aux head in training, pooled
    classifier: the forward pass the final networks and the supernets share."""
    aux_logits = None
    s0, s1 = stem_states(net.stem, x)
    for i, cell in enumerate(net.cells):
        s0, s1 = s1, run_cell(cell, s0, s1, cell_keep_prob(net, i, step))
        if net.use_aux_head and i == net.aux_head_index and net.training:
            aux_logits = net.auxiliary_head(s1)
    out = net.dropout(net.global_pooling(s1).flatten(1))
    return net.classifier(out), aux_logits


def cell_keep_prob(network: nn.Module, cell_index: int, step: Optional[int]) -> float:
    """Drop-path keep probability for one cell now: 1 outside training or with drop path off."""
    if not network.training or network.drop_path_keep_prob >= 1.0:
        return 1.0
    if step is None:
        raise ConfigError(f"{type(network).__name__}.forward: step=None in training mode with "
                          f"drop_path_keep_prob={network.drop_path_keep_prob}; expected the "
                          "global training step (drop path is scheduled by it)")
    return drop_path_keep(network.drop_path_keep_prob, cell_index, network.num_cells, step,
                          network.steps)


def init_parameters(network: nn.Module) -> None:
    """The original's init: kaiming normal on every weight of two or more dimensions."""
    for p in network.parameters():
        if p.dim() >= 2:
            nn.init.kaiming_normal_(p)


class Node(nn.Module):
    """One node: x_op(state x_id) + y_op(state y_id), each branch drop-pathed if its flag says
    so (the drop-path rule is decided when the cell is built)."""

    def __init__(self, x_op: nn.Module, y_op: nn.Module, x_drops: bool, y_drops: bool):
        super().__init__()
        self.x_op, self.y_op = x_op, y_op
        self.x_drops, self.y_drops = x_drops, y_drops

    def forward(self, x, y, keep: float):
        x, y = self.x_op(x), self.y_op(y)
        if keep < 1.0:
            if self.x_drops:
                x = drop_path(x, keep)
            if self.y_drops:
                y = drop_path(y, keep)
        return x + y


class Cell(nn.Module):
    """A cell of a fixed architecture. cell: 4*nodes ints; in_states: [(level, channels)] of
    the two inputs."""

    def __init__(self, cell: Sequence[int], in_states, channels: int, reduction: bool,
                 search_space: str, drop_path_rule: str):
        super().__init__()
        self.cell = tuple(cell)
        self.maybe_calibrate_size = MaybeCalibrateSize(in_states, channels)
        states = list(self.maybe_calibrate_size.out_states)
        table = final_ops(search_space)
        self.ops = nn.ModuleList()
        for node in range(len(self.cell) // 4):
            x_id, x_op, y_id, y_op = self.cell[4 * node:4 * node + 4]
            x_stride = 2 if reduction and x_id in (0, 1) else 1
            y_stride = 2 if reduction and y_id in (0, 1) else 1
            self.ops.append(Node(
                table[x_op](channels, x_stride), table[y_op](channels, y_stride),
                branch_drops(drop_path_rule, "final", search_space, x_id, x_op),
                branch_drops(drop_path_rule, "final", search_space, y_id, y_op)))
            states.append((states[x_id][0] + (x_stride == 2), channels))
        self.final_combine = FinalCombine(states, cell_concat(self.cell), channels)
        self.out_state = (self.final_combine.out_level, self.final_combine.out_channels)

    def forward(self, s0, s1, keep: float = 1.0):
        states = list(self.maybe_calibrate_size(s0, s1))
        for node, op in enumerate(self.ops):
            x_id, y_id = self.cell[4 * node], self.cell[4 * node + 2]
            states.append(op(states[x_id], states[y_id], keep))
        return self.final_combine(states)


class _NASNetwork(nn.Module):
    """The stem, cell stack and heads both datasets share; DATASET picks the stem and aux head."""
    DATASET = ""

    def __init__(self, classes: int, layers: int, nodes: int, channels: int, keep_prob: float,
                 drop_path_keep_prob: float, use_aux_head: bool, steps: int, arch: ArchLike,
                 drop_path_rule: str = "release", search_space: str = "small"):
        super().__init__()
        states = configure_network(self, classes, layers, nodes, channels, keep_prob,
                                   drop_path_keep_prob, use_aux_head, steps, drop_path_rule,
                                   search_space)
        self.arch = as_nao_arch(arch, nodes, search_space, source=f"{type(self).__name__} arch")
        self.cells = nn.ModuleList()
        cell_channels = channels
        for i in range(self.num_cells):
            reduction = i in self.pool_layers
            if reduction:
                cell_channels *= 2
            cell = Cell(self.arch.reduce if reduction else self.arch.normal, states,
                        cell_channels, reduction, search_space, drop_path_rule)
            self.cells.append(cell)
            states = [states[1], cell.out_state]
            if use_aux_head and i == self.aux_head_index:
                self.auxiliary_head = build_aux_head(self.DATASET, cell.out_state[1], classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(1.0 - keep_prob)
        self.classifier = nn.Linear(states[1][1], classes)
        init_parameters(self)

    def forward(self, x: torch.Tensor, step: Optional[int] = None):
        """(logits, aux_logits); aux_logits is None unless training with the aux head on."""
        return run_network(self, x, step, lambda cell, s0, s1, keep: cell(s0, s1, keep))


class NASNetworkCIFAR(_NASNetwork):
    """32x32 inputs: a 3x3 conv stem to 3*channels, aux head on the 8x8 map."""
    DATASET = "cifar"


class NASNetworkImageNet(_NASNetwork):
    """224x224 inputs: two stems down to 28x28 (the first cell's s0 is the 56x56 one), aux
    head on the 7x7 map. channels must be even."""
    DATASET = "imagenet"
