"""Lab hosts: a namespace each, a veth pair between them, sysctls, code run inside.

``Lab()`` makes two hosts, ``client`` and ``server``, joined by a veth pair named
``eth0`` in each (made directly inside the namespaces, so no interface name ever
appears on the host), with 198.18.<k>.1/.2 (RFC 2544's benchmarking range) and
fd53:6c:<k>::1/::2. ``Lab.single()`` (or ``Lab(roles=("host",))``) makes one host with
loopback only. The plumbing (namespaces, the veth pair, addresses, link state) is
rtnetlink through pyroute2, imported when a lab is built (it costs ~200 ms to import,
which no other command should pay); programs run inside with ``ip netns exec``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from harness.kernel import tracefs
from harness.kernel.errors import KernelError
from harness.kernel.netns import NETNS_DIR, entered, list_netns
from harness.kernel.procfs import read_text
from harness.lab.names import claim_subnet, cleanup_stale, delete_netns, release_subnet
from harness.lab.nft import Nft

_counter = itertools.count()
SHORT = {"client": "cli", "server": "srv"}
ROLES = {short: role for role, short in SHORT.items()}
_open_labs: list[Lab] = []


@contextlib.contextmanager
def _rtnl(netns: str, what: str):
    """An rtnetlink socket opened inside ``netns`` by this thread (entered with setns,
    as every socket of the lab is: pyroute2's own IPRoute(netns=...) forks a helper
    process, which inherits our signal handlers); a refusal is one KernelError line
    naming ``what`` was being done."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with entered(netns):
            ipr = IPRoute()  # its socket stays bound to netns once the thread is back
        with ipr:
            yield ipr
    except NetlinkError as exc:
        raise KernelError(f"{what} in {netns}: {os.strerror(exc.code)}") from None


def _add_netns(name: str) -> None:
    """Make namespace ``name``, with SIGINT and SIGTERM held meanwhile: pyroute2 binds it
    to /run/netns from a helper process, and a signal that unwound the lab (removing its
    namespaces) before the helper was done left the namespace behind. Held, the signal
    is handled once the namespace exists, and the lab removes it."""
    from pyroute2 import netns

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        netns.create(name)
    except OSError as exc:
        raise KernelError(f"cannot make network namespace {name}: "
                          f"{os.strerror(exc.errno or 1)}") from None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _link_up(ipr, ifname: str) -> int:
    (index,) = ipr.link_lookup(ifname=ifname)
    ipr.link("set", index=index, state="up")
    return index


class HostThread(threading.Thread):
    """A thread that runs ``fn`` inside a namespace and keeps its result or exception."""

    def __init__(self, netns: str, fn: Callable, args, kwargs):
        super().__init__(daemon=True, name=f"lab-{netns}")
        self.netns, self.fn, self.args, self.kwargs = netns, fn, args, kwargs
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with entered(self.netns):
                self.result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # handed to whoever joins
            self.error = exc

    def wait(self, timeout: float | None = None) -> Any:
        """Join; return fn's result or raise its exception (TimeoutError if still running)."""
        self.join(timeout)
        if self.is_alive():
            raise TimeoutError(f"{self.fn.__name__} still running in {self.netns}")
        if self.error is not None:
            raise self.error
        return self.result


class Host:
    """One lab host: a network namespace with its own sysctls and nftables table."""

    def __init__(self, netns: str, role: str, addr: str | None = None,
                 addr6: str | None = None):
        self.netns, self.role, self.addr, self.addr6 = netns, role, addr, addr6
        self.ifname = "eth0" if addr else None
        self.nft = Nft(netns)

    def __repr__(self) -> str:
        return f"Host({self.role} {self.netns} {self.addr})"

    def start(self, fn: Callable, *args, **kwargs) -> HostThread:
        t = HostThread(self.netns, fn, args, kwargs)
        t.start()
        return t

    def run(self, fn: Callable, *args, timeout: float | None = None, **kwargs) -> Any:
        return self.start(fn, *args, **kwargs).wait(timeout)

    def exec(self, cmd: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd], capture_output=True,
                              text=True, check=check, **kwargs)

    @staticmethod
    def _path(key: str) -> str:
        if not key.startswith("net.") or ".." in key:
            raise ValueError(f"only net.* sysctls live in a namespace: {key!r}")
        return "/proc/sys/" + key.replace(".", "/")

    def set_sysctl(self, key: str, value) -> None:
        """Write a net.* sysctl inside this host (never the machine's)."""
        text = " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        try:
            with entered(self.netns), open(self._path(key), "w") as f:
                f.write(text)
        except FileNotFoundError:
            raise ValueError(f"no sysctl {key} in a network namespace") from None
        except OSError as exc:
            raise ValueError(f"cannot set {key}={text}: {exc.strerror}") from None

    def sysctl(self, key: str) -> str:
        with entered(self.netns):
            return read_text(self._path(key)).strip()


class Lab:
    """Hosts in namespaces of their own, removed on exit, exceptions and SIGTERM."""

    def __init__(self, roles: tuple[str, ...] = ("client", "server"), name: str | None = None,
                 sysctls: dict[str, dict] | None = None, hosts: tuple[str, ...] | None = None):
        """``roles`` (alias ``hosts``; "cli"/"srv" mean client/server): one or two hosts.
        ``sysctls``: ``{role: {"net.x.y": value}}`` set when the lab comes up."""
        if os.geteuid() != 0:
            raise KernelError("needs root to build lab hosts (network namespaces)")
        roles = tuple(ROLES.get(r, r) for r in (hosts or roles))
        if not 1 <= len(roles) <= 2 or len(set(roles)) != len(roles):
            raise ValueError("a lab has one or two hosts with different roles")
        n = next(_counter)
        self.name = name or f"{os.getpid()}-{n}"
        self.roles = roles
        self.k: int | None = None  # a /24 of 198.18.0.0/15, claimed in up()
        self._first_k = (os.getpid() * 7 + n) % 512
        self.sysctls = sysctls or {}
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []

    @classmethod
    def single(cls, role: str = "host", **kwargs) -> Lab:
        """One host, loopback only: ``with Lab.single() as lab: lab.host.run(...)``."""
        return cls(roles=(role,), **kwargs)

    def _addr(self, i: int) -> tuple[str, str]:
        return (f"198.{18 + self.k // 256}.{self.k % 256}.{i}",
                f"fd53:6c:{self.k:x}::{i}")

    def netns_name(self, role: str) -> str:
        return f"sl-{self.name}-{SHORT.get(role, role[:3])}"

    def up(self) -> Lab:
        cleanup_stale()
        tracefs.cleanup_stale()
        _open_labs.append(self)
        _guard_sigterm()
        try:
            if len(self.roles) == 2:
                self.k = claim_subnet(self.name, self._first_k)
            for role in self.roles:
                ns = self.netns_name(role)
                if ns in list_netns():  # someone else's: never ours to remove
                    raise KernelError(f"network namespace {ns} exists already")
                self._made.append(ns)
                _add_netns(ns)
                self.hosts[role] = Host(ns, role)
            # every namespace exists before pyroute2 works inside one: the helper it
            # forks for IPRoute(netns=...) does not see a namespace named after it started
            for host in self.hosts.values():
                with _rtnl(host.netns, "loopback up") as ipr:
                    _link_up(ipr, "lo")
            if len(self.roles) == 2:
                from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD

                a, b = (self.hosts[r] for r in self.roles)
                peer = os.open(os.path.join(NETNS_DIR, b.netns), os.O_RDONLY)
                try:
                    with _rtnl(a.netns, "the veth pair") as ipr:
                        ipr.link("add", ifname="eth0", kind="veth",
                                 peer={"ifname": "eth0", "net_ns_fd": peer})
                finally:
                    os.close(peer)
                for i, host in enumerate((a, b), 1):
                    host.addr, host.addr6 = self._addr(i)
                    host.ifname = "eth0"
                    with _rtnl(host.netns, f"addresses {host.addr}, {host.addr6}") as ipr:
                        (index,) = ipr.link_lookup(ifname="eth0")
                        ipr.addr("add", index=index, address=host.addr, prefixlen=24)
                        ipr.addr("add", index=index, address=host.addr6, prefixlen=64,
                                 flags=IFA_F_NODAD)
                        _link_up(ipr, "eth0")
            for role, values in self.sysctls.items():
                if role not in self.hosts:
                    raise ValueError(f"sysctls for {role!r}, a host this lab does not have")
                for key, value in values.items():
                    self.hosts[role].set_sysctl(key, value)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Remove every namespace of the lab (with its veth end and nft table)."""
        for host in self.hosts.values():
            host.nft.cancel_timers()
        for ns in self._made:  # also one whose set-up was interrupted
            delete_netns(ns)
        if self.k is not None:
            release_subnet(self.k, self.name)
            self.k = None
        self._made.clear()
        self.hosts.clear()
        with contextlib.suppress(ValueError):
            _open_labs.remove(self)
        _restore_sigterm()

    def keep(self) -> None:
        """Leave the namespaces for someone else to remove (`socklife lab down`): this
        object forgets them and no longer guards SIGTERM for them. Their subnet stays
        claimed while the namespaces exist."""
        self._made.clear()
        self.k = None
        with contextlib.suppress(ValueError):
            _open_labs.remove(self)
        _restore_sigterm()

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def __getattr__(self, role: str) -> Host:
        hosts = self.__dict__.get("hosts", {})
        if role in hosts:
            return hosts[role]
        raise AttributeError(role)



def _guard_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt while any lab is open (main thread only), so
    `finally` blocks run; a handler someone else installed is left alone."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


def _restore_sigterm() -> None:
    """Back to the default once the last lab is down, if the handler is still ours."""
    if (not _open_labs and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is _sigterm_to_interrupt):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt
