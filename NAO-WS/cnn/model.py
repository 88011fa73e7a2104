"""The NAO-WS child (renqianluo/NAO NAO-WS/cnn/model.py and model_search.py): ENAS's micro
child, written once in nasrepro.tf.micro_child; the two differ in how they are trained, not in
the network (same layers, cells, ops and op ids: 0 sep conv 3x3, 1 sep conv 5x5, 2 avg pool 3x3,
3 max pool 3x3, 4 identity). NAO-WS trains the aux head with the rest (ENAS did not) and counts it
in its "Model has N params" line."""
from nasrepro.archs.nao import parse_nao_arch
from nasrepro.tf.micro_child import MicroChild

NUM_CLASSES = 10


def build_child(args, fixed_arc=None, search_eval_training: bool = True) -> MicroChild:
    """The child the flags `args` describe: --child_fixed_arc's cells, or `fixed_arc`, or the
    shared-weight child when both are None (which scores architectures in training mode, as the
    original's search child did, unless `search_eval_training` is False)."""
    arc = fixed_arc if fixed_arc is not None else args.child_fixed_arc
    if arc is not None:
        arc = list(parse_nao_arch(arc, nodes=args.child_num_cells,
                                  source="--child_fixed_arc").ints)
    return MicroChild(num_layers=args.child_num_layers, out_filters=args.child_out_filters,
                      num_cells=args.child_num_cells, num_classes=NUM_CLASSES,
                      keep_prob=args.child_keep_prob,
                      drop_path_keep_prob=args.child_drop_path_keep_prob,
                      use_aux_heads=args.child_use_aux_heads, fixed_arc=arc,
                      search_eval_training=search_eval_training)
