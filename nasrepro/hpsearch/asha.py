"""Promotion-based asynchronous successive halving (ASHA), as Determined's 2020 `adaptive_asha`
searcher runs it (Li et al., "A System for Massively Parallel Hyperparameter Tuning").

Pure bookkeeping, no training: the functions turn the `searcher` section of an experiment config
into rung lengths and brackets, and `PromotionASHA` decides, one reported metric at a time, which
trials of one bracket train on to the next rung. Lengths are counted in batches.

Only `aggressive` mode (one bracket, the mode the ASHA-DARTS example uses) is checked against the
original. How `standard` and `conservative` split trials and concurrency over their brackets is
our own budget-equalising rule (weights divisor**(rungs-1)), not a copy of the split in
determined-ai/determined master/pkg/searcher/adaptive_asha.go.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from ..errors import ConfigError, check_value

MODES = ("aggressive", "standard", "conservative")


def _floor_log(n: int, base: int) -> int:
    """Largest k with base**k <= n, in integers: math.log(243) / math.log(3) is 4.999..."""
    k, power = 0, base
    while power <= n:
        k, power = k + 1, power * base
    return k


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(value, minimum: int, source: str, key: str) -> None:
    check_value(_is_int(value) and value >= minimum, f"{source}:", f"searcher.{key}", value,
                f"an integer >= {minimum}")


def max_rungs_cap(max_rungs: int, max_length: int, max_trials: int, divisor: int, *,
                  source: str = "searcher config") -> int:
    """Number of rungs Determined actually uses: max_rungs, capped so that rung 0 still trains at
    least one batch and so that enough trials exist to fill a rung's promotion quota.

    min(max_rungs, floor(log_d(max_length)) + 1, floor(log_d(max_trials)) + 1). `source` names
    the config file in error messages."""
    _check_int(max_rungs, 1, source, "max_rungs")
    _check_int(max_length, 1, source, "max_length")
    _check_int(max_trials, 1, source, "max_trials")
    _check_int(divisor, 2, source, "divisor")
    return min(max_rungs, _floor_log(max_length, divisor) + 1, _floor_log(max_trials, divisor) + 1)


def rung_lengths(max_length: int, divisor: int, num_rungs: int, *,
                 source: str = "searcher config") -> list[int]:
    """Training length (batches) of rungs 0..num_rungs-1: int(max_length / divisor**(R-1-i)).

    The last rung is max_length itself; each earlier one is `divisor` times shorter, rounded
    down. E.g. (156200, 4, 5) -> [610, 2440, 9762, 39050, 156200]."""
    _check_int(max_length, 1, source, "max_length")
    _check_int(divisor, 2, source, "divisor")
    _check_int(num_rungs, 1, source, "max_rungs")
    # Floor division is exact where a float quotient could round up across an integer.
    lengths = [max_length // divisor ** (num_rungs - 1 - i) for i in range(num_rungs)]
    if lengths[0] < 1:
        cap = _floor_log(max_length, divisor) + 1
        raise ConfigError(f"{source}: searcher.max_rungs={num_rungs}: expected at most {cap} "
                          f"with max_length={max_length} and divisor={divisor}, so that rung 0 "
                          f"trains at least one batch")
    return lengths


@dataclass(frozen=True)
class BracketPlan:
    """One bracket of an adaptive search: it uses the last `num_rungs` rung lengths."""
    num_rungs: int
    max_trials: int
    max_concurrent_trials: int


def _bracket_rung_counts(mode: str, max_rungs: int) -> list[int]:
    """Rung counts of the mode's brackets, most rungs (most early stopping) first."""
    if mode == "aggressive":
        lowest = max_rungs
    elif mode == "standard":
        lowest = (max_rungs - 1) // 2 + 1
    else:  # conservative
        lowest = 1
    return list(range(max_rungs, lowest - 1, -1))


def _split(total: int, weights: list[int]) -> list[int]:
    """Split `total` in proportion to `weights` (listed most rungs first), at least 1 each.

    Floors first; the remainder goes one each to the first brackets. A bracket left at 0 then
    takes one from the largest share (the first such on ties), which keeps the sum at `total`
    whenever total >= len(weights); below that every bracket still gets 1."""
    weight_sum = sum(weights)
    shares = [total * weight // weight_sum for weight in weights]
    for i in range(total - sum(shares)):
        shares[i] += 1
    for i, share in enumerate(shares):
        if share == 0:
            donor = max(range(len(shares)), key=lambda j: (shares[j], -j))
            if shares[donor] > 1:
                shares[donor] -= 1
            shares[i] = 1
    return shares


def bracket_plan(mode: str, max_rungs: int, max_trials: int, max_concurrent_trials: int,
                 divisor: int, *, source: str = "searcher config") -> list[BracketPlan]:
    """Brackets of an adaptive_asha search, most rungs first.

    `max_rungs` is the capped count (see max_rungs_cap). aggressive: one bracket of max_rungs
    rungs; standard: brackets of (max_rungs-1)//2+1 .. max_rungs rungs; conservative: 1 ..
    max_rungs. Trials and concurrency are split with weight divisor**(rungs-1) per bracket; with
    fewer trials than brackets, the brackets with the fewest rungs are dropped.
    max_concurrent_trials 0 (or None) means min(divisor**(max_rungs-1), max_trials). A bracket
    never runs more trials at once than it has."""
    check_value(mode in MODES, f"{source}:", "searcher.mode", mode, f"one of {', '.join(MODES)}")
    _check_int(max_rungs, 1, source, "max_rungs")
    _check_int(max_trials, 1, source, "max_trials")
    _check_int(divisor, 2, source, "divisor")
    if max_concurrent_trials is None:
        max_concurrent_trials = 0
    _check_int(max_concurrent_trials, 0, source, "max_concurrent_trials")
    if max_concurrent_trials == 0:
        max_concurrent_trials = min(divisor ** (max_rungs - 1), max_trials)

    counts = _bracket_rung_counts(mode, max_rungs)[:max_trials]
    weights = [divisor ** (rungs - 1) for rungs in counts]
    trials = _split(max_trials, weights)
    concurrent = _split(max_concurrent_trials, weights)
    return [BracketPlan(num_rungs=r, max_trials=t, max_concurrent_trials=min(c, t))
            for r, t, c in zip(counts, trials, concurrent)]


@dataclass
class Decision:
    """What one report did, for logs and plots: `promoted` lists the trials (the reporter or an
    earlier, paused one) that leave `rung` for rung+1 because of it."""
    trial_id: str
    rung: int
    metric: float
    promoted: list[str]


def _as_metric(value) -> float:
    return math.nan if value is None else float(value)


class PromotionASHA:
    """One bracket.

    Every trial starts at rung 0, trains to the rung's length and reports a metric there. Of the
    n results a rung has seen, the best floor(n / divisor) are promoted, decided the moment each
    result arrives: nothing waits for a rung to fill, and a promotion is never taken back. A trial
    not (yet) promoted waits, paused, and may be promoted later when enough worse results arrive.
    A report at the last rung finishes the trial. NaN (or None) ranks below every number."""

    def __init__(self, lengths: list[int], divisor: int, smaller_is_better: bool):
        lengths = list(lengths)
        if not lengths or not all(_is_int(n) and n >= 1 for n in lengths):
            raise ConfigError(f"PromotionASHA: lengths={lengths!r}: expected a non-empty list "
                              f"of positive integers")
        if any(a >= b for a, b in zip(lengths, lengths[1:])):
            raise ConfigError(f"PromotionASHA: lengths={lengths!r}: expected strictly "
                              f"increasing lengths")
        check_value(_is_int(divisor) and divisor >= 2, "PromotionASHA:", "divisor", divisor,
                    "an integer >= 2")
        self.lengths = lengths
        self.divisor = divisor
        self.smaller_is_better = bool(smaller_is_better)
        self._rung: dict[str, int] = {}  # trial -> rung it trains toward or waits in
        self._results: list[list[list]] = [[] for _ in lengths]  # [trial, metric, promoted]
        self._reported: set[str] = set()  # trials with a result at their current rung

    # --- queries -------------------------------------------------------------------------

    def _check_known(self, trial_id: str) -> None:
        if trial_id not in self._rung:
            raise ValueError(f"PromotionASHA: unknown trial {trial_id!r}")

    def rung_of(self, trial_id: str) -> int:
        """Rung the trial trains toward, or waits in, or (finished) completed last."""
        self._check_known(trial_id)
        return self._rung[trial_id]

    def target_length(self, trial_id: str) -> int:
        """Length (batches) the trial must have trained when it reports next; for a waiting or
        finished trial, the length it has already reached."""
        return self.lengths[self.rung_of(trial_id)]

    def is_waiting(self, trial_id) -> bool:
        """Reported at its rung, not promoted from it, and that rung is not the last."""
        return (self.rung_of(trial_id) < len(self.lengths) - 1
                and trial_id in self._reported)

    def is_finished(self, trial_id) -> bool:
        """Reported at the last rung."""
        return self.rung_of(trial_id) == len(self.lengths) - 1 and trial_id in self._reported

    def rung_results(self, k: int) -> list[tuple[str, float, bool]]:
        """(trial, metric, promoted) of every result reported at rung k, best first."""
        return [(trial, metric, promoted) for trial, metric, promoted in self._results[k]]

    # --- updates -------------------------------------------------------------------------

    def add_trial(self, trial_id: str) -> None:
        """Start a new trial at rung 0."""
        if trial_id in self._rung:
            raise ValueError(f"PromotionASHA: trial {trial_id!r} was already added")
        self._rung[trial_id] = 0

    def _sort_key(self, metric: float) -> tuple[int, float]:
        # Smaller key = better; NaN sorts after every number, even an infinite one.
        if math.isnan(metric):
            return (1, 0.0)
        return (0, metric if self.smaller_is_better else -metric)

    def report(self, trial_id: str, metric: float) -> Decision:
        """Record the trial's metric at its current rung and promote whoever this earns a place.

        Raises ValueError for an unknown trial, a finished one, or one waiting at its rung."""
        self._check_known(trial_id)
        if self.is_finished(trial_id):
            raise ValueError(f"PromotionASHA: trial {trial_id!r} already finished the last rung")
        if self.is_waiting(trial_id):
            raise ValueError(f"PromotionASHA: trial {trial_id!r} already reported at rung "
                             f"{self._rung[trial_id]} and was not promoted")
        metric = _as_metric(metric)
        rung = self._rung[trial_id]
        results = self._results[rung]
        position = bisect.bisect_right(results, self._sort_key(metric),
                                       key=lambda entry: self._sort_key(entry[1]))
        if rung == len(self.lengths) - 1:
            results.insert(position, [trial_id, metric, False])
            self._reported.add(trial_id)
            return Decision(trial_id, rung, metric, [])

        old_quota = len(results) // self.divisor
        new_quota = (len(results) + 1) // self.divisor
        promote_now = position < new_quota
        results.insert(position, [trial_id, metric, promote_now])
        if promote_now:
            promoted = [trial_id]
        else:
            self._reported.add(trial_id)
            promoted = []
            # The quota grew by one: the best result not yet promoted, at the new last place
            # inside the quota, belongs to an earlier trial paused at this rung.
            if new_quota > old_quota and not results[new_quota - 1][2]:
                results[new_quota - 1][2] = True
                promoted = [results[new_quota - 1][0]]
        for promoted_id in promoted:
            self._rung[promoted_id] = rung + 1
            self._reported.discard(promoted_id)
        return Decision(trial_id, rung, metric, promoted)

    # --- checkpointing -------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume, as plain JSON (NaN metrics are stored as None)."""
        return {
            "lengths": list(self.lengths),
            "divisor": self.divisor,
            "smaller_is_better": self.smaller_is_better,
            "trials": dict(self._rung),
            "rungs": [[[trial, None if math.isnan(metric) else metric, promoted]
                       for trial, metric, promoted in results] for results in self._results],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore from state_dict(). The bracket's lengths, divisor and direction must match:
        resuming with a changed config would silently change earlier decisions' meaning."""
        for key, mine in (("lengths", self.lengths), ("divisor", self.divisor),
                          ("smaller_is_better", self.smaller_is_better)):
            if state.get(key) != mine:
                raise ValueError(f"PromotionASHA state: {key}={state.get(key)!r}: expected "
                                 f"{mine!r}, as this bracket was built with")
        if len(state["rungs"]) != len(self.lengths):
            raise ValueError(f"PromotionASHA state: rungs has {len(state['rungs'])} lists: "
                             f"expected {len(self.lengths)}, one per rung")
        self._rung = {str(trial): int(rung) for trial, rung in state["trials"].items()}
        self._results = [[[trial, _as_metric(metric), bool(promoted)]
                          for trial, metric, promoted in results] for results in state["rungs"]]
        # A trial has reported at its current rung iff it has a result recorded there.
        self._reported = {trial for k, results in enumerate(self._results)
                          for trial, _, _ in results if self._rung.get(trial) == k}
