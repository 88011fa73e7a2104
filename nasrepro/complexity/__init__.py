"""Parameter and mult-add counting for the static checks (the `kind: static` records of
reproduce/claims.yaml).

Convention: one multiply-add of a convolution or fully-connected layer (any matrix product)
counts one; bias additions, normalization, activations, pooling and element-wise adds count
nothing. Counts are for one input (batch 1) in inference mode.

`torch_count` and `tf_count` are separate modules so each imports only its own framework:
    from nasrepro.complexity.torch_count import count_params, count_mult_adds
    from nasrepro.complexity.tf_count import count_params, count_mult_adds
"""
