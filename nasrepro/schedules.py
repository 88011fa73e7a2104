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
