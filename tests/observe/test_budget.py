"""The sampler's CPU budget (observe/budget.py) on made-up costs: what it allows."""

from __future__ import annotations

import pytest

from harness.observe.budget import DEFAULT_MAX_AGE_S, MAX_AGE_S, Budget


def run(budget: Budget, seconds: float, exact: float, costs: dict[str, float]):
    """Sample at the budget's interval for ``seconds``; the CPU spent on each part."""
    spent = dict.fromkeys(costs, 0.0)
    refreshes = dict.fromkeys(costs, 0)
    ticks = int(seconds / budget.interval)
    for k in range(ticks):
        now = k * budget.interval
        for part, cost in costs.items():
            if budget.due(part, now):
                budget.spent(part, cost, now)
                spent[part] += cost
                refreshes[part] += 1
        budget.exact(exact)
    return spent, refreshes


def test_a_refresh_wanted_every_second_is_held_to_what_the_budget_leaves():
    b = Budget(0.05, 0.1, {"time_wait": 1.0, "sysctls": 1.0})
    spent, refreshes = run(b, 300, exact=0.002, costs={"time_wait": 0.06, "sysctls": 0.001})
    optional = sum(spent.values()) / 300
    assert optional == pytest.approx(0.05 - 0.02, rel=0.1)  # what the exact part leaves
    # 60 ms a second would be 6%: about every other second instead
    assert refreshes["time_wait"] == pytest.approx(300 * 0.03 / 0.061, rel=0.1)
    assert refreshes["sysctls"] > 0


def test_cheap_parts_refresh_at_their_minimum_period():
    b = Budget(0.05, 0.1, {"time_wait": 1.0, "sysctls": 1.0})
    _spent, refreshes = run(b, 60, exact=0.001, costs={"time_wait": 0.001, "sysctls": 0.0005})
    assert refreshes == {"time_wait": 60, "sysctls": 60}


def test_a_lookup_needed_once_runs_at_once_when_nothing_is_owed():
    b = Budget(0.05, 0.1)
    b.spent("time_wait", 0.001, 0.0)
    for k in range(50):  # 5 s of samples with nothing optional to do
        b.exact(0.002)
        assert b.due("owners", k * 0.1) or k == 0
    assert b.due("owners", 5.0)
    b.spent("owners", 0.2, 5.0)  # an expensive /proc walk: in debt for a while
    assert not b.due("owners", 5.1) and not b.due("time_wait", 5.1)


def test_over_budget_the_parts_are_refreshed_at_their_longest_and_say_how_old():
    b = Budget(0.05, 0.1, {"time_wait": 1.0})
    b.exact(0.01)  # the exact part alone takes 10% of a core
    b.spent("time_wait", 0.02, 0.0)
    b.spent("owners", 0.02, 0.0)
    assert not b.due("time_wait", 30.0) and b.age("time_wait", 30.0) == 30.0
    assert b.due("time_wait", DEFAULT_MAX_AGE_S)
    # an owner is what a leak hunter came for: it waits seconds, not a minute
    assert not b.due("owners", 1.0) and b.due("owners", MAX_AGE_S["owners"])
