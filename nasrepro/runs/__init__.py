"""What a run writes and knows about itself, for every system alike: its output directory, the
log in the original line format, progress bars, metrics.csv, the sampled-architecture log,
TensorBoard scalars, plots, checkpoints, and at the end results.json (`finish.finish_run`)."""
