"""The DARTS genotype type and op names (the example's genotypes.py held only these two)."""
from nasrepro.archs.darts import PRIMITIVES, Genotype  # noqa: F401
