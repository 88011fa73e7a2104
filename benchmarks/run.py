"""Training throughput (images/s: forward, backward and SGD step) and peak memory of each
benchmarked network at batch 32 on this CPU.

Every case runs in its own process, so its peak resident memory (ru_maxrss) is its own. The
throughput is the median over the timed steps after warm-up steps; the table goes to stdout and
runs/bench/bench.json.
    python -m benchmarks.run [--batch 32] [--warmup 3] [--steps 10] [--case NAME ...]"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from nasrepro.atomic import atomic_write_text
from nasrepro.environment import runs_dir

from .cases import CASES, network


def measure(name: str, batch: int, warmup: int, steps: int) -> dict:
    import torch
    from torch import nn

    from nasrepro.complexity.torch_count import count_params

    torch.manual_seed(0)
    net = network(name)
    model, forward, size, classes = net.build(), net.train_forward, net.tiny_input[1:], net.classes
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), 0.025, momentum=0.9, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()
    images = torch.randn(batch, *size)
    labels = torch.randint(0, classes, (batch,))
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits, aux = forward(model, images)
        loss = criterion(logits, labels)
        if aux is not None:
            loss = loss + 0.4 * criterion(aux, labels)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"case": name, "what": net.description, "batch": batch, "warmup_steps": warmup,
            "timed_steps": steps, "params_m": count_params(model) / 1e6,
            "step_s_median": median, "images_per_s": batch / median,
            "step_s_min": min(times), "step_s_max": max(times),
            "rss_after_build_mb": rss_before_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=sorted(CASES),
                        help="run only this case (repeatable); default: all")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch and --steps must be positive, --warmup not negative")
    if args.child:
        print(json.dumps(measure(args.child, args.batch, args.warmup, args.steps)))
        return 0
    rows = []
    for name in args.case or list(CASES):
        print(f"[bench] {name} ({CASES[name]}): batch {args.batch}, {args.warmup} warm-up + "
              f"{args.steps} timed steps ...", flush=True)
        out = subprocess.run([sys.executable, "-m", "benchmarks.run", "--child", name,
                              "--batch", str(args.batch), "--warmup", str(args.warmup),
                              "--steps", str(args.steps)], capture_output=True, text=True,
                             env=dict(os.environ, NASREPRO_PROGRESS="0"))
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{'case':<14} {'params (M)':>10} {'images/s':>9} {'step (s)':>9} "
          f"{'peak RSS (MB)':>14}")
    for r in rows:
        print(f"{r['case']:<14} {r['params_m']:>10.3f} {r['images_per_s']:>9.2f} "
              f"{r['step_s_median']:>9.3f} {r['peak_rss_mb']:>14.0f}")
    path = runs_dir() / "bench" / "bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(rows, indent=1) + "\n")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
