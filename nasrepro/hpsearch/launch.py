"""A trial with several slots: one process per slot under torchrun, as Determined ran one per GPU.

`python experiment.py distributed.yaml` with `resources.slots_per_trial: 8` starts
`python -m torch.distributed.run --nproc_per_node=8 experiment.py distributed.yaml ...` and waits
for it; the processes it starts see torchrun's variables (LOCAL_RANK, WORLD_SIZE) and train. Over
several machines, run the same command on each with torchrun's rendezvous flags:
`--nnodes=2 --node_rank=0|1 --master_addr=<host of node 0> --master_port=29500` (static), or
`--nnodes=2 --rdzv_endpoint=<host>:<port> --rdzv_id=<job id>` (c10d rendezvous); the slots are
split evenly between the machines."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Optional

from ..errors import ConfigError

# Flags handed to torchrun as they are.
TORCHRUN_FLAGS = ("nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint",
                  "rdzv_backend", "rdzv_id")


def add_torchrun_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("several machines (torchrun rendezvous)")
    group.add_argument("--nnodes", type=int, default=1,
                       help="machines sharing the slots (default 1)")
    group.add_argument("--node_rank", type=int, default=None, help="this machine's rank")
    group.add_argument("--master_addr", default=None, help="host of node 0 (static rendezvous)")
    group.add_argument("--master_port", type=int, default=None, help="port on node 0")
    group.add_argument("--rdzv_endpoint", default=None, help="host:port (c10d rendezvous)")
    group.add_argument("--rdzv_backend", default=None, help="c10d (default with rdzv_endpoint)")
    group.add_argument("--rdzv_id", default=None, help="a job id shared by all machines")


def under_torchrun() -> bool:
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def torchrun_command(script: str, argv: list, slots: int, args: argparse.Namespace) -> list:
    """The torchrun command running `script argv` on `slots` processes in all."""
    nnodes = int(getattr(args, "nnodes", 1) or 1)
    if nnodes < 1 or slots % nnodes:
        raise ConfigError(f"resources.slots_per_trial={slots} cannot be split evenly over "
                          f"--nnodes={nnodes} machines")
    command = [sys.executable, "-m", "torch.distributed.run",
               f"--nproc_per_node={slots // nnodes}", f"--nnodes={nnodes}"]
    for name in TORCHRUN_FLAGS[1:]:
        value = getattr(args, name, None)
        if value is not None:
            command.append(f"--{name}={value}")
    if nnodes == 1 and not any(getattr(args, name, None) is not None
                               for name in ("rdzv_endpoint", "master_addr", "master_port")):
        # One machine: a free local port, so two runs on one machine do not collide.
        command.append("--standalone")
    return command + [script] + list(argv)


def launch_if_needed(script: str, argv: list, slots: int,
                     args: argparse.Namespace) -> Optional[int]:
    """Run under torchrun when the trial has several slots and this process is not one of
    torchrun's; returns torchrun's exit code, or None when this process should train."""
    if under_torchrun():
        world = int(os.environ["WORLD_SIZE"])
        if world != slots:
            raise ConfigError(f"resources.slots_per_trial={slots}, but torchrun started {world} "
                              "processes; start it with --nproc_per_node x --nnodes = "
                              "slots_per_trial, or set --resources.slots_per_trial")
        return None
    if slots == 1:
        return None
    from ..torch.distributed import check_process_count
    nnodes = int(getattr(args, "nnodes", 1) or 1)
    check_process_count(slots // max(nnodes, 1), flag="resources.slots_per_trial",
                        advice="Determined's data parallelism kept global_batch_size and the "
                               "learning rate whatever the slots; so does this port.")
    command = torchrun_command(script, argv, slots, args)
    env = dict(os.environ)
    # torchrun would set 1 thread per process and print a banner about it; share the cores.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // (slots // nnodes))))
    return subprocess.call(command, env=env)
