"""search_progress.png of a NAO-V2 search folder: supernet training accuracy per epoch, the
pool's shared-weight accuracy per iteration (best, median, mean) and the predictor's pairwise
accuracy on held-out pool architectures per iteration (the controller's quality)."""
from pathlib import Path

import numpy as np

from nasrepro.runs.plots import read_columns, save_figure


def pool_accuracies(folder: Path) -> list:
    """[(iteration, accuracies)] from arch_pool.perf.{i}."""
    out = []
    for path in sorted(folder.glob("arch_pool.perf.[0-9]*"), key=lambda p: int(p.suffix[1:])):
        values = [float(v) for v in path.read_text().split()]
        if values:
            out.append((int(path.suffix[1:]), values))
    return out


def plot_search(folder) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    supernet = read_columns(folder / "search.csv") if (folder / "search.csv").exists() else {}
    controller = read_columns(folder / "controller.csv") \
        if (folder / "controller.csv").exists() else {}
    pools = pool_accuracies(folder)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    if supernet.get("epoch"):
        axes[0].plot(supernet["epoch"], supernet["train_acc"], marker="o", markersize=3)
    axes[0].set(xlabel="supernet epoch", ylabel="train top-1 % (sampled archs)",
                title="supernet training")
    if pools:
        its = [i for i, _ in pools]
        for name, fn in (("best", np.max), ("median", np.median), ("mean", np.mean)):
            axes[1].plot(its, [100 * fn(v) for _, v in pools], marker="o", label=name)
        axes[1].legend()
    axes[1].set(xlabel="iteration", ylabel="shared-weight valid top-1 %",
                title="architecture pool")
    if controller.get("iteration"):
        its = np.asarray(controller["iteration"])
        pa = np.asarray(controller["pairwise_accuracy"])
        last = [pa[its == i][-1] for i in sorted(set(its.tolist()))]
        axes[2].plot(sorted(set(its.tolist())), last, marker="o")
        axes[2].axhline(0.5, color="grey", linestyle=":", label="chance")
        axes[2].legend()
    axes[2].set(xlabel="iteration", ylabel="pairwise accuracy (held-out)", ylim=(0, 1),
                title="controller's predictor")
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"NAO-V2 search: {folder.name}")
    fig.tight_layout()
    return save_figure(fig, folder / "search_progress.png")
