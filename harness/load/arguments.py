"""The ``--socklife-*`` arguments, the ``[HOST:]NAME=N`` rules of ``--socklife-max`` and
``--socklife-min``, the remotes of ``--socklife-remote`` and the severity of
``--socklife-fail-on``.

Arguments are added to Locust's parser itself (not a group) so the web UI shows them.
Rules are harness.observe.thresholds rules (the same names as `socklife check --max`).
``Settings.from_options`` reads them back from ``environment.parsed_options`` (absent
in an in-process Environment, where the defaults apply).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from harness.load.remote import RemoteSpec, parse_remote
from harness.observe.loop import MAX_INTERVAL_S, MIN_INTERVAL_S
from harness.observe.thresholds import Rule, parse_rule
from harness.values import FiniteFloat, for_argparse

INTERVAL = FiniteFloat(MIN_INTERVAL_S, MAX_INTERVAL_S)
BUDGET = FiniteFloat(0.1, 100)  # percent of one core


def _rule(text: str) -> str:
    # kept as text: the master ships its options to workers as msgpack
    try:
        return str(parse_rule(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _min_rule(text: str) -> str:
    try:
        return str(parse_rule(text, "min"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _remote(text: str) -> str:
    try:
        return str(parse_remote(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) < 65536:
        raise argparse.ArgumentTypeError(f"bad port {text!r} (1-65535, or 0 for all)")
    return int(text)


def add_arguments(parser) -> None:
    """Add the plugin's arguments to Locust's parser."""
    parser.add_argument("--socklife-interval", type=for_argparse(INTERVAL), default=1.0,
                        metavar="S",
                        help="socklife: seconds between samples of the kernel's TCP sockets.")
    parser.add_argument("--socklife-netns", default=None, metavar="NS",
                        help="socklife: sample this namespace: a name under /run/netns, "
                             "a path (/proc/PID/ns/net) or pid:N (default: the "
                             "process's own).")
    parser.add_argument("--socklife-port", type=_port, action="append", default=None,
                        metavar="P",
                        help="socklife: only sockets with local or remote port P "
                             "(repeatable; default: the port of --host; 0: every socket, "
                             "cheaper at high rates: see docs/performance.md).")
    parser.add_argument("--socklife-max", type=_rule, action="append", default=None,
                        metavar="[HOST:]NAME=N", include_in_web_ui=False,
                        help="socklife: exit 3 when NAME exceeds N over the run; NAME is a "
                             "TCP state (its peak), leaks, listen_overflows, eaddrnotavail, "
                             "ephemeral_fraction, accept_queue_fill or time_wait_peak; "
                             "HOST: on that host only (a --socklife-remote NAME, a worker's "
                             "host, or total), else on every host and the total "
                             "(repeatable).")
    parser.add_argument("--socklife-min", type=_min_rule, action="append", default=None,
                        metavar="[HOST:]NAME=N", include_in_web_ui=False,
                        help="socklife: exit 3 when NAME stays below N (as --socklife-max).")
    parser.add_argument("--socklife-remote", type=_remote, action="append", default=None,
                        metavar="NAME=URL", include_in_web_ui=False,
                        help="socklife: also poll the `socklife exporter` at URL (its "
                             "/api/v1/samples) every interval, as host NAME (repeatable).")
    parser.add_argument("--socklife-remote-token-file", default=None, metavar="FILE",
                        include_in_web_ui=False,
                        help="socklife: send the bearer token in FILE to every remote.")
    parser.add_argument("--socklife-remote-ca-file", default=None, metavar="FILE",
                        include_in_web_ui=False,
                        help="socklife: trust the CA certificates in FILE for https "
                             "remotes (default: the system's).")
    parser.add_argument("--socklife-cpu-budget", type=for_argparse(BUDGET), default=2.0,
                        metavar="PERCENT",
                        help="socklife: share of one core the sampler may spend on what "
                             "may be older than one sample (TIME_WAIT details, owners, "
                             "sysctls); the counts stay exact every sample.")
    parser.add_argument("--socklife-fail-on", choices=("warning", "critical"), default=None,
                        metavar="SEVERITY", include_in_web_ui=False,
                        help="socklife: exit 3 when a finding (docs/findings.md) is this "
                             "severe or worse: warning or critical.")
    parser.add_argument("--socklife-record", default=None, metavar="FILE",
                        help="socklife: also write every sample as JSONL to FILE (its "
                             "summary line carries the findings).")


@dataclass(frozen=True)
class Settings:
    interval: float = 1.0
    cpu_budget: float = 2.0  # percent of one core
    netns: str | None = None
    ports: tuple[int, ...] = ()  # (0,): every port, asked for explicitly

    @property
    def sample_ports(self) -> tuple[int, ...]:
        """The ports the sampler filters on (none for ``--socklife-port 0``)."""
        return () if 0 in self.ports else self.ports
    rules: tuple[Rule, ...] = ()
    record: str | None = None
    csv_prefix: str | None = None
    fail_on: str | None = None
    remotes: tuple[RemoteSpec, ...] = ()
    token_file: str | None = None
    ca_file: str | None = None

    @classmethod
    def from_options(cls, options) -> Settings:
        """Settings from Locust's parsed options (or defaults when there are none)."""
        if options is None:
            return cls()
        rules = (*(parse_rule(r) for r in getattr(options, "socklife_max", None) or ()),
                 *(parse_rule(r, "min") for r in getattr(options, "socklife_min", None) or ()))
        remotes = tuple(parse_remote(r) for r in getattr(options, "socklife_remote", None)
                        or ())
        return cls(
            interval=float(getattr(options, "socklife_interval", None) or 1.0),
            cpu_budget=float(getattr(options, "socklife_cpu_budget", None) or 2.0),
            netns=getattr(options, "socklife_netns", None) or None,
            ports=tuple(getattr(options, "socklife_port", None) or ()),
            rules=rules,
            record=getattr(options, "socklife_record", None) or None,
            csv_prefix=getattr(options, "csv_prefix", None) or None,
            fail_on=getattr(options, "socklife_fail_on", None) or None,
            remotes=remotes,
            token_file=getattr(options, "socklife_remote_token_file", None) or None,
            ca_file=getattr(options, "socklife_remote_ca_file", None) or None,
        )


def port_of_host(host: str | None) -> int | None:
    """The port in ``tcp://h:p`` / ``http://h:p`` (None when there is none)."""
    if not host:
        return None
    rest = host.split("://", 1)[-1].split("/", 1)[0]
    _h, sep, port = rest.rpartition(":")
    if sep and port.isdigit():
        return int(port)
    if host.startswith("http://"):
        return 80
    if host.startswith("https://"):
        return 443
    return None
