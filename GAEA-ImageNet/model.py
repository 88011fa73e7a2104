"""The example's network: DARTS' NetworkImageNet with a pluggable activation and
squeeze-and-excite after the cells of the first two stages (determined-ai/determined 208ee11c52,
examples/experimental/imagenet_nas_arch_pytorch/model.py).

SE follows every cell i with i <= layers * 2 / 3 (cells 0-9 of 14), on the cell's 4 * C_curr
output channels, with C_curr // 4 hidden units in the first stage and C_curr // 8 after it; the
aux head (cell 2 * layers // 3) reads the gated output. The last cells have no SE."""
from torch import nn

from nasrepro.archs.darts import Genotype
from nasrepro.torch import darts_network
from nasrepro.torch.squeeze_excite import SqueezeExcite


def se_cells(layers: int) -> list:
    """Indices of the cells followed by an SE module."""
    return [i for i in range(layers) if i <= layers * 2 / 3]


class NetworkImageNet(darts_network.NetworkImageNet):
    def __init__(self, genotype: Genotype, activation_function, C: int, num_classes: int,
                 layers: int, auxiliary: bool, do_SE: bool):
        super().__init__(C, num_classes, layers, auxiliary, genotype,
                         activation=activation_function, aux_final_bn=True)
        self.do_SE = do_SE
        self.cells_SE = nn.ModuleList()
        if do_SE:
            for i in se_cells(layers):
                C_curr = self.cell_channels[i]
                hidden = C_curr // 4 if C_curr == C else C_curr // 8
                multiplier = self.cells[i].multiplier
                self.cells_SE.append(SqueezeExcite(multiplier * C_curr, hidden,
                                                   activation_function))

    def after_cell(self, index: int, s1):
        return self.cells_SE[index](s1) if index < len(self.cells_SE) else s1
