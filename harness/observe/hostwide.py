"""Every network namespace of the host, sampled together (``--all-netns``).

``HostSampler.sample()`` finds the namespaces (kernel.namespaces: /run/netns,
/run/docker/netns and /proc/*/ns/net, deduplicated by inode) and returns one
records.Sample per namespace, each from a Sampler of its own kept from one interval
to the next (rates, leak ages and CPU budgets carry on), with ``netns`` (the handle it
was entered by; null for the sampler's own), ``netns_inode``, ``processes`` (who lives
there) and ``host`` (the label its findings carry). The /proc walk that finds the
namespaces also gives each namespace's processes, so the owner lookups of a namespace
read those first without a readlink per process (kernel.owners' ``pids_first``): one
walk for every namespace.

A namespace that is gone (a container stopped), or that cannot be read any more
between finding it and reading it, is dropped from the sample with a line in
``notes`` (the caller prints them): never an error. One that appears is added.

The kernel's established hash is shared by every namespace, so each namespace's dump
walks every socket of the host: the cost grows with namespaces x sockets. What keeps
it down is in docs/performance.md ("Every namespace of the host").
"""

from __future__ import annotations

import time

from harness.kernel.errors import KernelError, NamespaceError
from harness.kernel.namespaces import FoundNetns, attribution, discover
from harness.observe.leaks import DEFAULT_THRESHOLD_S
from harness.observe.sampler import DEFAULT_CPU_BUDGET, OWNER_AFTER_S, Sampler

PROCESSES_KEPT = 1000  # per namespace in a sample (all are counted: process_count)


def label(ns: FoundNetns) -> str:
    """How people and findings name a namespace: ``netns NAME``, the namespace file's
    path, or the caller's own."""
    if ns.handle is None:
        return "this namespace" if ns.name is None else f"netns {ns.name} (this one)"
    return f"netns {ns.name}" if ns.name else f"netns {ns.handle}"


def process_rows(ns: FoundNetns) -> list[dict]:
    """records.NetnsProcess rows: pid, name, and container or unit when the cgroup
    path shows one."""
    return [{"pid": p.pid, "name": p.name, **attribution(p.cgroup)}
            for p in ns.processes[:PROCESSES_KEPT]]


def shared_hash_note(samples: list[dict]) -> str | None:
    """A line for hosts where several namespaces walk the host's established hash (their
    ``tcp_ehash_entries`` is negative), or None::

        >>> shared_hash_note([{"sysctls": {"tcp_ehash_entries": 262144}},
        ...                   {"sysctls": {"tcp_ehash_entries": -262144}}]) is None
        True
    """
    shared = [s for s in samples if s["sysctls"].get("tcp_ehash_entries", 0) < 0]
    if len(shared) < 2:
        return None
    return (f"{len(shared)} of {len(samples)} namespaces share the host's established hash "
            f"({-shared[0]['sysctls']['tcp_ehash_entries']} buckets): each of their "
            "dumps walks every TCP socket of the host. net.ipv4.tcp_child_ehash_entries, "
            "set on the host before namespaces are made, gives each new one a hash of "
            "its own (docs/performance.md).")


class HostSampler:
    """``sample()``: a list of records.Sample, one per namespace, the own one first."""

    def __init__(self, ports=(), interval: float = 1.0,
                 leak_threshold_s: float = DEFAULT_THRESHOLD_S, *,
                 cpu_budget: float = DEFAULT_CPU_BUDGET, fold: bool = True,
                 owner_after_s: float = OWNER_AFTER_S, meter: bool = True,
                 find=discover, clock=time.time, cgroup_ids=()):
        self.ports = tuple(ports)
        self.interval = interval
        self.options = {"leak_threshold_s": leak_threshold_s, "owner_after_s": owner_after_s,
                        "meter": meter, "fold": fold, "clock": clock, "reuse_quiet": True,
                        "cgroup_ids": tuple(cgroup_ids)}
        self.cpu_budget = cpu_budget
        self.find = find
        self.samplers: dict[int, Sampler] = {}
        self.gone_runs: list = []  # the RunSummary of each namespace dropped
        self.labels: dict[int, str] = {}
        self.notes: list[str] = []  # lines for the user; the caller prints and clears them
        self._procs: dict = {}  # the /proc walk's cache of processes (kernel.namespaces)
        self.found: list[FoundNetns] = []
        self.last: list[dict] = []  # the latest samples

    def close(self) -> None:
        """Close every namespace's reader (their runs stay, for summary())."""
        for sampler in self.samplers.values():
            sampler.close()

    def __enter__(self) -> HostSampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _drop(self, inode: int, why: str) -> None:
        sampler = self.samplers.pop(inode, None)
        if sampler is not None:
            sampler.close()
            if sampler.run is not None:
                self.gone_runs.append(sampler.run)
            self.notes.append(f"{self.labels.get(inode, inode)} {why}: dropped")

    def _sampler(self, ns: FoundNetns, count: int) -> Sampler:
        sampler = self.samplers.get(ns.inode)
        if sampler is not None and sampler.netns != ns.handle:
            # entered by /proc/PID/ns/net of a process that exited: the namespace lives
            # on in others (its sock_diag socket stays bound to it), entered by theirs
            sampler.netns = sampler.reader.netns = ns.handle
        if sampler is None:
            sampler = Sampler(ns.handle, self.ports, self.interval,
                              cpu_budget=self.cpu_budget / max(1, count), **self.options)
            if sampler.run is not None:
                sampler.run.host = label(ns)
            self.samplers[ns.inode] = sampler
            self.labels[ns.inode] = label(ns)
        return sampler

    def sample(self, missed: int = 0, final: bool = False) -> list[dict]:
        found = self.find(self._procs)
        here = {ns.inode for ns in found}
        for inode in [i for i in self.samplers if i not in here]:
            self._drop(inode, "is gone")
        out, kept = [], []
        for ns in found:
            try:
                sampler = self._sampler(ns, len(found))
                sampler.reader.pids = [p.pid for p in ns.processes]
                s = sampler.sample(missed, final=final)
            except KernelError as exc:  # gone between the walk and the read
                why = "is gone" if isinstance(exc, NamespaceError) else f"cannot be read ({exc})"
                if ns.inode in self.samplers:
                    self._drop(ns.inode, why)
                else:
                    self.notes.append(f"{label(ns)} {why}: skipped")
                continue
            s["processes"] = process_rows(ns)
            s["process_count"] = len(ns.processes)
            s["host"] = self.labels[ns.inode]
            out.append(s)
            kept.append(ns)
        self.found = kept
        self.last = out
        return out

    def runs(self) -> list:
        """Each namespace's RunSummary (folding samplers), for the run's findings."""
        return self.gone_runs + [s.run for s in self.samplers.values() if s.run is not None]

    def summary(self, eaddrnotavail: int = 0) -> dict:
        """The records.Summary over every namespace sampled (findings per namespace)."""
        from harness.observe.summary import combine

        return combine(self.runs()).summary(eaddrnotavail)
