"""One reading of a namespace's TCP sockets: a records.Sample taken once.

A snapshot is the first sample of a Sampler, so it has exactly the shape and the
figures of a `socklife record` line (the same TIME_WAIT expiry, the same forecasts);
every listener's and CLOSE_WAIT socket's owner is looked up, and there is no rate
(nothing to compare with) and no cost section.
"""

from __future__ import annotations

from harness.observe.sampler import Sampler


def take(netns: str | None = None, ports=(), reader=None, cgroup_ids=()) -> dict:
    """A records.Sample of ``netns`` (None: this namespace), ``ports`` (and
    ``cgroup_ids``) filtered in the kernel; ``reader`` replaces the kernel (tests)."""
    with Sampler(netns, ports, reader=reader, owner_after_s=0, meter=False,
                 fold=False, cgroup_ids=cgroup_ids) as sampler:
        return sampler.sample()
