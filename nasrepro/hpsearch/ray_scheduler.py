"""Promotion-based ASHA as a Ray Tune scheduler (the ASHA paper's rule, as Determined's 2020
`adaptive_asha` applied it).

Ray's own ASHAScheduler only stops trials. Here a trial that reaches its rung reports, and the
ASHA bookkeeping (asha.py) decides: promoted trials train on to the next rung; the others are
PAUSED (Ray checkpoints them and frees their slot) and resumed from that checkpoint if a later
report lifts them into the top 1/divisor of their rung. New trials start only when no promoted
trial is waiting; when every trial has been created and nothing runs or waits for a promotion,
the trials still paused at a rung are stopped there and the experiment ends.

The rung tables are written to `state_path` after every change: Ray restores a killed search
with the scheduler as it was pickled at the start, and the scheduler then reloads its rungs from
that file, so no decision is lost or taken twice."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from .asha import BracketPlan, Decision, PromotionASHA


class PromotionASHAScheduler(FIFOScheduler):
    def __init__(self, plans: list[BracketPlan], lengths: list[int], divisor: int,
                 smaller_is_better: bool, metric: str, time_attr: str = "batches",
                 max_concurrent_trials: int = 1,
                 on_decision: Optional[Callable[[Decision, float], None]] = None,
                 state_path: Optional[str] = None):
        super().__init__()
        self.state_path = state_path
        self._state_checked = False
        self.plans = list(plans)
        # A bracket with r rungs uses the last r rung lengths.
        self.brackets = [PromotionASHA(lengths[len(lengths) - p.num_rungs:], divisor,
                                       smaller_is_better) for p in self.plans]
        self.metric_name, self.time_attr = metric, time_attr
        self.max_concurrent_trials = max(1, int(max_concurrent_trials))
        self.bracket_of: dict[str, int] = {}
        self.awaiting_resume: set[str] = set()   # paused, then promoted by another's report
        self.decisions: list[tuple[float, Decision]] = []
        self.on_decision = on_decision
        self.started = time.time()

    # --- persistence ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"brackets": [b.state_dict() for b in self.brackets],
                "bracket_of": dict(self.bracket_of),
                "awaiting_resume": sorted(self.awaiting_resume)}

    def load_state_dict(self, state: dict) -> None:
        for bracket, bracket_state in zip(self.brackets, state["brackets"]):
            bracket.load_state_dict(bracket_state)
        self.bracket_of = {k: int(v) for k, v in state["bracket_of"].items()}
        self.awaiting_resume = set(state["awaiting_resume"])

    def _save(self) -> None:
        if self.state_path:
            from ..atomic import atomic_write_text
            atomic_write_text(self.state_path, json.dumps(self.state_dict()))

    def _restore_once(self) -> None:
        if not self._state_checked:
            self._state_checked = True
            if self.state_path and Path(self.state_path).is_file():
                self.load_state_dict(json.loads(Path(self.state_path).read_text()))

    def _waiting(self, trial: Trial) -> bool:
        """Reported at its rung and not promoted: it must not train on."""
        index = self.bracket_of.get(trial.trial_id)
        return (index is not None and trial.trial_id not in self.awaiting_resume
                and self.brackets[index].is_waiting(trial.trial_id))

    # --- bookkeeping helpers -----------------------------------------------------------------
    def _bracket(self, trial: Trial) -> PromotionASHA:
        return self.brackets[self.bracket_of[trial.trial_id]]

    def _choose_bracket(self) -> int:
        """The bracket furthest from its share of max_trials, so brackets fill evenly."""
        counts = [0] * len(self.brackets)
        for index in self.bracket_of.values():
            counts[index] += 1
        return min(range(len(self.plans)), key=lambda i: (counts[i] / self.plans[i].max_trials, i))

    # --- Ray Tune hooks ----------------------------------------------------------------------
    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        self._restore_once()
        if trial.trial_id not in self.bracket_of:
            index = self._choose_bracket()
            self.bracket_of[trial.trial_id] = index
            self.brackets[index].add_trial(trial.trial_id)
            self._save()

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        self._restore_once()
        self.awaiting_resume.discard(trial.trial_id)
        bracket = self._bracket(trial)
        if bracket.is_finished(trial.trial_id):
            return TrialScheduler.STOP
        if bracket.is_waiting(trial.trial_id):
            return TrialScheduler.PAUSE
        if result[self.time_attr] < bracket.target_length(trial.trial_id):
            return TrialScheduler.CONTINUE
        decision = bracket.report(trial.trial_id, result.get(self.metric_name))
        elapsed = time.time() - self.started
        self.decisions.append((elapsed, decision))
        if self.on_decision is not None:
            self.on_decision(decision, elapsed)
        if bracket.is_finished(trial.trial_id):
            self._save()
            return TrialScheduler.STOP
        for other in decision.promoted:
            if other != trial.trial_id:
                self.awaiting_resume.add(other)
        self._save()
        return TrialScheduler.CONTINUE if trial.trial_id in decision.promoted else TrialScheduler.PAUSE

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self.awaiting_resume.discard(trial.trial_id)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self.awaiting_resume.discard(trial.trial_id)

    def choose_trial_to_run(self, tune_controller) -> Optional[Trial]:
        self._restore_once()
        trials = tune_controller.get_trials()
        running = sum(1 for t in trials if t.status == Trial.RUNNING)
        if running < self.max_concurrent_trials:
            # Promotions first: a promoted trial goes on before any new trial starts.
            for t in trials:
                if t.status == Trial.PAUSED and t.trial_id in self.awaiting_resume:
                    return t
            for t in trials:
                # A restored search may bring back a waiting trial as PENDING: it stays put.
                if t.status == Trial.PENDING and not self._waiting(t):
                    return t
        pending = any(t.status == Trial.PENDING and not self._waiting(t) for t in trials)
        if running == 0 and not pending and not self.awaiting_resume \
                and tune_controller.search_alg.is_finished():
            # Nothing can promote the trials still waiting at a rung: close them there.
            for t in trials:
                if t.status in (Trial.PAUSED, Trial.PENDING):
                    tune_controller.stop_trial(t)
        return None

    def debug_string(self) -> str:
        parts = []
        for index, bracket in enumerate(self.brackets):
            sizes = [len(bracket.rung_results(k)) for k in range(len(bracket.lengths))]
            parts.append(f"bracket {index}: results per rung {sizes}")
        return "Promotion-based ASHA; " + "; ".join(parts)
