"""The benchmarked networks: paper networks their systems declare (the `paper_network`s of each
static_checks.py), so a benchmark builds and trains exactly what the script builds and trains,
at the configuration the static claims count. Case name -> the system that declares it."""
from nasrepro.static_checks import paper_networks

CASES = {
    "naov2-cifar": "NAO-V2",
    "asha-const2021": "ASHA-DARTS",
}


def network(name: str):
    """The PaperNetwork of case `name` (imports only its own system's declarations)."""
    return paper_networks(systems=(CASES[name],))[name]
