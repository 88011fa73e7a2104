"""DARTS' evaluation networks (quark0/darts cnn/model.py semantics), built from a genotype:
NetworkCIFAR(C, num_classes, layers, auxiliary, genotype) and NetworkImageNet(...).

`layers` cells; reductions at layers//3 and 2*layers//3 (channels double there). A cell
preprocesses s0 (factorized reduce after a reduction cell, else ReLU-conv1x1-BN) and s1
(ReLU-conv1x1-BN), runs node = op(a) + op(b) with drop path on every non-identity op in
training, and concatenates the genotype's concat states. The aux head follows cell 2*layers//3.
Drop path is set as an attribute (`net.drop_path_prob`), as DARTS' training scripts do.

`activation` replaces every ReLU but the factorized reduce's (Determined's GAEA ImageNet example
trains with swish that way; see nasrepro.torch.ops)."""
from __future__ import annotations

import torch
from torch import nn

from ..archs.darts import Genotype, check_genotype
from .aux_heads import cifar_aux_head, imagenet_aux_head
from .drop_path import drop_path
from .ops import OPS, Activation, CifarStem, FactorizedReduce, Identity, ImageNetStem, ReLUConvBN


class Cell(nn.Module):
    def __init__(self, genotype: Genotype, C_prev_prev: int, C_prev: int, C: int,
                 reduction: bool, reduction_prev: bool, activation: Activation = nn.ReLU):
        super().__init__()
        self.preprocess0 = FactorizedReduce(C_prev_prev, C) if reduction_prev \
            else ReLUConvBN(C_prev_prev, C, 1, 1, 0, activation=activation)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, activation=activation)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.indices = [index for _, index in edges]
        # Ops reading the cell inputs halve the resolution in a reduction cell.
        self.ops = nn.ModuleList(OPS[name](C, 2 if reduction and index < 2 else 1, True,
                                           activation)
                                 for name, index in edges)
        self.multiplier = len(self.concat)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            total = 0
            for edge in (2 * node, 2 * node + 1):
                op = self.ops[edge]
                h = op(states[self.indices[edge]])
                if self.training and drop_prob > 0 and not isinstance(op, Identity):
                    h = drop_path(h, 1.0 - drop_prob)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class NetworkCIFAR(nn.Module):
    def __init__(self, C: int, num_classes: int, layers: int, auxiliary: bool,
                 genotype: Genotype, stem_multiplier: int = 3):
        super().__init__()
        check_genotype(genotype)
        self.layers, self.auxiliary = layers, auxiliary
        self.aux_index = 2 * layers // 3
        self.drop_path_prob = 0.0
        C_curr = stem_multiplier * C
        self.stem = CifarStem(C_curr)
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self.aux_index and auxiliary:
                self.auxiliary_head = cifar_aux_head(C_prev, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor):
        """(logits, aux_logits); aux_logits is None unless training with the aux head."""
        aux_logits = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary and self.training:
                aux_logits = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux_logits


class NetworkImageNet(nn.Module):
    """DARTS' ImageNet network: the three-conv stem (224 -> 28), `layers` cells of which the
    first reads the stem's 1/4-resolution output through a factorized reduce, reductions at
    layers//3 and 2*layers//3, a 7x7 average pool and a linear classifier.

    after_cell(i, s1) lets a subclass transform cell i's output before the next cell and the
    aux head read it (GAEA's squeeze-and-excite). DARTS' aux head has no BN after its 768-channel
    conv (aux_final_bn=False); GAEA's has it."""

    def __init__(self, C: int, num_classes: int, layers: int, auxiliary: bool,
                 genotype: Genotype, activation: Activation | None = None,
                 aux_final_bn: bool = False):
        super().__init__()
        check_genotype(genotype)
        self.layers, self.auxiliary = layers, auxiliary
        self.aux_index = 2 * layers // 3
        self.drop_path_prob = 0.0
        self.stem = ImageNetStem(C, activation)
        cell_activation = activation or nn.ReLU
        C_prev_prev, C_prev, C_curr = C, C, C
        self.cells = nn.ModuleList()
        self.cell_channels = []  # C_curr of each cell
        reduction_prev = True
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev,
                        cell_activation)
            self.cells.append(cell)
            self.cell_channels.append(C_curr)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr
            if i == self.aux_index and auxiliary:
                self.auxiliary_head = imagenet_aux_head(C_prev, num_classes, aux_final_bn,
                                                        activation)
        self.global_pooling = nn.AvgPool2d(7)
        self.classifier = nn.Linear(C_prev, num_classes)

    def after_cell(self, index: int, s1: torch.Tensor) -> torch.Tensor:
        return s1

    def forward(self, x: torch.Tensor):
        """(logits, aux_logits); aux_logits is None unless training with the aux head."""
        aux_logits = None
        s0, s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, self.after_cell(i, cell(s0, s1, self.drop_path_prob))
            if i == self.aux_index and self.auxiliary and self.training:
                aux_logits = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), aux_logits
