"""The systems and the profiles every part of the project agrees on.

Each paper system lives in the repository folder of its name (ENAS/, NAO-V2/, ...), in the
original layout; the profiles are the scales every `make` job runs at."""

# The paper systems, each also the name of its folder.
PAPER_SYSTEMS = ("ENAS", "NAO", "NAO-WS", "NAO-V2", "GAEA-ImageNet", "ASHA-DARTS")
# "test" marks records the test suite writes.
SYSTEMS = PAPER_SYSTEMS + ("test",)

# paper: the published configuration on the real data; mini: the whole pipeline on the embedded
# data in minutes on a 2-core CPU; smoke: seconds, what the tests run.
PROFILES = ("paper", "mini", "smoke")
