"""One rule set: what went wrong during a run, on what, how bad, and what to change.

Each rule is a pure function of a run's Evidence (harness.observe.evidence: one host's
samples folded as they came) and gives records.Finding dicts: ``id``, ``severity``,
``subject``, ``summary`` (one sentence with the numbers), ``evidence`` (the figures,
``first_seen``/``last_seen``/``samples``) and ``fix``. ``findings(evidence)`` runs the
run rules; ``settings=True`` adds the standing facts of the namespace's settings
(`socklife doctor`). The catalogue, thresholds and their reasons are in
docs/findings.md; where the kernel has a limit the threshold is that limit (a queue of
backlog + 1, the usable ports, tcp_max_tw_buckets) or half of it for a warning (twice
the load reaches it).

Severities: critical (hurting the run now), warning (will hurt with more load), info
(how things stand). Lists are sorted critical first::

    >>> from harness.observe.evidence import Evidence
    >>> ev = Evidence()
    >>> for t, q in ((0.0, 2), (1.0, 6), (2.0, 6)):
    ...     ev.add({"time": t, "listeners": [{"local": "127.0.0.1:80", "accept_queue": q,
    ...             "backlog": 5, "pid": 42, "process": "srv"}],
    ...             "counters": {"ListenOverflows": 10 * int(t)}})
    >>> [(f["id"], f["severity"], f["subject"]) for f in findings(ev)]
    [('accept_queue_overflow', 'critical', '127.0.0.1:80')]
"""

from __future__ import annotations

from harness.kernel.endpoints import endpoint
from harness.observe.evidence import (
    CHURN_MIN_PER_S,
    HALF,
    RISING,
    Evidence,
    Span,
    rises,
    serves,
    syn_give_up_s,
    syn_wait_s,
)
from harness.observe.figures import listener_fill
from harness.observe.tw_reuse import TIME_WAIT_S, reuse_applies
from harness.schema.catalogue import FINDING_IDS as CATALOGUE
from harness.schema.catalogue import SEVERITIES

RISING_NAMES = {"data_retransmits": "data retransmissions", "timeouts": "RTO timeouts",
                "EstabResets": "resets of established connections (EstabResets)",
                "OutRsts": "resets sent (OutRsts)"}


def finding(ident: str, severity: str, subject: str, summary: str, evidence: dict,
            fix: str) -> dict:
    """One records.Finding."""
    assert ident in CATALOGUE and severity in SEVERITIES
    return {"id": ident, "severity": severity, "subject": subject, "summary": summary,
            "evidence": evidence, "fix": fix}


def ordered(items) -> list[dict]:
    """Critical first, then warning, info; within one, catalogue order, then subject."""
    return sorted(items, key=lambda f: (SEVERITIES.index(f["severity"]),
                                        CATALOGUE.index(f["id"]), f["subject"]))


def at_least(items, severity: str) -> list[dict]:
    """The findings of ``severity`` or worse."""
    rank = SEVERITIES.index(severity)
    return [f for f in items if SEVERITIES.index(f["severity"]) <= rank]


# --- wording ----------------------------------------------------------------------------

def _n(count: int, word: str) -> str:
    """``1 socket``, ``2 sockets``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def _owner(pid, process) -> str:
    return f"{process or '?'}/{pid}" if pid is not None else ""


def _cgroup(path: str | None) -> str | None:
    """A cgroup worth naming: not the root one ("/"), where everything is by default."""
    return path if path and path != "/" else None


def _with_owner(subject: str, pid, process, cgroup: str | None = None) -> str:
    """``subject (process/pid, cgroup PATH)``: who holds it, where the dump said."""
    cgroup = _cgroup(cgroup)
    said = [w for w in (_owner(pid, process), cgroup and f"cgroup {cgroup}") if w]
    return f"{subject} ({', '.join(said)})" if said else subject


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _when(ev: Evidence, span: Span) -> str:
    """``(in 12 of 40 samples, 2.0-14.5 s into the run)``."""
    if span.first is None or ev.started is None:
        return f"(in {span.samples} of {ev.samples} samples)"
    a, b = span.first - ev.started, span.last - ev.started
    into = f"{a:.1f} s into the run" if a == b else f"{a:.1f}-{b:.1f} s into the run"
    return f"(in {span.samples} of {ev.samples} samples, {into})"


def _union(spans) -> Span:
    out = Span()
    for s in spans:
        if s.samples:
            out.samples = max(out.samples, s.samples)
            for t in (s.first, s.last):
                if t is not None:
                    out.first = t if out.first is None else min(out.first, t)
                    out.last = t if out.last is None else max(out.last, t)
    return out


def _grew(ev: Evidence, *names: str) -> Span:
    return _union(ev.grew.get(n, Span()) for n in names)


def _ns(ev: Evidence) -> str:
    """The namespace in a sentence."""
    return f"netns {ev.netns}" if ev.netns else "the sampled namespace"


def _single_subject(ev: Evidence) -> str:
    """The one listener or destination of the run, else the namespace: counters are per
    namespace and name no socket."""
    addresses = set(ev.listeners) | set(ev.destinations)
    return addresses.pop() if len(addresses) == 1 else ev.namespace()


# --- the run rules ------------------------------------------------------------------------

def accept_queue_overflow(ev: Evidence) -> list[dict]:
    """A listener at backlog + 1 (its accept queue full: the kernel drops new SYNs and
    final ACKs), or ListenOverflows grown during the run: critical. A queue seen half
    full: warning."""
    overflows, drops = ev.growth("ListenOverflows"), ev.growth("ListenDrops")
    somax = ev.sysctls.get("somaxconn")
    full = _overflowing(ev)
    out = []
    for lst in full:
        span = lst.full if lst is not None and lst.full.samples else _grew(ev, "ListenOverflows")
        out.append(_overflow(ev, lst, span, overflows, drops, somax))
    named = {lst.local for lst in full if lst is not None}
    for lst in ev.listeners.values():
        if lst.local not in named and lst.half.samples:
            out.append(_half_full(ev, lst, somax))
    return out


def _overflowing(ev: Evidence) -> list:
    """The listeners that overflowed: those seen full; else, when ListenOverflows grew,
    the fullest one if it was seen half full (it filled and drained between samples),
    or None: no listener sampled here shows it (a counter of the whole namespace)."""
    full = [lst for lst in ev.listeners.values() if lst.full.samples]
    if full or not ev.growth("ListenOverflows"):
        return full
    near = [lst for lst in ev.listeners.values() if lst.fill_max >= HALF]
    return [max(near, key=lambda lst: lst.fill_max)] if near else [None]


def _clients_waiting(ev: Evidence, local: str) -> tuple[int, int]:
    """(most clients in SYN_SENT, most SYN retransmissions) towards ``local`` seen here."""
    waiting = [d for d in ev.destinations.values() if serves(local, d.remote) and d.syn_sent_max]
    return (max((d.syn_sent_max for d in waiting), default=0),
            max((d.syn_retrans_max for d in waiting), default=0))


def _linear(ev: Evidence) -> int:
    return ev.sysctls.get("tcp_syn_linear_timeouts", 0)  # absent before Linux 6.7


def _syn_waits(ev: Evidence) -> str:
    """``1 s, 3 s, 7 s ... in all`` (or ``1 s, 2 s, 3 s ...`` with linear timeouts)."""
    waits = ", ".join(f"{syn_wait_s(n, _linear(ev)):.0f} s" for n in (1, 2, 3))
    linear = _linear(ev)
    why = (f" (tcp_syn_linear_timeouts={linear}: 1 s apart, then doubling)" if linear
           else " (doubling)")
    return f"{waits} ... in all{why}"


def _backlog_fix(backlog: int | None, somax) -> str:
    if backlog is None:
        return ("raise the listen() backlog of the listener that fell behind (socklife "
                "watch shows the queues)")
    if somax and backlog >= somax:
        return (f"raise the listen() backlog and net.core.somaxconn, which caps it at "
                f"{somax} (sysctl -w net.core.somaxconn=4096; per namespace)")
    cap = f" (up to net.core.somaxconn={somax})" if somax else ""
    return (f"raise the listen() backlog from {backlog}{cap}; Python's socketserver and "
            "http.server take it from request_queue_size (5 by default)")


def _overflow(ev, lst, span, overflows, drops, somax) -> dict:
    subject = lst.local if lst is not None else ev.namespace()
    evidence = {**span.fields(), "counters": {"ListenOverflows": overflows,
                                              "ListenDrops": drops}}
    severity = "critical"
    if lst is None:
        where = ("outside the sampled ports" if ev.ports else
                 "no listener was seen even half full: one filled between samples")
        what = (f"Connections were dropped at a full accept queue in {_ns(ev)}, {where}")
        backlog = None
        severity = "info" if ev.ports else "critical"  # not the run's listeners
    else:
        backlog = lst.backlog
        evidence.update(backlog=backlog, accept_queue_max=lst.queue_max,
                        fill_max=round(lst.fill_max, 4), pid=lst.pid, process=lst.process)
        if somax:
            evidence.update(somaxconn=somax, clamped=backlog >= somax)
        where = _with_owner(f"The accept queue of {lst.local}", lst.pid, lst.process,
                            lst.cgroup)
        if lst.full.samples:
            what = (f"{where} was full, {lst.queue_max} connections = backlog {backlog} + 1 "
                    f"{_when(ev, lst.full)}")
        else:
            what = (f"{where} reached {lst.queue_max} of {backlog + 1} and overflowed "
                    "between samples")
    grown = (f"; ListenOverflows grew by {overflows} in {_secs(ev.duration_s)} (a counter of "
             "the whole namespace)" if overflows else "; no SYN arrived while it was full "
             "yet (ListenOverflows did not grow)")
    waiting, retrans = _clients_waiting(ev, subject) if lst is not None else (0, 0)
    cost = f"each dropped SYN makes its client wait for the retransmission: {_syn_waits(ev)}"
    if retrans:
        wait = syn_wait_s(retrans, _linear(ev))
        evidence.update(syn_sent=waiting, syn_retrans_max=retrans, wait_s=wait)
        cost += (f"; {_n(waiting, 'client')} here waited in SYN_SENT, up to "
                 f"{_n(retrans, 'retransmission')} ({_secs(wait)})")
    fix = (f"Accept faster (more worker processes or threads, accept() in a loop until "
           f"EAGAIN) and {_backlog_fix(backlog, somax)}; net.ipv4.tcp_abort_on_overflow=1 "
           "would refuse at once with a reset instead of the wait.")
    return finding("accept_queue_overflow", severity, subject,
                   f"{what}{grown}: {cost}.", evidence, fix)


def _half_full(ev, lst, somax) -> dict:
    evidence = {**lst.half.fields(), "backlog": lst.backlog, "accept_queue_max": lst.queue_max,
                "fill_max": round(lst.fill_max, 4), "pid": lst.pid, "process": lst.process}
    if somax:
        evidence.update(somaxconn=somax, clamped=lst.backlog >= somax)
    where = _with_owner(f"The accept queue of {lst.local}", lst.pid, lst.process,
                        lst.cgroup)
    return finding(
        "accept_queue_overflow", "warning", lst.local,
        f"{where} reached {lst.queue_max} of {lst.backlog + 1} ({lst.fill_max:.0%}) "
        f"{_when(ev, lst.half)}: a burst twice as large fills it and the kernel drops SYNs.",
        evidence, f"Accept faster or {_backlog_fix(lst.backlog, somax)}.")


def syn_queue_overflow(ev: Evidence) -> list[dict]:
    """TCPReqQFullDrop (SYNs dropped at a full SYN queue): critical; SYN cookies sent
    instead (TCPReqQFullDoCookies, SyncookiesSent): warning."""
    names = ("TCPReqQFullDrop", "TCPReqQFullDoCookies", "SyncookiesSent")
    grown = {n: ev.growth(n) for n in names}
    if not any(grown.values()):
        return []
    busiest = max(ev.listeners.values(), key=lambda lst: lst.syn_recv_max, default=None)
    outside = busiest is None or not busiest.syn_recv_max
    if outside and (ev.ports or len(ev.listeners) > 1):
        busiest = None  # the counters are the namespace's: no listener here shows it
    subject = busiest.local if busiest is not None else ev.namespace()
    cookies = ev.sysctls.get("tcp_syncookies")
    evidence = {**_grew(ev, *names).fields(), "counters": grown}
    for key in ("tcp_max_syn_backlog", "tcp_syncookies", "somaxconn"):
        if key in ev.sysctls:
            evidence[key] = ev.sysctls[key]
    half_done = ""
    if busiest is not None:
        evidence.update(syn_recv_max=busiest.syn_recv_max, backlog=busiest.backlog,
                        pid=busiest.pid, process=busiest.process)
        half_done = (f"; up to {_n(busiest.syn_recv_max, 'handshake')} half done (SYN_RECV) "
                     f"on {busiest.local}, whose SYN queue holds backlog {busiest.backlog} + 1")
    if busiest is None and ev.ports:
        severity = "info"  # outside the sampled ports: not the run's listeners
        what = (f"the SYN queue of a listener outside the sampled ports overflowed "
                f"(TCPReqQFullDrop +{grown['TCPReqQFullDrop']}, SyncookiesSent "
                f"+{grown['SyncookiesSent']} in {_ns(ev)})")
    elif grown["TCPReqQFullDrop"]:
        severity = "critical"
        what = (f"{_n(grown['TCPReqQFullDrop'], 'SYN')} were dropped at a full SYN queue "
                f"(TCPReqQFullDrop): those clients wait for the retransmission, "
                f"{_syn_waits(ev)}")
    else:
        severity = "warning"
        cookied = max(grown["SyncookiesSent"], grown["TCPReqQFullDoCookies"])
        what = (f"the SYN queue overflowed and {_n(cookied, 'SYN')} were answered with SYN cookies "
                "(SyncookiesSent): connections work, but without the TCP options the cookie "
                "cannot hold unless timestamps are on")
    fix = ("Raise the listen() backlog (the SYN queue holds backlog + 1 request sockets, "
           "capped by net.core.somaxconn) and net.ipv4.tcp_max_syn_backlog")
    if grown["TCPReqQFullDrop"] and cookies == 0:
        fix += "; turn SYN cookies on (net.ipv4.tcp_syncookies=1) so a full queue still answers"
    fix += ("; if clients never finish their handshakes (SYN_RECV retransmitting SYN+ACKs), "
            "look for a firewall dropping their ACKs, or a SYN flood to filter upstream.")
    return [finding("syn_queue_overflow", severity, subject,
                    f"{what[0].upper()}{what[1:]}{half_done}.", evidence, fix)]


def close_wait_accumulation(ev: Evidence) -> list[dict]:
    """CLOSE_WAIT sockets held (at least HELD_S old) in two samples or more, on one
    listener or towards one destination: warning, even when younger than the leak
    threshold; past it (a leak): critical. The subject is the process holding most of
    them (name/pid), or their address while no owner is known."""
    out = []
    for cw in ev.close_wait.values():
        if cw.held.samples < 2:
            continue
        pid, process = cw.owner()
        subject = f"{process or '?'}/{pid}" if pid else cw.where
        cgroup = _cgroup(cw.cgroups.get((pid, process)))
        end = cw.sockets_now if cw.now_at == ev.ended else 0
        evidence = {**cw.held.fields(), "pid": pid, "process": process,
                    "sockets": cw.sockets_max, "sockets_end": end,
                    "oldest_s": round(cw.oldest_s, 3), "leaks": cw.leaks_max,
                    "fds": sorted(cw.fds), "peers": sorted(cw.peers)}
        if cgroup:
            evidence["cgroup"] = cgroup
        if ev.threshold_s is not None:
            evidence["threshold_s"] = ev.threshold_s
        leak = (f", {cw.leaks_max} past the {ev.threshold_s:g} s leak threshold"
                if cw.leaks_max and ev.threshold_s is not None else "")
        fds = f" (fds {', '.join(map(str, sorted(cw.fds)[:4]))})" if cw.fds else ""
        on = f" on {cw.where}" if pid else ""
        others = f" and {len(cw.owners) - 1} more processes" if len(cw.owners) > 1 else ""
        peers = sorted(cw.peers)
        in_cgroup = f" (cgroup {cgroup})" if cgroup else ""
        summary = (f"{subject}{in_cgroup}{others} held up to {_n(cw.sockets_max, 'socket')} in "
                   f"CLOSE_WAIT{on}{fds} {_when(ev, cw.held)}: their peers ({peers[0]}"
                   f"{' and others' if len(peers) > 1 else ''}) closed and it has not; "
                   f"{end} still there at the end, the oldest {_secs(cw.oldest_s)}{leak}.")
        check = f"ls -l /proc/{pid}/fd, " if pid else ""
        fix = ("Close the socket when recv() returns b'' (the peer's FIN), on error paths "
               f"and timeouts too (a with block or try/finally); see them with {check}"
               "ss -tanp state close-wait.")
        out.append(finding("close_wait_accumulation",
                           "critical" if cw.leaks_max else "warning", subject, summary,
                           evidence, fix))
    return out


def ephemeral_exhaustion(ev: Evidence, eaddrnotavail: int = 0) -> list[dict]:
    """A destination's ports ran out (every usable port held, where tcp_tw_reuse does not
    let connect() take TIME_WAIT ones) or connect() failed with EADDRNOTAVAIL: critical;
    half of them held or a forecast of exhaustion: warning."""
    dests = list(ev.destinations.values())
    usable = (ev.last.get("ephemeral") or {}).get("usable", 0)
    busiest = max(dests, key=lambda d: d.blocking_max / (d.usable or 1), default=None)
    reuse = ev.sysctls.get("tcp_tw_reuse", 2)
    lo, hi = ev.sysctls.get("ip_local_port_range", [32768, 60999])
    out = []
    if eaddrnotavail and busiest is None:
        out.append(finding(
            "ephemeral_exhaustion", "critical", ev.namespace(),
            f"connect() failed {_n(eaddrnotavail, 'time')} with EADDRNOTAVAIL: no local port "
            "was free for the destination.",
            {"first_seen": None, "last_seen": None, "samples": 0,
             "eaddrnotavail": eaddrnotavail}, _ports_fix(False, reuse, lo, hi)))
    for d in dests:
        failed = eaddrnotavail if d is busiest else 0
        if not (d.ran_out.samples or failed or d.pressure.samples):
            continue
        evidence = {**(d.ran_out if d.ran_out.samples else d.pressure).fields(),
                    "usable": d.usable or usable, "range": [lo, hi],
                    "in_use_max": d.in_use_max, "blocking_max": d.blocking_max,
                    "exhausted_in_s": d.eta_min, "tcp_tw_reuse": reuse,
                    "reuse_applies": d.reuse}
        if failed:
            evidence["eaddrnotavail"] = failed
        share = f"{d.blocking_max / (d.usable or 1):.0%}"
        tw = ("" if d.reuse else f", TIME_WAIT ones included (tcp_tw_reuse={reuse} does not "
                                 "reuse them towards it)")
        if d.ran_out.samples or failed:
            what = (f"Connections to {d.remote} ran out of local ports: {d.blocking_max} "
                    f"({share}) of its {d.usable} usable ports ({lo}-{hi}) were held{tw}")
            what += f" {_when(ev, d.ran_out)}" if d.ran_out.samples else ""
            what += (f"; connect() failed {_n(failed, 'time')} with EADDRNOTAVAIL" if failed
                     else "; connect() fails with EADDRNOTAVAIL until one frees")
            severity = "critical"
        else:
            what = (f"Connections to {d.remote} held up to {d.blocking_max} ({share}) of its "
                    f"{d.usable} usable ports ({lo}-{hi}){tw} {_when(ev, d.pressure)}")
            if d.eta_min is not None:
                what += f"; the forecast said they run out in ~{d.eta_min:.0f} s at that rate"
            else:
                what += ": twice the load runs out"
            severity = "warning"
        out.append(finding("ephemeral_exhaustion", severity, d.remote, what + ".", evidence,
                           _ports_fix(d.reuse, reuse, lo, hi)))
    return out


def _ports_fix(reuse_applies_now: bool, reuse: int, lo: int, hi: int) -> str:
    fix = "Reuse connections (HTTP keep-alive, a connection pool) instead of one per request"
    if not reuse_applies_now and reuse != 1:
        fix += ("; net.ipv4.tcp_tw_reuse=1 lets connect() take the ports of TIME_WAIT "
                "sockets older than 1 s (2, the default, does it towards loopback only)")
    return (fix + f"; widen net.ipv4.ip_local_port_range (now {lo} {hi}; e.g. 1024 65000, "
            "your servers' ports kept out with ip_local_reserved_ports); or spread the load "
            "over more destination addresses or ports (each has the whole range).")


def server_time_wait(ev: Evidence) -> list[dict]:
    """A listener's port holding TIME_WAIT: the server closes its connections first, at
    CHURN_MIN_PER_S or more: info (the cap it runs into is time_wait_bucket_overflow's)."""
    cap = ev.sysctls.get("tcp_max_tw_buckets")
    out = []
    capped = ev.growth("TCPTimeWaitOverflow") > 0
    for lst in ev.listeners.values():
        # TIME_WAIT counts the closes, unless the cap was hit: then the closes that found
        # no bucket show only in the accepts (PassiveOpens, given to the one listener
        # whose port holds TIME_WAIT)
        rate = max(lst.tw_rate, lst.accepts_max if capped else 0.0)
        if rate < CHURN_MIN_PER_S:
            continue
        share = f", {lst.time_wait_max / cap:.0%} of tcp_max_tw_buckets={cap}" if cap else ""
        evidence = {**lst.tw.fields(), "time_wait": lst.time_wait_max,
                    "connections_per_s": round(rate, 2), "pid": lst.pid,
                    "process": lst.process}
        if cap:
            evidence["tcp_max_tw_buckets"] = cap
        where = _with_owner(lst.local, lst.pid, lst.process, lst.cgroup)
        out.append(finding(
            "server_time_wait", "info", lst.local,
            f"{where} closes its connections first: up to {lst.time_wait_max:,} TIME_WAIT "
            f"sockets sat on its port (about {rate:.0f} closes/s, each kept 60 s)"
            f"{share}; each holds a kernel timewait socket, counts against the cap and "
            "lengthens the hash walks.",
            evidence,
            "Let the client close first (HTTP/1.1 keep-alive; after `Connection: close` the "
            "server can wait for the client's FIN before it closes) or keep connections "
            "open; set SO_REUSEADDR on the listener so it restarts over these sockets."))
    return out


def time_wait_bucket_overflow(ev: Evidence) -> list[dict]:
    """TCPTimeWaitOverflow grew (tcp_max_tw_buckets reached: closing connections skip
    TIME_WAIT): critical; TIME_WAIT at half the cap: warning."""
    overflow = ev.growth("TCPTimeWaitOverflow")
    cap = ev.sysctls.get("tcp_max_tw_buckets")
    if not overflow and not (cap and ev.time_wait_max >= HALF * cap):
        return []
    holders = [(lst.time_wait_max, lst.local) for lst in ev.listeners.values()]
    holders += [(d.time_wait_max, d.remote) for d in ev.destinations.values()]
    top = max(holders, default=(0, ""))
    subject = top[1] if top[0] else ev.namespace()
    most = f", most of them on {subject}" if top[0] else ""
    evidence = {"time_wait": ev.time_wait_max, "counters": {"TCPTimeWaitOverflow": overflow}}
    if cap:
        evidence["tcp_max_tw_buckets"] = cap
    fix = ("Make fewer short connections (keep-alive, pools) or let the clients close first "
           "so TIME_WAIT spreads over them; if the rate is what you need, raise "
           "net.ipv4.tcp_max_tw_buckets (per namespace; each bucket is a small timewait "
           "socket).")
    if overflow:
        span = _grew(ev, "TCPTimeWaitOverflow")
        return [finding(
            "time_wait_bucket_overflow", "critical", subject,
            f"The kernel skipped TIME_WAIT for {_n(overflow, 'closing connection')} "
            f"{_when(ev, span)}: TCPTimeWaitOverflow grew, the namespace reached "
            f"tcp_max_tw_buckets={cap} (up to {ev.time_wait_max:,} TIME_WAIT seen{most}); "
            "those connections lose TIME_WAIT's guard against old duplicate segments.",
            {**span.fields(), **evidence}, fix)]
    return [finding(
        "time_wait_bucket_overflow", "warning", subject,
        f"Up to {ev.time_wait_max} TIME_WAIT sockets{most}: {ev.time_wait_max / cap:.0%} of "
        f"tcp_max_tw_buckets={cap}; past the cap the kernel skips TIME_WAIT.",
        {"first_seen": None, "last_seen": None, "samples": 0, **evidence}, fix)]


def connection_churn(ev: Evidence) -> list[dict]:
    """CHURN_MIN_PER_S new short-lived connections per second or more to a destination:
    info; warning when the TIME_WAIT they leave reaches half a kernel limit (the ports,
    where tcp_tw_reuse does not apply; tcp_max_tw_buckets). A destination whose server
    is a listener here that closes first is server_time_wait's."""
    cap = ev.sysctls.get("tcp_max_tw_buckets")
    out = []
    for d in ev.destinations.values():
        if not d.churn.samples:
            continue
        rate = d.connections_max
        steady = round(min(rate * TIME_WAIT_S, 2**63))  # any rate a file holds
        server = [lst for lst in ev.listeners.values()
                  if serves(lst.local, d.remote) and lst.time_wait_max]
        if server and not d.churn_closes:
            continue  # the server here closes first: server_time_wait says it, once
        side = "client" if d.churn_closes else "none"
        limits = []
        if side == "client" and not d.reuse and d.usable and steady >= HALF * d.usable:
            limits.append(f"{d.usable} usable ports")
        if side != "none" and cap and steady >= HALF * cap:
            limits.append(f"tcp_max_tw_buckets={cap}")
        where = {"client": "here, on the client side (it closes first)",
                 "none": "on the server's side (none here: the server closes first or "
                         "resets; the rate is the namespace's ActiveOpens)"}[side]
        locust = (f" while Locust counted {d.rps_at_max:.0f} requests/s"
                  if d.rps_at_max else "")
        summary = (f"{rate:,.0f} new connections/s to {d.remote}{locust} {_when(ev, d.churn)}, "
                   f"each opened for a short exchange and closed: at that rate "
                   f"~{steady:,} sockets stay in TIME_WAIT {where}")
        summary += (f", half of {' and '.join(limits)} or more" if limits else "") + "."
        saved = f"{rate:,.0f} handshakes/s (3 segments each, 4 more to close)"
        if side != "none":
            saved += f" and ~{steady:,} TIME_WAIT sockets"
        evidence = {**d.churn.fields(), "connections_per_s": round(rate, 2),
                    "requests_per_s": d.rps_at_max, "steady_state": steady,
                    "time_wait_side": side, "usable": d.usable, "reuse_applies": d.reuse}
        if cap:
            evidence["tcp_max_tw_buckets"] = cap
        out.append(finding(
            "connection_churn", "warning" if limits else "info", d.remote, summary,
            evidence,
            f"Reuse connections: HTTP keep-alive (a requests.Session or a connection pool; "
            f"no `Connection: close`) or a pool of raw sockets; that saves {saved}."))
    return out


def syn_sent_pileup(ev: Evidence) -> list[dict]:
    """Clients in SYN_SENT whose SYN was retransmitted (unanswered past the initial 1 s
    RTO): critical. Towards a listener of this namespace that overflowed, this is
    accept_queue_overflow's evidence instead."""
    overflowed = [lst.local for lst in _overflowing(ev) if lst is not None]
    retries = ev.sysctls.get("tcp_syn_retries", 6)
    out = []
    for d in ev.destinations.values():
        if not d.syn_lost.samples or any(serves(local, d.remote) for local in overflowed):
            continue
        wait = syn_wait_s(d.syn_retrans_max, _linear(ev))
        evidence = {**d.syn_lost.fields(), "syn_sent": d.syn_sent_max,
                    "syn_retrans_max": d.syn_retrans_max, "wait_s": wait}
        out.append(finding(
            "syn_sent_pileup", "critical", d.remote,
            f"Up to {_n(d.syn_sent_max, 'connection')} to {d.remote} waited in SYN_SENT "
            f"{_when(ev, d.syn_lost)}, their SYNs retransmitted up to "
            f"{_n(d.syn_retrans_max, 'time')} ({_secs(wait)} without an answer): the SYNs "
            "are dropped on the way or "
            "at the server (a full accept queue there, a firewall, a dead server).",
            evidence,
            "Find where the SYNs go: on the server, nstat TcpExtListenOverflows (a full "
            "accept queue) and its firewall; from here, ss -tn state syn-sent and a trace "
            f"of the path. Give the client a connect timeout: tcp_syn_retries={retries} "
            f"lets connect() wait about {syn_give_up_s(retries):.0f} s before it fails."))
    return out


def retransmissions_resets(ev: Evidence) -> list[dict]:
    """Data retransmissions (RetransSegs less SYNs, at least RETRANS_SHARE of the
    segments sent), RTO timeouts (TCPTimeouts less SYNs), EstabResets or OutRsts at a
    rate RISE times the run's start (and RISE_MIN_PER_S, RISE_MIN_EVENTS): warning."""
    risen = {name: r for name, r in ev.rise_view().items()
             if rises(name, r.start, r.rate, r.rate * r.window_s, r.share)}
    if not risen:
        return []
    parts = []
    for name in RISING:
        if name in risen:
            r = risen[name]
            share = f" ({r.share:.1%} of segments sent)" if r.share is not None else ""
            parts.append(f"{RISING_NAMES[name]} {r.start:.1f}/s -> {r.rate:.1f}/s{share}")
    span = _union(r.span for r in risen.values())
    counters = {name: _counter_growth(ev, name) for name in RISING}
    evidence = {**span.fields(), "counters": counters,
                "rates_start": {n: round(r.start, 3) for n, r in risen.items()},
                "rates_peak": {n: round(r.rate, 3) for n, r in risen.items()}}
    fix = []
    if {"data_retransmits", "timeouts"} & risen.keys():
        fix.append("for retransmissions, look for loss on the path (ss -ti: retrans and rto "
                   "per connection; interface drops; a firewall): each RTO costs at least "
                   "200 ms of latency")
    if {"EstabResets", "OutRsts"} & risen.keys():
        fix.append("for resets, look for a side closing with unread data or SO_LINGER 0, "
                   "connections to a closed port, or a peer that restarted")
    return [finding(
        "retransmissions_resets", "warning", _single_subject(ev),
        f"Against the run's start, {'; '.join(parts)} {_when(ev, span)} (counters of "
        f"{_ns(ev)}).", evidence, fix[0][0].upper() + "; ".join(fix)[1:] + ".")]


def _counter_growth(ev: Evidence, name: str) -> int:
    if not ev.early or not ev.window:
        return 0
    return max(0, ev.window[-1][1][name] - ev.early[0][1][name])


# --- the standing facts of the settings (doctor) -----------------------------------------

REUSE_MEANING = {
    0: "never: every TIME_WAIT socket keeps its port for 60 s",
    1: "for every destination: new connections may take ports of TIME_WAIT sockets "
       "older than 1 s",
    2: "for loopback destinations only (127.0.0.0/8, ::1): other destinations keep "
       "TIME_WAIT ports for 60 s",
}


def settings_findings(ev: Evidence, targets=()) -> list[dict]:
    """How the namespace's settings stand (info): the port range and what it sustains,
    tcp_tw_reuse, listeners below somaxconn, and for each ``(host, port)`` target the
    short-connection rate it allows."""
    s = ev.last
    if not s:
        return []
    eph = s.get("ephemeral") or {}
    usable = eph.get("usable", 0)
    lo, hi = eph.get("range", ev.sysctls.get("ip_local_port_range", [32768, 60999]))
    reuse = ev.sysctls.get("tcp_tw_reuse", 2)
    per_dest = usable / TIME_WAIT_S
    standing = {"first_seen": None, "last_seen": None, "samples": ev.samples}
    out = [
        finding("port_range", "info", ev.namespace(),
                f"ip_local_port_range {lo}-{hi} gives {usable} usable ports: without "
                f"TIME_WAIT reuse, one destination (ip:port) sustains at most "
                f"{per_dest:.0f} new connections/s ({usable} / 60 s TIME_WAIT).",
                {**standing, "usable": usable, "range": [lo, hi]},
                "Widen it (sysctl net.ipv4.ip_local_port_range=\"1024 65000\", your "
                "servers' ports excluded), reuse connections (keep-alive, pools), or let "
                "the server close first so TIME_WAIT lands there."),
        finding("tw_reuse", "info", ev.namespace(),
                f"tcp_tw_reuse={reuse}: TIME_WAIT ports are reused "
                f"{REUSE_MEANING.get(reuse, '?')}.", {**standing, "tcp_tw_reuse": reuse},
                "sysctl net.ipv4.tcp_tw_reuse=1 lets outgoing connections to any "
                "destination reuse TIME_WAIT ports (safe with TCP timestamps, on by "
                "default)." if reuse != 1 else "Nothing to change."),
    ]
    somax = ev.sysctls.get("somaxconn")
    for row in s.get("listeners") or ():
        if somax and row["backlog"] < somax and listener_fill(row) < HALF:
            where = _with_owner(f"Listener {row['local']}", row.get("pid"), row.get("process"),
                                row.get("cgroup"))
            out.append(finding(
                "listen_backlog", "info", row["local"],
                f"{where} has a backlog of {row['backlog']}, below somaxconn {somax}: it "
                f"holds {row['backlog'] + 1} connections not yet accepted before SYNs are "
                "dropped.", {**standing, "backlog": row["backlog"], "somaxconn": somax},
                f"If it serves bursts, pass a larger backlog to listen() (up to {somax})."))
    for host, port in targets:
        remote = endpoint(host, port)
        if reuse_applies(reuse, remote):
            message = (f"To {remote}: tcp_tw_reuse={reuse} applies, so ports of TIME_WAIT "
                       f"sockets older than 1 s are reused: about {usable} short "
                       f"connections/s ({usable} ports / 1 s) before ports bind, instead of "
                       f"{per_dest:.0f}/s ({usable} / 60 s) without reuse.")
        else:
            message = (f"To {remote}: at most {per_dest:.0f} short connections/s can be "
                       f"sustained ({usable} ports / 60 s TIME_WAIT); tcp_tw_reuse={reuse} "
                       "does not apply to it (with tcp_tw_reuse=1 ports are reused after 1 s).")
        out.append(finding("target_rate", "info", remote, message,
                           {**standing, "usable": usable, "tcp_tw_reuse": reuse,
                            "reuse_applies": reuse_applies(reuse, remote)},
                           "Reuse connections to it, spread load over more destination "
                           "addresses/ports, or widen ip_local_port_range."))
    return out


# --- all of them ----------------------------------------------------------------------------

RUN_RULES = (accept_queue_overflow, syn_queue_overflow, close_wait_accumulation,
             server_time_wait, time_wait_bucket_overflow, connection_churn, syn_sent_pileup,
             retransmissions_resets)


def findings(ev: Evidence, eaddrnotavail: int = 0, settings: bool = False,
             targets=()) -> list[dict]:
    """Every run rule over ``ev`` (``eaddrnotavail``: Locust's count of connect()
    failures, given to ephemeral_exhaustion); ``settings``: also settings_findings."""
    out = ephemeral_exhaustion(ev, eaddrnotavail)
    for rule in RUN_RULES:
        out += rule(ev)
    if settings:
        out += settings_findings(ev, targets)
    return ordered(out)


def over_hosts(runs, eaddrnotavail: int = 0) -> list[dict]:
    """Findings of several hosts' runs, ``[(host label or None, Evidence)]``, each marked
    with its ``host`` (when it has one). Locust counts EADDRNOTAVAIL for the whole run: it
    goes to the host whose busiest destination held the largest share of its ports."""
    runs = [(label, ev) for label, ev in runs if ev.samples]
    if not runs:
        return []

    def pressure(ev: Evidence) -> float:
        return max((d.blocking_max / (d.usable or 1) for d in ev.destinations.values()),
                   default=-1.0)

    target = max(runs, key=lambda run: pressure(run[1]))
    out = []
    for run in runs:
        label, ev = run
        for f in findings(ev, eaddrnotavail if run is target else 0):
            out.append({**f, "host": label} if label is not None else f)
    return ordered(out)
