"""A DARTS genotype written as 32 categorical hyperparameters, as Determined's DARTS example
searched it: for each cell type, intermediate node k = 1..4 and edge e = 1..2, one HP picks the
input state (`normal_node2_edge1`: 0 = cell t-2, 1 = cell t-1, j >= 2 = node j-1) and one the op
(`normal_node2_edge1_op`). Both edges may pick the same input, which DARTS' own derivation never
does; all four intermediate nodes are concatenated."""
from __future__ import annotations

from .darts import Genotype, GenotypeError, check_genotype

CELLS = ("normal", "reduce")
NODES = 4
# The seven ops an edge may take: DARTS' PRIMITIVES without "none".
EDGE_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
            "dil_conv_3x3", "dil_conv_5x5")
CONCAT = [2, 3, 4, 5]


def edge_hparam(cell: str, node: int, edge: int) -> str:
    return f"{cell}_node{node}_edge{edge}"


def arch_hparam_names() -> list[str]:
    """The 32 names, input HP before op HP, in genotype order."""
    names = []
    for cell in CELLS:
        for node in range(1, NODES + 1):
            for edge in (1, 2):
                names += [edge_hparam(cell, node, edge), edge_hparam(cell, node, edge) + "_op"]
    return names


def arch_hparam_choices() -> dict[str, list]:
    """Each HP's allowed values: node k reads states 0..k; every op HP takes EDGE_OPS."""
    choices = {}
    for cell in CELLS:
        for node in range(1, NODES + 1):
            for edge in (1, 2):
                name = edge_hparam(cell, node, edge)
                choices[name] = list(range(node + 1))
                choices[name + "_op"] = list(EDGE_OPS)
    return choices


def genotype_from_hparams(hparams: dict, source: str = "hyperparameters") -> Genotype:
    """The genotype the 32 HPs encode; an HP missing or outside its choices is a GenotypeError
    naming it."""
    choices = arch_hparam_choices()
    cells = {}
    for cell in CELLS:
        edges = []
        for node in range(1, NODES + 1):
            for edge in (1, 2):
                name = edge_hparam(cell, node, edge)
                values = []
                for key in (name + "_op", name):
                    if key not in hparams:
                        raise GenotypeError(f"{source}: architecture hyperparameter '{key}' is "
                                            "missing")
                    value = hparams[key]
                    if value not in choices[key] or isinstance(value, bool):
                        raise GenotypeError(f"{source}: {key}={value!r}: expected one of "
                                            f"{choices[key]}")
                    values.append(value)
                edges.append((values[0], int(values[1])))
        cells[cell] = edges
    return check_genotype(Genotype(normal=cells["normal"], normal_concat=list(CONCAT),
                                   reduce=cells["reduce"], reduce_concat=list(CONCAT)), source)


def hparams_from_genotype(genotype: Genotype, source: str = "genotype") -> dict:
    """The inverse: the 32 HP values of a 4-node genotype that concatenates nodes 2..5 and uses
    no "none" edge."""
    check_genotype(genotype, source)
    values = {}
    for cell in CELLS:
        edges = list(getattr(genotype, cell))
        concat = list(getattr(genotype, f"{cell}_concat"))
        if len(edges) != 2 * NODES or concat != CONCAT:
            raise GenotypeError(f"{source}: {cell} cell has {len(edges) // 2} nodes concatenating "
                                f"{concat}; the 32-HP encoding needs 4 nodes concatenating "
                                f"{CONCAT}")
        for position, (op, index) in enumerate(edges):
            node, edge = position // 2 + 1, position % 2 + 1
            if op not in EDGE_OPS:
                raise GenotypeError(f"{source}: {cell} cell, node {node}, edge {edge}: op {op!r} "
                                    f"is not one of the searched ops {', '.join(EDGE_OPS)}")
            values[edge_hparam(cell, node, edge)] = index
            values[edge_hparam(cell, node, edge) + "_op"] = op
    return values


def format_genotype(genotype: Genotype) -> str:
    """One line in DARTS' genotypes.py notation (what best_genotype.txt holds)."""
    def cell(edges):
        return "[" + ", ".join(f"('{op}', {index})" for op, index in edges) + "]"
    return (f"Genotype(normal={cell(genotype.normal)}, normal_concat={list(genotype.normal_concat)}"
            f", reduce={cell(genotype.reduce)}, reduce_concat={list(genotype.reduce_concat)})")
