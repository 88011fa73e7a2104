"""Trains the GAEA architecture on ImageNet from a Determined experiment config of this folder,
what `det -m <master> experiment create distributed.yaml .` did on a Determined cluster:

  python experiment.py distributed.yaml                 8 slots: torchrun with 8 processes
  python experiment.py distributed.yaml --data=<dir>    on a local ImageNet folder
  python experiment.py const.yaml                       1 slot, random data (the example's smoke test)

Data: `data.bucket_name` (a Google Cloud Storage bucket with imagenet/imagenet/{train,validation}/
<class>/<image>), else a local folder (`--data`, or `data.local_dir`), else the example's random
data, announced as such. Any config key can be overridden as a dotted flag, like Determined's
--config: `--resources.slots_per_trial=2 --hyperparameters.init_channels=16`. Over several
machines add torchrun's rendezvous flags (--nnodes, --node_rank, --master_addr, --master_port or
--rdzv_endpoint, --rdzv_id). A run resumes from <output_dir>/checkpoint."""
import argparse
import sys
from pathlib import Path

try:
    from nasrepro.project_python import ensure_project_python
except ModuleNotFoundError:  # an interpreter without the project: take it from the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from nasrepro.project_python import ensure_project_python
ensure_project_python(__file__, needs=("torch", "torchvision"))

from data import data_source
from model_def import GAEA_GENOTYPE, ImageNetTrial, build_network
from nasrepro.archs.darts_hparams import format_genotype
from nasrepro.complexity.torch_count import count_mult_adds, count_params
from nasrepro.errors import NasreproError
from nasrepro.hpsearch.det_config import (find_config, load_experiment_config,
                                          parse_with_overrides)
from nasrepro.hpsearch.experiment import plan_lengths, run_single, write_config
from nasrepro.hpsearch.launch import add_torchrun_flags, launch_if_needed
from nasrepro.runs.finish import CurvesPlot, finish_run
from nasrepro.runs.logs import setup_logging
from nasrepro.runs.output_dir import prepare_output_dir
from nasrepro.runs.run_info import Timer
from nasrepro.torch.distributed import barrier, init_distributed, shutdown

HERE = Path(__file__).resolve().parent
LOG_FORMAT = "%(asctime)s %(message)s"
LOGGER = "gaea_imagenet"
# The example's README: "After 300 steps (~24 epochs) top-5 validation accuracy should be close
# to 80%" (determined-ai/determined 208ee11c52, examples/experimental/imagenet_nas_arch_pytorch).
README_STEPS, README_TOP5 = 300, 80.0
RANDOM_DATA_NOTICE = (
    "NO DATA GIVEN: training on the example's RANDOM data (random 256x256 images, random "
    "labels); the accuracies mean nothing. Give --data=<ImageNet folder> or "
    "--data.bucket_name=<GCS bucket> to train on ImageNet.")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="an experiment config: distributed.yaml or const.yaml")
    p.add_argument("--data", default=None,
                   help="a local ImageNet-style folder (train/ and validation/ or valid/, one "
                        "folder per class); sets data.local_dir")
    p.add_argument("--output_dir", default=None, help="default: exp/<config description>")
    p.add_argument("--seed", type=int, default=0, help="trial seed (data order, augmentation)")
    add_torchrun_flags(p)
    return p


def parse_args(argv):
    return parse_with_overrides(build_parser(), argv)


def load_config(args):
    path = find_config(args.config, HERE)
    overrides = []
    if args.data:
        overrides.append(f"data.local_dir={Path(args.data).expanduser().resolve()}")
    config = load_experiment_config(path, overrides + args.overrides)
    if config.searcher.name != "single":
        raise NasreproError(f"{config.path}: searcher.name={config.searcher.name}: this example "
                            "trains one architecture (searcher single)")
    return config


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    try:
        config = load_config(args)
        code = launch_if_needed(str(Path(__file__).resolve()), argv,
                                int(config.slots_per_trial()), args)
        return code if code is not None else run(args, config)
    except NasreproError as err:
        print(f"experiment.py: error: {err}", file=sys.stderr)
        return 2


def run(args, config) -> int:
    timer = Timer()
    dist = init_distributed()
    try:
        name = config.raw.get("description") or Path(config.path).stem
        out_dir = Path(args.output_dir or Path("exp") / name).expanduser().resolve()
        if dist.is_main:
            prepare_output_dir(out_dir)
            log = setup_logging(out_dir / "experiment.log", fmt=LOG_FORMAT, logger_name=LOGGER)
            write_config(config, out_dir / "config.yaml")
        else:
            import logging
            log = logging.getLogger(LOGGER)  # no handlers: only process 0 logs
        barrier(dist)
        data = config.raw.get("data") or {}
        source = data_source(data)
        log.info("experiment %s -> %s; %d process(es) (%s), data: %s", config.path, out_dir,
                 dist.world_size, dist.backend or dist.device.type,
                 {"gcs": f"gs://{data.get('bucket_name')}", "local": data.get("local_dir"),
                  "random": "random"}[source])
        if source == "random":
            log.warning(RANDOM_DATA_NOTICE)
        outcome = run_single(config, ImageNetTrial, out_dir, log, seed=args.seed, dist=dist)
        if dist.is_main:
            finish(config, out_dir, log, timer, outcome, source, data, dist.world_size)
        barrier(dist)
        return 0
    finally:
        shutdown(dist)


def finish(config, out_dir, log, timer, outcome, source, data, processes) -> None:
    metrics, trial = outcome["metrics"], outcome["trial"]
    hparams = config.constant_hparams()
    params = count_params(trial.network)
    mult_adds = count_mult_adds(build_network(hparams), input_size=(1, 3, 224, 224))
    top1, top5 = metrics["top1_accuracy"], metrics["top5_accuracy"]
    log.info("final: %s; params %.6fM (aux head excluded), mult-adds %.2fM",
             " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), params / 1e6, mult_adds / 1e6)
    searcher = config.raw.get("searcher") or {}
    if "max_steps" in searcher:
        steps = outcome["batches"] / config.batches_per_step()
        images = outcome["batches"] * int(hparams["global_batch_size"])
        log.info("milestone: %g steps of %d batches (%d images, %.2f epochs of this training "
                 "set): top-5 validation accuracy %.2f%% (the example's README: close to %.0f%% "
                 "after %d steps on ImageNet)", steps, config.batches_per_step(), images,
                 outcome["epochs"], top5, README_TOP5, README_STEPS)
    x = "steps" if "max_steps" in searcher else "batches"
    dataset = "random data" if source == "random" else "ImageNet"
    finish_run(
        out_dir, system="GAEA-ImageNet", script=f"experiment.py {Path(config.path).name}",
        dataset=dataset, data_path=data.get("local_dir") if source == "local" else None,
        metrics={"top1_error_pct": 100.0 - top1, "top5_error_pct": 100.0 - top5,
                 "accuracy_pct": top1, "top5_accuracy_pct": top5, "params_m": params / 1e6,
                 "mult_adds_m": mult_adds / 1e6},
        config=config.raw, arch=format_genotype(GAEA_GENOTYPE), started=timer,
        plots=[CurvesPlot("metrics.csv", "top5_val.png",
                          (("top-5 validation accuracy %", ("valid_top5_accuracy",)),),
                          title=f"GAEA on {dataset}: top-5 validation accuracy", x=x),
               CurvesPlot("metrics.csv", "learning_curve.png",
                          (("loss", ("train_loss", "valid_loss")),
                           ("top-1 %", ("train_top1_accuracy", "valid_top1_accuracy"))),
                          title=f"GAEA on {dataset}", x=x)],
        notes=f"{outcome['batches']} batches on {processes} process(es); data source {source}"
              + ("" if source != "gcs" else f" (gs://{data.get('bucket_name')})"))


if __name__ == "__main__":
    sys.exit(main())
