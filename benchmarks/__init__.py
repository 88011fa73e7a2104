"""`make bench`: training throughput and peak memory of the paper networks on this machine."""
