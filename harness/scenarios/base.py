"""What a scenario is: a claim, expectations, the evidence a run observed, and a verdict.

A scenario declares ``expected``: named expectations (``Expect``) over values its run
observes (``run.observed[name] = value``). The verdict is computed only from those
observed values: a name the run never observed fails as "not observed". A caller (or a
test) may override any expectation; a failing check says both values::

    >>> Expect(61, "eq").check(60)
    False
    >>> Check("client_isn_gap", Expect(61), 60).message()
    'client_isn_gap: expected 61, observed 60'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

HOW = ("eq", "in_order", "at_least", "at_most", "between", "approx", "contains", "absent")


@dataclass(frozen=True)
class Expect:
    """An expected value and how an observed value is compared with it.

    eq: equal; in_order: the expected list is a subsequence of the observed list;
    at_least/at_most: numeric bound; between: value is (lo, hi) inclusive; approx:
    within ``tolerance`` (relative); contains: expected item is in observed; absent:
    expected item is not in observed.
    """

    value: Any
    how: str = "eq"
    tolerance: float = 0.0

    def __post_init__(self):
        if self.how not in HOW:
            raise ValueError(f"unknown comparison {self.how!r}")

    def check(self, observed: Any) -> bool:
        v, how = self.value, self.how
        if observed is None:  # never observed: no verdict can rest on it
            return v is None and how == "eq"
        try:
            if how == "eq":
                return observed == v
            if how == "in_order":
                it = iter(observed)
                return all(any(item == o for o in it) for item in v)
            if how == "at_least":
                return observed >= v
            if how == "at_most":
                return observed <= v
            if how == "between":
                return v[0] <= observed <= v[1]
            if how == "approx":
                return abs(observed - v) <= abs(v) * self.tolerance
            if how == "contains":
                return v in observed
            return v not in observed  # absent
        except TypeError:
            return False

    def describe(self) -> str:
        v = self.value
        return {
            "eq": f"{v!r}" if isinstance(v, str) else f"{v}",
            "in_order": " -> ".join(map(str, v)) if isinstance(v, list | tuple) else str(v),
            "at_least": f">= {v}", "at_most": f"<= {v}",
            "between": f"{v[0]}..{v[1]}" if isinstance(v, list | tuple) else str(v),
            "approx": f"{v} ±{self.tolerance:.0%}", "contains": f"contains {v}",
            "absent": f"no {v}",
        }[self.how]

    def to_json(self) -> dict:
        return {"value": self.value, "how": self.how, "tolerance": self.tolerance}


def _show(value: Any) -> str:
    if value is None:
        return "not observed"
    if isinstance(value, list | tuple) and value and all(isinstance(x, str) for x in value):
        return " -> ".join(value)
    return f"{value!r}" if isinstance(value, str) else str(value)


@dataclass
class Check:
    key: str
    expect: Expect
    observed: Any

    @property
    def passed(self) -> bool:
        return self.expect.check(self.observed)

    def message(self) -> str:
        return f"{self.key}: expected {self.expect.describe()}, observed {_show(self.observed)}"

    def to_json(self) -> dict:
        return {"key": self.key, "expected": self.expect.to_json(), "observed": self.observed,
                "passed": self.passed}


@dataclass
class Run:
    """What a scenario's ``run()`` fills in: observed values, evidence, notes."""

    observed: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)  # for the sequence diagram
    transitions: list[dict] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)  # role -> address, for diagrams
    control: bool = False  # True: the negative control's run (the kernel made to differ)

    def observe(self, key: str, value: Any) -> Any:
        self.observed[key] = value
        return value

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class Outcome:
    name: str
    number: int
    title: str
    claim: str
    checks: list[Check]
    run: Run
    duration_s: float
    error: str | None = None
    control: Control | None = None  # the negative control's result, when it ran

    @property
    def passed(self) -> bool:
        """The claim held: no error and every check passed."""
        return self.error is None and all(c.passed for c in self.checks)

    @property
    def ok(self) -> bool:
        """The claim held and, if its control ran, the control failed as it must."""
        return self.passed and (self.control is None or self.control.failed_as_expected)

    def failed_keys(self) -> list[str]:
        return [c.key for c in self.checks if not c.passed]

    def failures(self) -> list[str]:
        out = [c.message() for c in self.checks if not c.passed]
        return ([f"error: {self.error}"] if self.error else []) + out

    def verdict(self) -> str:
        """One line: what the claim and its control did."""
        head = "claim held" if self.passed else "claim FAILED"
        if self.control is None:
            return head
        return f"{head}; {self.control.verdict()}"

    def to_json(self) -> dict:
        return {
            "name": self.name, "number": self.number, "title": self.title, "claim": self.claim,
            "passed": self.passed, "error": self.error,
            "expected": {c.key: c.expect.to_json() for c in self.checks},
            "observed": {c.key: c.observed for c in self.checks},
            "checks": [c.to_json() for c in self.checks],
            "evidence": self.run.evidence, "notes": self.run.notes,
            "segments": self.run.segments, "transitions": self.run.transitions,
            "hosts": self.run.hosts, "duration_s": round(self.duration_s, 3),
            "control": (self.control.to_json() if self.control is not None
                        else {"ran": False, "failed_as_expected": None, "checks": []}),
        }


@dataclass
class Control:
    """A negative control: the scenario run again with the kernel made to behave
    otherwise (``Scenario.control``). Its claim checks must fail, at least those named
    in ``Scenario.control_catches``, and with no error: a control that fails only
    because the experiment broke proves nothing."""

    what: str
    catches: tuple[str, ...]
    outcome: Outcome

    @property
    def checks(self) -> list[str]:
        """The claim's checks that failed under the control (the ones that caught it)."""
        return self.outcome.failed_keys()

    @property
    def failed_as_expected(self) -> bool:
        failed = set(self.checks)
        return (self.outcome.error is None and bool(failed)
                and set(self.catches) <= failed)

    def verdict(self) -> str:
        if self.failed_as_expected:
            return "control failed as expected on: " + ", ".join(self.checks)
        if self.outcome.error is not None:
            return f"control broke ({self.outcome.error})"
        missed = [k for k in self.catches if k not in self.checks]
        if not self.checks:
            return "CONTROL PASSED: these checks cannot tell the claim from its control"
        return ("control failed, but not on " + ", ".join(missed)
                + " (failed on: " + ", ".join(self.checks) + ")")

    def to_json(self) -> dict:
        o = self.outcome
        return {"ran": True, "failed_as_expected": self.failed_as_expected,
                "checks": self.checks, "what": self.what, "expected_to_fail":
                list(self.catches), "error": o.error,
                "observed": {c.key: c.observed for c in o.checks},
                "evidence": o.run.evidence, "notes": o.run.notes,
                "segments": o.run.segments, "transitions": o.run.transitions,
                "hosts": o.run.hosts, "duration_s": round(o.duration_s, 3)}


class Scenario:
    """Subclasses set the class attributes and implement ``execute(run)``.

    ``control`` says what the negative control changes (a sysctl flipped, a fault
    removed or added, a socket option unset, a timer made longer); ``execute`` reads
    ``run.control`` and does exactly that. ``control_catches`` names the checks that
    must fail under it.
    """

    name: str = ""
    number: int = 0
    title: str = ""
    claim: str = ""
    control: str = ""
    control_catches: tuple[str, ...] = ()
    needs_root: bool = True
    drops_segments: bool = False  # nftables rules in a lab host (Stage.lose): needs nft
    shortened: tuple[str, ...] = ()  # timers shortened in the lab, said in the output
    expected: ClassVar[dict[str, Expect]] = {}

    def execute(self, run: Run) -> None:
        raise NotImplementedError

    def run_with_control(self, overrides: dict[str, Expect] | None = None) -> Outcome:
        """The claim, then its negative control (``add_control``)."""
        return self.add_control(self.run(overrides), overrides)

    def add_control(self, outcome: Outcome,
                    overrides: dict[str, Expect] | None = None) -> Outcome:
        """Run the negative control and hang its result on the claim's ``outcome``."""
        ctl = self.run(overrides, control=True)
        outcome.control = Control(self.control, self.control_catches, ctl)
        return outcome

    def run(self, overrides: dict[str, Expect] | None = None,
            control: bool = False) -> Outcome:
        expected = {**self.expected, **(overrides or {})}
        run = Run(control=control)
        if control:
            run.note(f"control: {self.control}")
        for text in self.shortened:
            run.note(f"shortened: {text}")
        started = time.monotonic()
        error = None
        try:
            self.execute(run)
        except Exception as exc:  # a broken experiment is a failed scenario, with why
            error = f"{type(exc).__name__}: {exc}"
        checks = [Check(key, exp, run.observed.get(key)) for key, exp in expected.items()]
        return Outcome(self.name, self.number, self.title, self.claim, checks, run,
                       time.monotonic() - started, error)
