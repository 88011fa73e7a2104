"""PromotionASHAScheduler (nasrepro.hpsearch.ray_scheduler) driven by hand, without a Ray cluster:
fake trials carry only a trial_id and a Ray status, a fake controller lists them and records the
trials the scheduler stops. Every expected decision is worked out in the comments."""
import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from nasrepro.hpsearch.asha import BracketPlan
from nasrepro.hpsearch.ray_scheduler import PromotionASHAScheduler

CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP
LENGTHS = [2, 8, 32]   # batches at rungs 0, 1, 2
DIVISOR = 4
METRIC = "top1_accuracy"


class FakeTrial:
    def __init__(self, trial_id):
        self.trial_id = trial_id
        self.status = Trial.PENDING

    def __repr__(self):
        return f"FakeTrial({self.trial_id}, {self.status})"


class FakeSearcher:
    def __init__(self):
        self.finished = False

    def is_finished(self):
        return self.finished


class FakeController:
    """What the scheduler uses of Ray's TuneController."""

    def __init__(self, trials):
        self.trials = list(trials)
        self.stopped = []
        self.search_alg = FakeSearcher()

    def get_trials(self):
        return list(self.trials)

    def stop_trial(self, trial):
        self.stopped.append(trial.trial_id)
        trial.status = Trial.TERMINATED


def make_scheduler(decisions, state_path=None, max_trials=16):
    return PromotionASHAScheduler(
        [BracketPlan(num_rungs=3, max_trials=max_trials, max_concurrent_trials=2)], LENGTHS,
        DIVISOR, smaller_is_better=False, metric=METRIC, max_concurrent_trials=2,
        on_decision=lambda d, _elapsed: decisions.append((d.trial_id, d.rung, d.metric,
                                                          list(d.promoted))),
        state_path=state_path)


def report(sched, ctl, trial, batches, metric):
    """One result as Ray delivers it; the trial's status then follows the scheduler's answer."""
    trial.status = Trial.RUNNING
    action = sched.on_trial_result(ctl, trial, {"batches": batches, METRIC: metric})
    trial.status = {CONTINUE: Trial.RUNNING, PAUSE: Trial.PAUSED, STOP: Trial.TERMINATED}[action]
    return action


@pytest.fixture
def setup():
    trials = {f"t{i:02d}": FakeTrial(f"t{i:02d}") for i in range(1, 17)}
    ctl = FakeController(trials.values())
    decisions = []
    sched = make_scheduler(decisions)
    for t in trials.values():
        sched.on_trial_add(ctl, t)
    return sched, ctl, trials, decisions


def run_rung0_until_first_late_promotion(sched, ctl, t, decisions):
    """Rung-0 reports of t01..t08 (see test_scripted_sequence for the reasoning)."""
    assert report(sched, ctl, t["t01"], 2, 10.0) == PAUSE
    assert report(sched, ctl, t["t02"], 2, 20.0) == PAUSE
    assert report(sched, ctl, t["t03"], 2, 5.0) == PAUSE
    assert report(sched, ctl, t["t04"], 2, 30.0) == CONTINUE
    for name, value in (("t05", 1.0), ("t06", 2.0), ("t07", 3.0)):
        assert report(sched, ctl, t[name], 2, value) == PAUSE
    assert report(sched, ctl, t["t08"], 2, 4.0) == PAUSE


def test_scripted_sequence(setup):
    sched, ctl, t, decisions = setup
    bracket = sched.brackets[0]
    assert bracket.lengths == LENGTHS
    # Nothing reported yet: the first PENDING trial starts.
    assert sched.choose_trial_to_run(ctl) is t["t01"]

    # Below rung 0's 2 batches: train on, no decision.
    assert report(sched, ctl, t["t01"], 1, 99.0) == CONTINUE
    assert decisions == []

    # Rung 0, quota floor(n / 4) after the n-th result:
    # n=1 t01 10 -> quota 0: PAUSE.  n=2 t02 20 -> quota 0: PAUSE.  n=3 t03 5 -> PAUSE.
    assert report(sched, ctl, t["t01"], 2, 10.0) == PAUSE
    assert report(sched, ctl, t["t02"], 2, 20.0) == PAUSE
    assert report(sched, ctl, t["t03"], 2, 5.0) == PAUSE
    assert bracket.is_waiting("t01") and bracket.is_waiting("t02") and bracket.is_waiting("t03")
    # n=4 t04 30 -> quota 1 and 30 ranks first: promoted at once, CONTINUE toward 8 batches.
    assert report(sched, ctl, t["t04"], 2, 30.0) == CONTINUE
    assert bracket.rung_of("t04") == 1 and bracket.target_length("t04") == 8

    # A late second result from a waiting trial: still PAUSE, and no second decision.
    assert report(sched, ctl, t["t01"], 2, 50.0) == PAUSE
    assert len(decisions) == 4

    # n=5,6,7 (1, 2, 3): quota stays 1 -> PAUSE.
    for name, value in (("t05", 1.0), ("t06", 2.0), ("t07", 3.0)):
        assert report(sched, ctl, t[name], 2, value) == PAUSE

    # Concurrency 2: t04 runs; one more may start (the first PENDING, t08), then none.
    assert sched.choose_trial_to_run(ctl) is t["t08"]
    t["t08"].status = Trial.RUNNING
    assert sched.choose_trial_to_run(ctl) is None
    assert ctl.stopped == []

    # n=8 t08 4 -> quota 2. Ranking 30 t04 (promoted), 20 t02, 10, 5, 4 t08, 3, 2, 1: t08 (5th)
    # waits, and the second place, t02, paused since its report, is promoted now.
    assert report(sched, ctl, t["t08"], 2, 4.0) == PAUSE
    assert decisions[-1] == ("t08", 0, 4.0, ["t02"])
    assert bracket.rung_of("t02") == 1 and not bracket.is_waiting("t02")
    # One slot free (t04 runs): the promoted t02 goes before the PENDING t09.
    assert t["t02"].status == Trial.PAUSED and t["t09"].status == Trial.PENDING
    assert sched.choose_trial_to_run(ctl) is t["t02"]
    t["t02"].status = Trial.RUNNING
    assert sched.choose_trial_to_run(ctl) is None   # 2 running

    # Rung 1 (8 batches). t04 70 -> n=1, quota 0: PAUSE; a slot frees for t09.
    assert report(sched, ctl, t["t04"], 8, 70.0) == PAUSE
    assert sched.choose_trial_to_run(ctl) is t["t09"]
    # t02 validates at 5 batches (below 8): CONTINUE; at 8, 80 -> n=2, quota 0: PAUSE.
    assert report(sched, ctl, t["t02"], 5, 0.0) == CONTINUE
    assert report(sched, ctl, t["t02"], 8, 80.0) == PAUSE

    # Rung 0 again. n=9..11 (0.5, 0.6, 0.7) rank last, quota 2: PAUSE.
    for name, value in (("t09", 0.5), ("t10", 0.6), ("t11", 0.7)):
        assert report(sched, ctl, t[name], 2, value) == PAUSE
    # n=12 t12 50 -> quota 3, 50 ranks first: CONTINUE.
    assert report(sched, ctl, t["t12"], 2, 50.0) == CONTINUE
    # n=13..15 (0.1, 0.2, 0.3), quota 3: PAUSE. n=16 t16 60 -> quota 4, first: CONTINUE.
    for name, value in (("t13", 0.1), ("t14", 0.2), ("t15", 0.3)):
        assert report(sched, ctl, t[name], 2, value) == PAUSE
    assert report(sched, ctl, t["t16"], 2, 60.0) == CONTINUE
    assert [(trial, promoted) for trial, _, promoted in bracket.rung_results(0)[:5]] == [
        ("t16", True), ("t12", True), ("t04", True), ("t02", True), ("t01", False)]

    # Rung 1: t12 75 -> n=3, quota 0: PAUSE. t16 90 -> n=4, quota 1, first: CONTINUE to rung 2.
    assert report(sched, ctl, t["t12"], 8, 75.0) == PAUSE
    assert report(sched, ctl, t["t16"], 8, 90.0) == CONTINUE
    assert bracket.rung_of("t16") == 2
    # Rung 2 (32 batches, the last): CONTINUE below it, STOP at it.
    assert report(sched, ctl, t["t16"], 20, 91.0) == CONTINUE
    assert report(sched, ctl, t["t16"], 32, 95.0) == STOP
    sched.on_trial_complete(ctl, t["t16"], {})
    assert bracket.is_finished("t16")

    assert decisions == [
        ("t01", 0, 10.0, []), ("t02", 0, 20.0, []), ("t03", 0, 5.0, []),
        ("t04", 0, 30.0, ["t04"]),
        ("t05", 0, 1.0, []), ("t06", 0, 2.0, []), ("t07", 0, 3.0, []),
        ("t08", 0, 4.0, ["t02"]),
        ("t04", 1, 70.0, []), ("t02", 1, 80.0, []),
        ("t09", 0, 0.5, []), ("t10", 0, 0.6, []), ("t11", 0, 0.7, []),
        ("t12", 0, 50.0, ["t12"]),
        ("t13", 0, 0.1, []), ("t14", 0, 0.2, []), ("t15", 0, 0.3, []),
        ("t16", 0, 60.0, ["t16"]),
        ("t12", 1, 75.0, []), ("t16", 1, 90.0, ["t16"]),
        ("t16", 2, 95.0, []),
    ]

    # Nothing pending or running, but the searcher may still create trials: wait.
    assert all(x.status in (Trial.PAUSED, Trial.TERMINATED) for x in t.values())
    assert sched.choose_trial_to_run(ctl) is None
    assert ctl.stopped == []
    # The searcher is done: every trial paused at a rung is closed there.
    ctl.search_alg.finished = True
    assert sched.choose_trial_to_run(ctl) is None
    assert ctl.stopped == [f"t{i:02d}" for i in range(1, 16)]


def test_no_new_trial_while_slots_are_full(setup):
    sched, ctl, t, _ = setup
    t["t01"].status = t["t02"].status = Trial.RUNNING
    assert sched.choose_trial_to_run(ctl) is None
    t["t02"].status = Trial.TERMINATED
    assert sched.choose_trial_to_run(ctl) is t["t03"]


def test_a_promotion_waits_for_a_free_slot(setup):
    sched, ctl, t, decisions = setup
    run_rung0_until_first_late_promotion(sched, ctl, t, decisions)
    assert decisions[-1][3] == ["t02"]
    # t04 (promoted at once) and t09 hold both slots: the promoted t02 is not resumed yet...
    t["t09"].status = Trial.RUNNING
    assert sched.choose_trial_to_run(ctl) is None
    # ...and is the first choice once one frees.
    t["t09"].status = Trial.PAUSED
    assert sched.choose_trial_to_run(ctl) is t["t02"]


def test_restored_scheduler_keeps_rungs_and_pending_promotion(tmp_path):
    """Ray rebuilds a killed search's scheduler from its start-of-run pickle; the rung tables
    come back from state_path."""
    state = tmp_path / "asha_state.json"
    trials = {f"t{i:02d}": FakeTrial(f"t{i:02d}") for i in range(1, 17)}
    ctl = FakeController(trials.values())
    decisions = []
    sched = make_scheduler(decisions, state_path=str(state))
    for x in trials.values():
        sched.on_trial_add(ctl, x)
    run_rung0_until_first_late_promotion(sched, ctl, trials, decisions)
    assert state.is_file()

    restored_decisions = []
    restored = make_scheduler(restored_decisions, state_path=str(state))
    # Ray brings the paused trials back as PENDING; t01 waits at rung 0 and must not start,
    # the promoted t02 goes first, then the new t09.
    for x in trials.values():
        if x.status == Trial.PAUSED:
            x.status = Trial.PENDING
    trials["t04"].status = Trial.RUNNING
    assert restored.choose_trial_to_run(ctl) is trials["t02"]
    trials["t02"].status = Trial.RUNNING
    assert restored.choose_trial_to_run(ctl) is None
    trials["t04"].status = Trial.PAUSED
    assert restored.choose_trial_to_run(ctl) is trials["t09"]
    # The rungs carried over: a waiting trial's repeat report changes nothing; t02 now reports
    # at rung 1 (8 batches), t04 is at rung 1 too.
    assert report(restored, ctl, trials["t01"], 2, 99.0) == PAUSE
    assert report(restored, ctl, trials["t02"], 2, 99.0) == CONTINUE   # below 8: train on
    assert restored.brackets[0].rung_of("t04") == 1
    assert restored_decisions == []
    # n=9 at rung 0 (quota stays 2): one more PAUSE, recorded against 8 earlier results.
    assert report(restored, ctl, trials["t09"], 2, 0.5) == PAUSE
    assert len(restored.brackets[0].rung_results(0)) == 9
