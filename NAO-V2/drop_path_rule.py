"""Which node branches NAO-V2 drops, and with what probability (drop path).

The rule changed after the published results: see DROP_PATH_RULES and README "Deviations" D1."""
from __future__ import annotations

from nasrepro.errors import check_value

DROP_PATH_RULES = ("release", "head")

# The Oct-2019 release code (32993cd), which produced the published results, spared some
# branches: the final network by INPUT id (meant as the identity/zero op ids; changed to op ids
# in 3871108), the supernet by op id. Since 41efeed (Mar 2020, "head") every branch is dropped.
_RELEASE_SPARED = {
    ("final", "small"): ("input", (4,)),
    ("final", "middle"): ("input", (0, 1)),
    ("supernet", "small"): ("op", (4,)),
    ("supernet", "middle"): ("op", (0, 1)),
}


def check_drop_path_rule(rule: str, owner: str) -> None:
    check_value(rule in DROP_PATH_RULES, owner, "drop_path_rule", rule,
                " or ".join(DROP_PATH_RULES))


def branch_drops(rule: str, network: str, search_space: str, input_id: int,
                 op_id: int) -> bool:
    """Whether drop path applies to a node branch reading `input_id` through op `op_id`.
    network: "final" or "supernet"."""
    if rule == "head":
        return True
    by, spared = _RELEASE_SPARED[(network, search_space)]
    return (input_id if by == "input" else op_id) not in spared


def drop_path_keep(keep_prob: float, cell_index: int, num_cells: int, step: int,
                   steps: int) -> float:
    """Keep probability of cell `cell_index` at global step `step`: the drop rate grows
    linearly with depth and with training progress,
    1 - (step+1)/steps * (cell_index+1)/num_cells * (1 - keep_prob)."""
    by_depth = 1.0 - float(cell_index + 1) / num_cells * (1.0 - keep_prob)
    return 1.0 - float(step + 1) / steps * (1.0 - by_depth)
