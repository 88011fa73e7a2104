"""Learning-rate schedules as plain functions of the epoch.

ENAS and NAO-WS change the child's learning rate once per epoch (the epoch is
global_step // num_train_batches), and the PyTorch codes step their schedulers once per epoch, so
the rate of a whole epoch is computed in Python."""
import math

# The originals wrote pi as this literal; kept so the rates match theirs digit for digit.
ENAS_PI = 3.1415926


def cosine_restarts_lr(epoch: int, lr_max: float, lr_min: float, t0: int, t_mul: int,
                       pi: float = ENAS_PI) -> float:
    """SGDR: cosine from lr_max to lr_min over periods of t0, t0*t_mul, ... epochs.

    With t0=10, t_mul=2 the restarts fall at epochs 10, 30, 70, 150, 310, 630."""
    if t0 is None or t_mul is None or lr_max is None or lr_min is None:
        raise ValueError("cosine schedule needs lr_max, lr_min, T_0 and T_mul")
    if t0 < 1 or t_mul < 1:
        raise ValueError(f"cosine schedule needs T_0 >= 1 and T_mul >= 1, got {t0}, {t_mul}")
    last_reset, period = 0, t0
    while epoch - last_reset >= period:
        last_reset += period
        period *= t_mul
    t_cur = epoch - last_reset
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(pi * t_cur / period))


def cosine_lr(epoch: int, epochs: int, lr_max: float, lr_min: float) -> float:
    """One cosine from lr_max (epoch 0) towards lr_min over `epochs` epochs: the rate PyTorch's
    per-epoch CosineAnnealingLR(T_max=epochs, eta_min=lr_min) gives epoch `epoch`."""
    return cosine_restarts_lr(epoch, lr_max, lr_min, epochs, 1, pi=math.pi)


def staircase_lr(epoch: int, lr: float, decay_rate: float, decay_every_epochs: int) -> float:
    """lr * decay_rate ** floor(epoch / decay_every_epochs) (TF1 exponential_decay, staircase)."""
    return lr * decay_rate ** (epoch // max(1, int(decay_every_epochs)))


def nao_step_lr(schedule: str, step: int, batches_per_epoch: int, *, lr: float, lr_max: float,
                lr_min: float, t0: int, t_mul: int, exact_epoch_steps: float = None) -> float:
    """The rate of training step `step` in NAO/cnn/train_cifar.py (renqianluo/NAO, e07be44).

    "cosine": SGDR over epochs (epoch = step // batches_per_epoch, the rate fixed within an
    epoch), with the original's quirk at a restart: its graph moved T_i to T_i * T_mul before
    computing that step's rate from the old T_cur, so the first step of a restart epoch runs at
    cos(pi / T_mul) of the cycle (lr_min when T_mul = 1) and the epoch's other steps at lr_max.
    "decay": lr, x0.1 after epochs 100, 200 and 300 (boundaries in steps of `exact_epoch_steps`
    = images / batch, not rounded; a step equal to a boundary still has the earlier rate).
    "constant": lr."""
    if schedule == "constant":
        return lr
    if schedule == "decay":
        per_epoch = batches_per_epoch if exact_epoch_steps is None else exact_epoch_steps
        bounds = [int(per_epoch * e) for e in (100, 200, 300)]
        return lr * 0.1 ** sum(step > b for b in bounds)
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r} (expected cosine, decay or constant)")
    epoch = step // batches_per_epoch
    last_reset, period = 0, t0
    while epoch - last_reset >= period:
        if epoch - last_reset == period and step % batches_per_epoch == 0:
            return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(ENAS_PI / t_mul))
        last_reset += period
        period *= t_mul
    return cosine_restarts_lr(epoch, lr_max, lr_min, t0, t_mul)
