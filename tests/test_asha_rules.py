"""ASHA bookkeeping (nasrepro.hpsearch.asha) against hand-computed expectations."""
import json
import math

import pytest

from nasrepro.errors import ConfigError
from nasrepro.hpsearch.asha import (BracketPlan, PromotionASHA, bracket_plan, max_rungs_cap,
                                    rung_lengths)


# --- rung lengths and the rung cap --------------------------------------------------------------

def test_rung_lengths_of_the_darts_example():
    # 156200 // 4**4 = 610 (610.16), // 4**3 = 2440, // 4**2 = 9762 (9762.5), // 4 = 39050.
    assert rung_lengths(156200, 4, 5) == [610, 2440, 9762, 39050, 156200]
    assert rung_lengths(156200, 4, 4) == [2440, 9762, 39050, 156200]


def test_rung_lengths_of_tiny_configs():
    assert rung_lengths(16, 2, 3) == [4, 8, 16]
    assert rung_lengths(10, 3, 3) == [1, 3, 10]  # 10 // 9 = 1, 10 // 3 = 3
    assert rung_lengths(7, 4, 1) == [7]


def test_rung_lengths_refuses_a_rung_of_zero_batches():
    with pytest.raises(ConfigError, match=r"searcher\.max_rungs=4: expected at most 3"):
        rung_lengths(10, 3, 4)  # 10 // 27 = 0


def test_max_rungs_cap_keeps_the_example_values():
    # caps: floor(log4 156200) + 1 = 9 (4**8 = 65536), floor(log4 10000) + 1 = 7 (4**6 = 4096)
    assert max_rungs_cap(5, 156200, 10000, 4) == 5
    assert max_rungs_cap(4, 156200, 10000, 4) == 4
    assert max_rungs_cap(12, 156200, 10000, 4) == 7


def test_max_rungs_cap_by_trials_and_by_length():
    assert max_rungs_cap(5, 156200, 20, 4) == 3  # 4**2 = 16 <= 20 < 64
    assert max_rungs_cap(10, 100, 10000, 4) == 4  # 4**3 = 64 <= 100 < 256


def test_max_rungs_cap_has_no_floating_point_off_by_one():
    # math.log(243) / math.log(3) = 4.999..., but 3**5 = 243 exactly: the cap is 6, not 5.
    assert int(math.log(243) / math.log(3)) == 4
    assert max_rungs_cap(10, 243, 243, 3) == 6
    assert max_rungs_cap(10, 1000, 1000, 10) == 4  # 10**3 = 1000


def test_bad_divisor_names_the_file_and_key():
    with pytest.raises(ConfigError, match=r"^adaptive\.yaml: searcher\.divisor=1: expected an "
                                          r"integer >= 2"):
        max_rungs_cap(5, 100, 100, 1, source="adaptive.yaml")


# --- brackets -----------------------------------------------------------------------------------

def test_aggressive_is_one_bracket_with_everything():
    assert bracket_plan("aggressive", 5, 10000, 16, 4) == [BracketPlan(5, 10000, 16)]
    # max_concurrent_trials 0: min(4**4, max_trials)
    assert bracket_plan("aggressive", 5, 10000, 0, 4) == [BracketPlan(5, 10000, 256)]
    assert bracket_plan("aggressive", 5, 100, 0, 4) == [BracketPlan(5, 100, 100)]


def test_standard_splits_by_weight():
    # rung counts (4-1)//2+1 = 2 .. 4, most first: weights 2**3, 2**2, 2**1 = 8, 4, 2 (sum 14).
    # trials: 160//14, 80//14, 40//14 = 11, 5, 2 (18); remainder 2 -> +1 to the first two.
    # concurrency 7: 56//14, 28//14, 14//14 = 4, 2, 1 (7).
    plan = bracket_plan("standard", 4, 20, 7, 2)
    assert plan == [BracketPlan(4, 12, 4), BracketPlan(3, 6, 2), BracketPlan(2, 2, 1)]
    assert sum(b.max_trials for b in plan) == 20
    assert sum(b.max_concurrent_trials for b in plan) == 7


def test_conservative_splits_by_weight_and_gives_each_bracket_one():
    # rung counts 3, 2, 1: weights 16, 4, 1 (sum 21).
    # trials 30: 480//21, 120//21, 30//21 = 22, 5, 1 (28); remainder 2 -> 23, 6, 1.
    # concurrency 0 -> min(4**2, 30) = 16: 256//21, 64//21, 16//21 = 12, 3, 0 (15);
    # remainder 1 -> 13, 3, 0; the empty bracket takes one from the largest -> 12, 3, 1.
    plan = bracket_plan("conservative", 3, 30, 0, 4)
    assert plan == [BracketPlan(3, 23, 12), BracketPlan(2, 6, 3), BracketPlan(1, 1, 1)]
    assert sum(b.max_trials for b in plan) == 30
    assert sum(b.max_concurrent_trials for b in plan) == 16


def test_fewer_trials_than_brackets_drops_the_shortest_brackets():
    # 2 trials, 3 brackets: keep 3 and 2 rungs; weights 16, 4: 32//20, 8//20 = 1, 0; remainder 1
    # -> 2, 0; the empty bracket takes one -> 1, 1.
    assert bracket_plan("conservative", 3, 2, 0, 4) == [BracketPlan(3, 1, 1),
                                                        BracketPlan(2, 1, 1)]


def test_unknown_mode_lists_the_modes():
    with pytest.raises(ConfigError) as err:
        bracket_plan("greedy", 5, 100, 0, 4, source="adaptive.yaml")
    message = str(err.value)
    assert message.startswith("adaptive.yaml: searcher.mode='greedy'")
    for mode in ("aggressive", "standard", "conservative"):
        assert mode in message


# --- promotions ---------------------------------------------------------------------------------

def run_script(asha, script):
    """Feed (trial, metric) reports in order; add trials on their first report. Returns the
    promoted lists and checks that every promoted trial now aims at the next rung."""
    got = []
    for trial, metric in script:
        if trial not in asha.state_dict()["trials"]:
            asha.add_trial(trial)
        rung = asha.rung_of(trial)
        decision = asha.report(trial, metric)
        assert (decision.trial_id, decision.rung) == (trial, rung)
        for promoted in decision.promoted:
            assert asha.rung_of(promoted) == rung + 1
            assert asha.target_length(promoted) == asha.lengths[rung + 1]
            assert not asha.is_waiting(promoted)
        got.append(decision.promoted)
    return got


def test_divisor_4_script_larger_is_better():
    asha = PromotionASHA([4, 16], divisor=4, smaller_is_better=False)
    script = [
        ("t1", 0.50),  # n=0: quota 0 -> 0, nothing
        ("t2", 0.70),  # n=1: nothing
        ("t3", 0.60),  # n=2: nothing; rung 0 = t2 .70, t3 .60, t1 .50
        ("t4", 0.40),  # n=3: quota 0 -> 1, t4 lands at 3; place 0 is paused t2 -> promote t2
        ("t5", 0.90),  # n=4: quota stays 1, t5 lands at 0 < 1 -> promote t5 itself
        ("t2", 0.72),  # t2 at the last rung: finished, nothing promoted
        ("t6", 0.60),  # n=5: ties t3 and goes after it (place 3); quota stays 1 -> nothing
        ("t7", 0.30),  # n=6: nothing
        ("t8", 0.65),  # n=7: quota 1 -> 2, t8 lands at 2; place 1 is t2, already promoted
        ("t9", 0.20),  # n=8: quota stays 2
        ("t10", 0.10),  # n=9
        ("t11", 0.05),  # n=10
        ("t12", 0.65),  # n=11: quota 2 -> 3; ties t8 and goes after it (place 3), so place 2,
                        # the paused t8, is promoted (were ties put first, t12 would be)
        ("t5", 0.95),  # last rung: finished
        ("t8", 0.66),  # last rung: finished
    ]
    assert run_script(asha, script) == [
        [], [], [], ["t2"], ["t5"], [], [], [], [], [], [], [], ["t8"], [], []]
    assert [(t, p) for t, _, p in asha.rung_results(0)] == [
        ("t5", True), ("t2", True), ("t8", True), ("t12", False), ("t3", False), ("t6", False),
        ("t1", False), ("t4", False), ("t7", False), ("t9", False), ("t10", False),
        ("t11", False)]
    assert [t for t, _, _ in asha.rung_results(1)] == ["t5", "t2", "t8"]  # .95, .72, .66
    for trial in ("t2", "t5", "t8"):
        assert asha.is_finished(trial) and not asha.is_waiting(trial)
        assert asha.rung_of(trial) == 1 and asha.target_length(trial) == 16
    for trial in ("t1", "t3", "t12"):
        assert asha.is_waiting(trial) and not asha.is_finished(trial)
        assert asha.rung_of(trial) == 0 and asha.target_length(trial) == 4


def test_divisor_2_script_over_three_rungs():
    asha = PromotionASHA(rung_lengths(16, 2, 3), divisor=2, smaller_is_better=False)
    assert asha.lengths == [4, 8, 16]
    script = [
        ("a", 0.50),  # rung 0, n=0: quota 0 -> 0, nothing
        ("b", 0.60),  # rung 0, n=1: quota 0 -> 1, b lands at 0 -> promote b
        ("c", 0.40),  # rung 0, n=2: quota stays 1, nothing
        ("d", 0.55),  # rung 0, n=3: quota 1 -> 2, d lands at 1 < 2 -> promote d
        ("b", 0.70),  # rung 1, n=0: nothing
        ("d", 0.80),  # rung 1, n=1: quota 0 -> 1, d lands at 0 -> promote d to rung 2
        ("e", 0.45),  # rung 0, n=4: quota stays 2; rung 0 = b d a e c
        ("f", 0.30),  # rung 0, n=5: quota 2 -> 3, f last; place 2 is paused a -> promote a
        ("a", 0.70),  # rung 1, n=2: ties b, goes after it (d b a); quota stays 1, nothing
        ("d", 0.85),  # rung 2 (last): finished
        ("g", 0.90),  # rung 0, n=6: quota stays 3, g lands at 0 -> promote g
        ("g", 0.60),  # rung 1, n=3: quota 1 -> 2, g last; place 1 is b (a tied after it) -> b
        ("b", 0.90),  # rung 2 (last): finished
    ]
    assert run_script(asha, script) == [
        [], ["b"], [], ["d"], [], ["d"], [], ["a"], [], [], ["g"], ["b"], []]
    assert asha.rung_results(1) == [("d", 0.80, True), ("b", 0.70, True), ("a", 0.70, False),
                                    ("g", 0.60, False)]
    assert [asha.rung_of(t) for t in "abcdefg"] == [1, 2, 0, 2, 0, 0, 1]
    assert [asha.is_waiting(t) for t in "abcdefg"] == [True, False, True, False, True, True,
                                                       True]
    assert [asha.is_finished(t) for t in "abcdefg"] == [False, True, False, True, False, False,
                                                        False]


def test_smaller_is_better_flips_the_order():
    script = [("x", 0.3), ("y", 0.1)]
    larger = PromotionASHA([1, 2], divisor=2, smaller_is_better=False)
    smaller = PromotionASHA([1, 2], divisor=2, smaller_is_better=True)
    # n=1: quota 0 -> 1. Larger is better: y (0.1) lands at 1, paused x at 0 is promoted.
    assert run_script(larger, script) == [[], ["x"]]
    # Smaller is better: y lands at 0 and promotes itself.
    assert run_script(smaller, script) == [[], ["y"]]
    assert [t for t, _, _ in larger.rung_results(0)] == ["x", "y"]
    assert [t for t, _, _ in smaller.rung_results(0)] == ["y", "x"]


@pytest.mark.parametrize("smaller_is_better, bad, good", [
    (False, float("nan"), -1e300), (True, float("nan"), 1e300),
    (False, None, float("-inf")), (True, None, float("inf"))])
def test_nan_and_none_rank_below_every_number(smaller_is_better, bad, good):
    asha = PromotionASHA([1, 2], divisor=2, smaller_is_better=smaller_is_better)
    assert run_script(asha, [("bad", bad), ("good", good)]) == [[], ["good"]]
    assert [t for t, _, _ in asha.rung_results(0)] == ["good", "bad"]
    assert math.isnan(asha.rung_results(0)[1][1])


def test_state_dict_round_trip_gives_the_same_future():
    before = [("p", 0.5), ("q", float("nan")), ("r", 0.7), ("s", 0.6), ("t", 0.1)]
    after = [("u", 0.2), ("v", 0.9), ("w", 0.55), ("p", 0.8), ("x", 0.3), ("y", 0.35),
             ("z", 0.05)]
    original = PromotionASHA([2, 4, 8], divisor=2, smaller_is_better=False)
    run_script(original, before)
    # Strict JSON: NaN must not leak into the file.
    text = json.dumps(original.state_dict(), allow_nan=False)
    resumed = PromotionASHA([2, 4, 8], divisor=2, smaller_is_better=False)
    resumed.load_state_dict(json.loads(text))
    assert resumed.state_dict() == original.state_dict()
    for trial in "pqrst":
        assert resumed.is_waiting(trial) == original.is_waiting(trial)
    expected = run_script(original, after)
    assert run_script(resumed, after) == expected
    assert any(expected)  # the continuation does promote someone
    # (compared as state dicts: NaN != NaN would fail a comparison of rung_results)
    assert resumed.state_dict() == original.state_dict()


def test_load_state_dict_refuses_another_bracket():
    state = PromotionASHA([2, 4, 8], divisor=2, smaller_is_better=False).state_dict()
    with pytest.raises(ValueError, match="divisor=2"):
        PromotionASHA([2, 4, 8], divisor=4, smaller_is_better=False).load_state_dict(state)


def test_report_errors():
    asha = PromotionASHA([1, 2], divisor=2, smaller_is_better=False)
    with pytest.raises(ValueError, match="unknown trial 'ghost'"):
        asha.report("ghost", 0.5)
    asha.add_trial("a")
    asha.add_trial("b")
    with pytest.raises(ValueError, match="already added"):
        asha.add_trial("a")
    assert asha.report("a", 0.2).promoted == []
    with pytest.raises(ValueError, match="already reported at rung 0"):
        asha.report("a", 0.3)  # waiting: no second result at the same rung
    assert asha.report("b", 0.9).promoted == ["b"]
    assert asha.report("b", 0.9).promoted == []  # last rung
    with pytest.raises(ValueError, match="already finished"):
        asha.report("b", 0.9)
    # the refused reports changed nothing
    assert asha.rung_results(0) == [("b", 0.9, True), ("a", 0.2, False)]


def test_bracket_construction_errors():
    with pytest.raises(ConfigError, match="strictly increasing"):
        PromotionASHA([4, 4], divisor=2, smaller_is_better=True)
    with pytest.raises(ConfigError, match="divisor=1"):
        PromotionASHA([1, 2], divisor=1, smaller_is_better=True)
