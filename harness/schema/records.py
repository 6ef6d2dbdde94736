"""The sample contract: every record socklife writes, declared once, with its fields'
types, units and meaning.

A sample travels as JSON (a line of ``socklife record``, the output of ``snapshot
--json``, a line of the Locust sampler child, the exporter's ``/api/v1/sample``), so
each record is a ``TypedDict``: producers build plain dicts (no conversion in the hot
path), static checkers see the keys, and the same declarations give the JSON Schema
(``harness/schema/sample.schema.json``), the validator the readers use
(``harness.schema.validate``) and docs/record-format.md. A field is
``Annotated[type, F(meaning, unit)]``; ``NotRequired`` marks a field only some producers
write (they say which), or one added after schema 1 was first written (older files lack
it; the field's meaning says so).

``harness.schema.version.SCHEMA`` is written in every line (``"schema": 1``). It changes
only when a field changes meaning or type or a required field goes; a new optional field
keeps it.

Findings (``Finding``: what went wrong, the evidence, the fix; harness.observe.findings)
kept schema 1: they arrived as optional fields (``Summary.findings``, and the sample
fields the rules read: ``Listener.time_wait``, ``Destination.open``, ``closes_per_s``,
``syn_sent``, ``syn_retrans_max``), so every file written before still reads, and a
reader computes the findings of an older file from its samples. ``CheckReport`` gained
required fields (``findings``, ``fail_on``): no socklife reader reads it back.

    >>> sorted(Listener.__required_keys__)[:3]
    ['accept_queue', 'backlog', 'ever_full']
"""

from dataclasses import dataclass
from typing import Annotated, Literal, NotRequired, TypedDict

from harness.schema.catalogue import FINDING_IDS, SEVERITIES


@dataclass(frozen=True)
class F:
    """A field's meaning and unit (``""`` for none: names, flags, counts of things)."""

    doc: str
    unit: str = ""


# --- A sample's parts ----------------------------------------------------------------

class States(TypedDict):
    """Sockets per TCP state (the kernel's TCP_* names without the prefix), every state
    present. SYN_RECV counts the request sockets of the SYN queue (TCP_NEW_SYN_RECV)."""

    ESTABLISHED: Annotated[int, F("open connections", "sockets")]
    SYN_SENT: Annotated[int, F("connect() sent a SYN, no answer yet", "sockets")]
    SYN_RECV: Annotated[int, F("handshakes half done: SYN queue (request sockets)",
                               "sockets")]
    FIN_WAIT1: Annotated[int, F("closed here, FIN not yet acknowledged", "sockets")]
    FIN_WAIT2: Annotated[int, F("closed here, FIN acknowledged, waiting for the peer's "
                                "FIN (full sockets and orphaned minisockets)", "sockets")]
    TIME_WAIT: Annotated[int, F("closed first here; the port is held for 60 s "
                                "(TCP_TIMEWAIT_LEN)", "sockets")]
    CLOSE: Annotated[int, F("closed, not yet freed", "sockets")]
    CLOSE_WAIT: Annotated[int, F("the peer closed; this side's application has not "
                                 "called close()", "sockets")]
    LAST_ACK: Annotated[int, F("closed second here, waiting for the last ACK", "sockets")]
    LISTEN: Annotated[int, F("listening sockets", "sockets")]
    CLOSING: Annotated[int, F("both sides closed at once (simultaneous close)", "sockets")]


# An owner's details beyond pid and name (kernel/owners.py, psutil), in the rows that
# name a process: present when the process is known.
OwnerCmdline = NotRequired[Annotated[str | None, F(
    "that process's arguments joined by spaces, cut to 200 characters (null: not "
    "readable; present when the process is known)")]]
OwnerUser = NotRequired[Annotated[str | None, F(
    "the name of that process's real uid (its number when it has no name; present when "
    "the process is known)")]]


class Listener(TypedDict):
    """A listening socket and its queues, fullest first."""

    local: Annotated[str, F("address it listens on: ip:port, [v6]:port")]
    accept_queue: Annotated[int, F("connections completed and not yet accept()ed "
                                   "(idiag_rqueue)", "sockets")]
    backlog: Annotated[int, F("effective listen() backlog (idiag_wqueue, capped by "
                              "somaxconn); the queue holds backlog + 1", "sockets")]
    syn_recv: Annotated[int, F("its request sockets in SYN_RECV (the SYN queue)",
                               "sockets")]
    pid: Annotated[int | None, F("process holding it (null: not found or not allowed)")]
    process: Annotated[str | None, F("that process's name (comm)")]
    fill: Annotated[float, F("accept_queue / (backlog + 1): 1.0 means new SYNs are "
                             "dropped", "ratio")]
    full: Annotated[bool, F("accept_queue > backlog now")]
    overflows_per_s: Annotated[float | None, F(
        "ListenOverflows rate of the namespace (one counter for every listener; null in "
        "the first sample)", "1/s")]
    ever_full: Annotated[bool, F("seen full at some sample of this run")]
    time_wait: NotRequired[Annotated[int, F(
        "TIME_WAIT sockets on its port: connections the server closed first (absent "
        "from records made before findings)", "sockets")]]
    cmdline: OwnerCmdline
    user: OwnerUser
    cgroup: NotRequired[Annotated[str, F(
        "cgroup v2 path of the listening socket (/system.slice/nginx.service, "
        "/docker/<id>), from the dump's INET_DIAG_CGROUP_ID, when the dump decodes it")]]


class CloseWaitSocket(TypedDict):
    """A socket in CLOSE_WAIT, oldest first."""

    local: Annotated[str, F("its local address, ip:port")]
    remote: Annotated[str, F("the peer that closed, ip:port")]
    pid: Annotated[int | None, F("process holding it (looked up once it has lasted "
                                 "0.5 s or the leak threshold; null until then)")]
    process: Annotated[str | None, F("that process's name")]
    fd: Annotated[int | None, F("the file descriptor in that process")]
    age_s: Annotated[float | None, F("time since this run first saw it in CLOSE_WAIT "
                                     "(null in that very sample)", "s")]
    cookie: Annotated[int, F("the kernel's socket cookie (idiag_cookie): one socket's "
                             "identity across samples")]
    leak: Annotated[bool, F("age_s >= the leak threshold")]
    cmdline: OwnerCmdline
    user: OwnerUser
    cgroup: NotRequired[Annotated[str, F(
        "cgroup v2 path of the socket (INET_DIAG_CGROUP_ID), when the dump decodes it")]]


class LeakOwner(TypedDict):
    pid: Annotated[int | None, F("process holding leaked sockets")]
    process: Annotated[str | None, F("its name")]
    count: Annotated[int, F("leaked sockets it holds", "sockets")]


class Leaks(TypedDict):
    """CLOSE_WAIT sockets older than the leak threshold, in this sample."""

    threshold_s: Annotated[float, F("a CLOSE_WAIT socket this old is a leak", "s")]
    count: Annotated[int, F("leaks now", "sockets")]
    oldest_s: Annotated[float | None, F("age of the oldest leak", "s")]
    by_process: Annotated[list[LeakOwner], F("leaks per holding process, most first")]


class Expiry(TypedDict):
    """Time left on TIME_WAIT timers, at the 0.256 s resolution of the histogram
    (idiag_expires >> 8 ms); null when there is no TIME_WAIT socket."""

    min: Annotated[float | None, F("soonest expiry", "s")]
    p50: Annotated[float | None, F("median", "s")]
    max: Annotated[float | None, F("latest expiry (upper edge of its bucket)", "s")]


class TimeWait(TypedDict):
    """TIME_WAIT now, and where it is heading."""

    count: Annotated[int, F("TIME_WAIT sockets (the same as states.TIME_WAIT)", "sockets")]
    expires_s: Annotated[Expiry, F("time left on their timers")]
    growth_per_s: Annotated[float | None, F(
        "change of count per second over the last ~10 s (null: no earlier sample)", "1/s")]
    close_rate_per_s: Annotated[float, F(
        "closes into TIME_WAIT per second, read from the timers of the sockets closed in "
        "the last 10 s", "1/s")]
    steady_state: Annotated[int, F("count the current close rate leads to "
                                   "(close rate x 60 s)", "sockets")]
    drained_in_s: Annotated[float, F(
        "time until the last of them expires (60, the longest, when the TIME_WAIT details "
        "hold none of them: they are read a moment apart from the count)", "s")]


class Destination(TypedDict):
    """Ephemeral ports held towards one destination, and the forecast."""

    remote: Annotated[str, F("destination ip:port")]
    in_use: Annotated[int, F("local ports held towards it (open and TIME_WAIT)", "ports")]
    fraction: Annotated[float, F("in_use / usable", "ratio")]
    rate_per_s: Annotated[float, F("new connections to it per second (closes into "
                                   "TIME_WAIT plus growth of the open ones)", "1/s")]
    exhausted_in_s: Annotated[float | None, F(
        "forecast time until connect() to it fails with EADDRNOTAVAIL (null: it will "
        "not at this rate)", "s")]
    forecast: Annotated[str, F("the forecast in words")]
    open: NotRequired[Annotated[int, F(
        "of in_use, the ports held by open sockets (not TIME_WAIT): with tcp_tw_reuse "
        "applying to this destination, the only ones connect() cannot take (absent from "
        "records made before findings, like the three below)", "ports")]]
    closes_per_s: NotRequired[Annotated[float, F(
        "connections to it closed by this side per second, read from the TIME_WAIT timers "
        "of the last 10 s (client-side TIME_WAIT)", "1/s")]]
    syn_sent: NotRequired[Annotated[int, F("sockets in SYN_SENT towards it: connect() "
                                           "waiting for the SYN+ACK", "sockets")]]
    syn_retrans_max: NotRequired[Annotated[int, F(
        "most SYN retransmissions among them (idiag_retrans): 1 means a SYN went "
        "unanswered for the initial 1 s RTO; how long the others waited depends on "
        "tcp_syn_linear_timeouts")]]


class Ephemeral(TypedDict):
    """Ephemeral (client) ports against ip_local_port_range."""

    range: Annotated[tuple[int, int], F("ip_local_port_range [low, high]", "ports")]
    usable: Annotated[int, F("ports in the range less ip_local_reserved_ports", "ports")]
    in_use: Annotated[int, F("distinct ports of the range held by client sockets",
                             "ports")]
    destinations: NotRequired[Annotated[int, F(
        "destinations client sockets are held towards (added in schema 1's second release)")]]
    by_destination: Annotated[list[Destination], F(
        "per destination, most used first: the 50 most used and every one forecast to "
        "run out (destinations counts them all)")]


class Sysctls(TypedDict, total=False):
    """The namespace's TCP sysctls (all per network namespace); one the kernel lacks is
    left out. Refreshed at most once a second (ages_s.sysctls)."""

    ip_local_port_range: Annotated[tuple[int, int], F("[low, high] ephemeral ports", "ports")]
    ip_local_reserved_ports: Annotated[list[tuple[int, int]], F("reserved [low, high] ranges",
                                                          "ports")]
    tcp_tw_reuse: Annotated[int, F("0 never, 1 everywhere, 2 loopback only: connect() "
                                   "may take the port of a TIME_WAIT socket")]
    tcp_fin_timeout: Annotated[int, F("lifetime of an orphaned FIN_WAIT2", "s")]
    somaxconn: Annotated[int, F("cap on a listen() backlog", "sockets")]
    tcp_max_syn_backlog: Annotated[int, F("cap on the SYN queue", "sockets")]
    tcp_max_tw_buckets: Annotated[int, F("cap on TIME_WAIT sockets", "sockets")]
    tcp_abort_on_overflow: Annotated[int, F("1: a final ACK meeting a full accept queue "
                                            "is answered with RST")]
    tcp_syncookies: Annotated[int, F("0 off, 1 when the SYN queue overflows, 2 always")]
    tcp_keepalive_time: Annotated[int, F("idle time before keepalive probes", "s")]
    tcp_keepalive_intvl: Annotated[int, F("time between keepalive probes", "s")]
    tcp_keepalive_probes: Annotated[int, F("unanswered probes before the connection "
                                           "is dropped")]
    tcp_synack_retries: Annotated[int, F("SYN+ACK retransmissions of a listener")]
    tcp_syn_retries: Annotated[int, F("SYN retransmissions of connect()")]
    tcp_syn_linear_timeouts: Annotated[int, F(
        "SYN retransmissions that wait the initial RTO (1 s) before the doubling starts "
        "(Linux >= 6.7; absent before, and from records made before findings)")]
    tcp_retries2: Annotated[int, F("retransmission budget of an established connection "
                                   "(turned into a time by the kernel)")]
    tcp_ehash_entries: Annotated[int, F(
        "buckets of the established hash the namespace's dumps walk; negative: the "
        "host's, shared with every namespace that has none of its own (Linux >= 6.1; "
        "absent from records made before issue 19)")]


class Ages(TypedDict):
    """How old the parts of a sample refreshed under the CPU budget are (0: read in this
    sample). The counts, listeners and CLOSE_WAIT rows are always read in the sample;
    an owner not looked up yet for lack of budget is null meanwhile."""

    time_wait: Annotated[float, F("age of the TIME_WAIT details: time_wait.expires_s, "
                                  "close_rate_per_s and the TIME_WAIT ports per "
                                  "destination in ephemeral", "s")]
    sysctls: Annotated[float, F("age of sysctls", "s")]
    established: NotRequired[Annotated[float, F(
        "age of the ESTABLISHED sockets' grouping by destination: the open sockets and "
        "the ports they hold in ephemeral (in_use, by_destination open and in_use); the "
        "ESTABLISHED count is read every sample (added in schema 1's third release)", "s")]]


class SamplerCost(TypedDict):
    """What the observer itself costs, so a user sees it beside what it observes."""

    cpu_s: Annotated[float, F("CPU time of the sampling process so far (user + system)",
                              "s")]
    rss_bytes: Annotated[int, F("resident memory of the sampling process now", "bytes")]
    sample_s: Annotated[float, F("wall time this sample took to read the kernel", "s")]
    missed: Annotated[int, F("ticks of the sampling cadence skipped so far because a "
                             "sample ran past the next one")]


class LocustFigures(TypedDict):
    """Locust's own figures when the sample arrived (Locust plugin only)."""

    rps: Annotated[float, F("requests per second over the last seconds", "1/s")]
    failures_per_s: Annotated[float, F("failures per second", "1/s")]
    users: Annotated[int, F("running Users")]


class NetnsProcess(TypedDict):
    """A process living in a namespace (``--all-netns`` samples)."""

    pid: Annotated[int, F("process id")]
    name: Annotated[str, F("its name (/proc/PID/comm)")]
    container: NotRequired[Annotated[str, F("the container id its cgroup path shows "
                                            "(Docker, containerd, CRI-O, Podman)")]]
    unit: NotRequired[Annotated[str, F("the systemd unit its cgroup path shows "
                                       "(nginx.service, session-3.scope)")]]


class Sample(TypedDict):
    """One reading of a namespace's TCP sockets: a line of ``socklife record``, the output
    of ``snapshot --json``, a line of the Locust plugin's ``--socklife-record``."""

    schema: Annotated[int, F("version of this contract (SCHEMA)")]
    time: Annotated[float, F("when the sample was taken (Unix time)", "s")]
    netns: Annotated[str | None, F("namespace sampled, as asked: a name under /run/netns, "
                                   "a path to a namespace file or pid:N (null: the "
                                   "sampler's own)")]
    netns_inode: NotRequired[Annotated[int | None, F(
        "inode of the namespace sampled, as /proc/PID/ns/net links read it (net:[INODE]; "
        "null: a replayed reading); absent from records made before issue 19")]]
    consistent: Annotated[bool, F("false when the kernel flagged a dump as interrupted "
                                  "by changes on every retry: counts are approximate")]
    interval_s: Annotated[float, F("the sampling interval asked for", "s")]
    ports: Annotated[list[int], F("the --port filter (empty: every socket)")]
    states: Annotated[States, F("sockets per state")]
    listeners: Annotated[list[Listener], F("listening sockets, fullest queue first")]
    close_wait: Annotated[list[CloseWaitSocket], F("CLOSE_WAIT sockets, oldest first")]
    leaks: Annotated[Leaks, F("CLOSE_WAIT sockets past the leak threshold")]
    time_wait: Annotated[TimeWait, F("TIME_WAIT and its forecast")]
    ephemeral: Annotated[Ephemeral, F("ephemeral ports and their exhaustion forecast")]
    counters: Annotated[dict[str, int], F(
        "kernel Tcp/TcpExt counters, cumulative since the namespace was made "
        "(ListenOverflows, ListenDrops, TW, TWRecycled, TWKilled, ActiveOpens, "
        "PassiveOpens, AttemptFails, EstabResets, OutRsts, OutSegs, RetransSegs, "
        "TCPTimeouts, TCPSynRetrans, TCPAbortOnTimeout, TCPAbortOnClose, SyncookiesSent, "
        "TCPReqQFullDrop, TCPReqQFullDoCookies, TCPTimeWaitOverflow; one the kernel lacks "
        "is left out; OutSegs and TCPTimeWaitOverflow are absent from records made before "
        "findings)")]
    rates: Annotated[dict[str, float], F(
        "the same counters per second since the previous sample (empty in the first)",
        "1/s")]
    sysctls: Annotated[Sysctls, F("the namespace's TCP sysctls")]
    ages_s: NotRequired[Annotated[Ages, F(
        "how old the parts refreshed under the CPU budget are (added in schema 1's second "
        "release; older files lack it)")]]
    sampler: NotRequired[Annotated[SamplerCost, F(
        "the sampler's own cost (samples of a run; absent from a one-shot snapshot)")]]
    host: NotRequired[Annotated[str, F("sampling host, host name/namespace (Locust "
                                       "plugin records), or the namespace's label "
                                       "(--all-netns: 'netns NAME', 'netns PATH')")]]
    processes: NotRequired[Annotated[list[NetnsProcess], F(
        "the processes living in the namespace, by pid (--all-netns samples; at most "
        "1000)")]]
    process_count: NotRequired[Annotated[int, F("how many processes live there "
                                                "(--all-netns samples)")]]
    locust: NotRequired[Annotated[LocustFigures, F("Locust's figures (Locust plugin "
                                                   "records)")]]


# --- Findings: what went wrong, the evidence, the fix -----------------------------------

FindingId = Literal[FINDING_IDS]  # docs/findings.md
Severity = Literal[SEVERITIES]


class FindingEvidence(TypedDict):
    """The figures behind a finding. Every finding has the three first fields; the others
    are written by the findings that have them (docs/findings.md says which)."""

    first_seen: Annotated[float | None, F("first sample where it held (Unix time; null: "
                                          "a standing fact, not an event)", "s")]
    last_seen: Annotated[float | None, F("last sample where it held (Unix time)", "s")]
    samples: Annotated[int, F("samples where it held")]
    backlog: NotRequired[Annotated[int, F("the listener's effective backlog (its queue "
                                          "holds backlog + 1)", "sockets")]]
    somaxconn: NotRequired[Annotated[int, F("net.core.somaxconn, the cap on a backlog",
                                            "sockets")]]
    clamped: NotRequired[Annotated[bool, F("the backlog equals somaxconn: listen() may "
                                           "have asked for more")]]
    accept_queue_max: NotRequired[Annotated[int, F("longest accept queue seen", "sockets")]]
    fill_max: NotRequired[Annotated[float, F("highest accept_queue / (backlog + 1)",
                                             "ratio")]]
    pid: NotRequired[Annotated[int | None, F("process holding the socket(s)")]]
    process: NotRequired[Annotated[str | None, F("its name")]]
    cgroup: NotRequired[Annotated[str, F("its cgroup v2 path, when the dump gave it "
                                         "(INET_DIAG_CGROUP_ID)")]]
    counters: NotRequired[Annotated[dict[str, int], F(
        "growth of the kernel counters behind it during the run (per namespace)")]]
    rates_start: NotRequired[Annotated[dict[str, float], F(
        "those counters' rates at the run's start", "1/s")]]
    rates_peak: NotRequired[Annotated[dict[str, float], F(
        "their highest rate over a window of the run", "1/s")]]
    syn_sent: NotRequired[Annotated[int, F("most clients seen waiting in SYN_SENT",
                                           "sockets")]]
    syn_retrans_max: NotRequired[Annotated[int, F(
        "most SYN retransmissions a waiting client reached")]]
    wait_s: NotRequired[Annotated[float, F(
        "time a client had waited for its connection at that many retransmissions "
        "(1 s apart for the first tcp_syn_linear_timeouts + 1, then doubling: 1, 2, 3, "
        "4, 5, 7, 11 s with its default 4; 1, 3, 7, 15 s without)", "s")]]
    syn_recv_max: NotRequired[Annotated[int, F("most request sockets (SYN_RECV) seen",
                                               "sockets")]]
    sockets: NotRequired[Annotated[int, F("most sockets in that state at one sample",
                                          "sockets")]]
    sockets_end: NotRequired[Annotated[int, F("of those, still there at the last sample",
                                              "sockets")]]
    oldest_s: NotRequired[Annotated[float, F("age of the oldest, from when this run first "
                                             "saw it", "s")]]
    leaks: NotRequired[Annotated[int, F("of those, sockets past the leak threshold",
                                        "sockets")]]
    threshold_s: NotRequired[Annotated[float, F("the leak threshold", "s")]]
    fds: NotRequired[Annotated[list[int], F("some of the file descriptors (at most 8)")]]
    peers: NotRequired[Annotated[list[str], F("some of the peers, ip:port (at most 8)")]]
    usable: NotRequired[Annotated[int, F("usable ephemeral ports (ip_local_port_range less "
                                         "reserved)", "ports")]]
    in_use_max: NotRequired[Annotated[int, F("most local ports held towards it (open and "
                                             "TIME_WAIT)", "ports")]]
    blocking_max: NotRequired[Annotated[int, F(
        "most ports connect() could not take (in_use, or only the open ones where "
        "tcp_tw_reuse applies)", "ports")]]
    exhausted_in_s: NotRequired[Annotated[float | None, F(
        "soonest forecast time to exhaustion (null: no forecast of it)", "s")]]
    eaddrnotavail: NotRequired[Annotated[int, F("connect() failures with EADDRNOTAVAIL "
                                                "(Locust's error table)")]]
    tcp_tw_reuse: NotRequired[Annotated[int, F("the namespace's tcp_tw_reuse")]]
    reuse_applies: NotRequired[Annotated[bool, F("tcp_tw_reuse lets connect() to this "
                                                 "destination take TIME_WAIT ports")]]
    time_wait: NotRequired[Annotated[int, F("most TIME_WAIT sockets it held", "sockets")]]
    tcp_max_tw_buckets: NotRequired[Annotated[int, F("the namespace's cap on TIME_WAIT "
                                                     "sockets", "sockets")]]
    connections_per_s: NotRequired[Annotated[float, F(
        "highest rate of new connections (over a window)", "1/s")]]
    requests_per_s: NotRequired[Annotated[float | None, F(
        "Locust's requests per second then (null: not a Locust run)", "1/s")]]
    steady_state: NotRequired[Annotated[int, F(
        "TIME_WAIT sockets that rate keeps alive (rate x 60 s)", "sockets")]]
    time_wait_side: NotRequired[Annotated[Literal["client", "none"], F(
        "where the TIME_WAIT stays: client (here: it closed first) or none here (the "
        "server closes first, or resets)")]]
    tcp_max_syn_backlog: NotRequired[Annotated[int, F("net.ipv4.tcp_max_syn_backlog",
                                                      "sockets")]]
    tcp_syncookies: NotRequired[Annotated[int, F("net.ipv4.tcp_syncookies")]]
    range: NotRequired[Annotated[tuple[int, int], F("ip_local_port_range", "ports")]]


class Finding(TypedDict):
    """What went wrong (or how things stand), on what, how bad, and what to change
    (harness.observe.findings; the catalogue is docs/findings.md). Lists of findings are
    sorted critical first."""

    id: Annotated[FindingId, F("the finding's stable name (docs/findings.md)")]
    severity: Annotated[Severity, F("critical: hurting the run now; warning: will hurt "
                                    "with more load; info: how things stand")]
    subject: Annotated[str, F("what it is about: a listener or destination ip:port, a "
                              "process name/pid, or the namespace ('netns NAME', or "
                              "'namespace' for the sampler's own) for a counter of the "
                              "whole namespace that no socket explains")]
    summary: Annotated[str, F("one sentence with the numbers")]
    evidence: Annotated[FindingEvidence, F("the figures behind it")]
    fix: Annotated[str, F("the concrete change: a sysctl, a socket option, a code habit")]
    host: NotRequired[Annotated[str, F("the sampling host it was seen on (Locust plugin "
                                       "runs)")]]


# --- The run summary -----------------------------------------------------------------

class LeakedSocket(TypedDict):
    local: Annotated[str, F("its local address")]
    remote: Annotated[str, F("its peer")]
    pid: Annotated[int | None, F("holding process")]
    process: Annotated[str | None, F("its name")]
    fd: Annotated[int | None, F("file descriptor")]
    age_s: Annotated[float, F("the oldest age it was seen at", "s")]


class RunLeaks(TypedDict):
    count: Annotated[int, F("distinct sockets that were leaks at some sample", "sockets")]
    oldest_s: Annotated[float | None, F("the oldest age a leak reached", "s")]
    sockets: Annotated[list[LeakedSocket], F("those sockets, oldest first (at most "
                                             "1,000 per host)")]


class FullestListener(TypedDict):
    local: Annotated[str, F("the listener's address")]
    fill: Annotated[float, F("its accept_queue / (backlog + 1) then", "ratio")]
    pid: Annotated[int | None, F("owning process")]
    process: Annotated[str | None, F("its name")]


class BusiestDestination(TypedDict):
    remote: Annotated[str, F("the destination, ip:port")]
    in_use: Annotated[int, F("ephemeral ports held towards it then", "ports")]
    fraction: Annotated[float, F("their share of the usable range", "ratio")]


class Summary(TypedDict):
    """A run folded into its figures: the last line of a record file, what `check`
    judges. Over several hosts (the Locust plugin): the worst host for peaks, extremes
    and fills, the sum for counts of events."""

    samples: Annotated[int, F("samples taken")]
    duration_s: Annotated[float, F("first to last sample", "s")]
    started: Annotated[float | None, F("first sample (Unix time)", "s")]
    ended: Annotated[float | None, F("last sample (Unix time)", "s")]
    peaks: Annotated[States, F("the highest count of each state at any sample")]
    leaks: Annotated[RunLeaks, F("CLOSE_WAIT leaks of the run")]
    listen_overflows: Annotated[int, F("ListenOverflows growth during the run (not the "
                                       "namespace's lifetime counter)")]
    listeners_ever_full: Annotated[list[str], F("listeners seen with a full accept "
                                                "queue")]
    eaddrnotavail: Annotated[int, F("connect() failures with EADDRNOTAVAIL (Locust's "
                                    "error table; 0 elsewhere)")]
    ephemeral_fraction_max: Annotated[float, F("highest share of the usable range held "
                                               "towards one destination", "ratio")]
    ephemeral_headroom_min: Annotated[int | None, F(
        "fewest usable ports left for the busiest destination (null: never any in use)",
        "ports")]
    accept_queue_fill_max: Annotated[float, F("fullest accept queue, accept_queue / "
                                              "(backlog + 1)", "ratio")]
    time_wait_peak: Annotated[int, F("the same as peaks.TIME_WAIT", "sockets")]
    close_wait_settled_max: Annotated[int, F(
        "highest count of CLOSE_WAIT sockets still there one sample later (a socket "
        "about to be closed is not counted; a run of one sample: its count)", "sockets")]
    accept_queue_fullest: NotRequired[Annotated[FullestListener | None, F(
        "the listener at accept_queue_fill_max, the first to reach it (null: no listener "
        "seen; absent from summaries written before it was added)")]]
    ephemeral_busiest: NotRequired[Annotated[BusiestDestination | None, F(
        "the destination at ephemeral_fraction_max, the first to reach it (null: no port "
        "in use; absent from older summaries)")]]
    close_wait_held: NotRequired[Annotated[list[LeakedSocket], F(
        "the CLOSE_WAIT sockets behind close_wait_settled_max, at the last sample with "
        "that count (at most 10; absent from older summaries)")]]
    samples_missed: Annotated[int, F("sampling ticks skipped because a sample ran past "
                                     "the next one (the sampler fell behind; summed "
                                     "over hosts)")]
    sampler_cpu_share: Annotated[float | None, F(
        "the sampler's CPU over the run, as a share of one core (the worst host's)",
        "ratio")]
    sampler_rss_bytes: Annotated[int | None, F("the sampler's largest resident memory",
                                               "bytes")]
    hosts: NotRequired[Annotated[dict[str, int], F("samples per sampling host (Locust "
                                                   "plugin)")]]
    findings: NotRequired[Annotated[list[Finding], F(
        "what went wrong during the run, critical first, per sampling host (absent from "
        "files written before findings: readers compute them from the samples)")]]


class SummaryLine(TypedDict):
    """The last line of a record file."""

    schema: Annotated[int, F("version of this contract")]
    summary: Annotated[Summary, F("the run's figures")]


# --- What `check --json` prints -------------------------------------------------------

class Verdict(TypedDict):
    rule: Annotated[str, F("the rule as given, NAME=N (baseline rules prefixed)")]
    name: Annotated[str, F("the figure judged")]
    kind: Annotated[Literal["max", "min"], F("max: observed <= limit; min: >=")]
    limit: Annotated[float, F("the limit")]
    observed: Annotated[float | None, F("the run's value (null: the host named gave no "
                                        "sample)")]
    passed: Annotated[bool, F("whether the rule holds")]
    host: NotRequired[Annotated[str, F(
        "the host judged, in a recording of several hosts: a sampling host, or 'total' "
        "for the figures over all of them (absent for a one-host recording)")]]


class CheckReport(TypedDict):
    """`socklife check --json`."""

    schema: Annotated[int, F("version of this contract")]
    file: Annotated[str, F("the recording judged")]
    samples: Annotated[int, F("samples read from it")]
    summary_computed: Annotated[bool, F("true when the file had no summary line (a "
                                        "killed run) and it was computed from the "
                                        "samples")]
    verdicts: Annotated[list[Verdict], F("one per rule, in the order given")]
    findings: Annotated[list[Finding], F("the run's findings, computed from its samples, "
                                         "critical first")]
    fail_on: Annotated[Severity | None, F("--fail-on: findings this severe or worse fail "
                                          "the check (null: findings are context only)")]
    passed: Annotated[bool, F("every rule holds and no finding reaches fail_on")]


class DoctorReport(TypedDict):
    """`socklife doctor --json`."""

    schema: Annotated[int, F("version of this contract")]
    netns: Annotated[str | None, F("namespace observed (null: the doctor's own; "
                                   "'all' with --all-netns: each finding's host names its "
                                   "namespace)")]
    duration_s: Annotated[float, F("how long it sampled", "s")]
    samples: Annotated[int, F("samples taken")]
    findings: Annotated[list[Finding], F("the findings, critical first")]


class SocketTimer(TypedDict):
    """A socket's pending timer, as ``ss -o`` shows it."""

    name: Annotated[Literal["on", "keepalive", "timewait", "persist"], F(
        "which (idiag_timer: 1 on = retransmission, 2 keepalive, 3 timewait, 4 persist = "
        "zero-window probe)")]
    expires_s: Annotated[float, F("time left until it fires (idiag_expires)", "s")]
    retrans: Annotated[int, F("retransmissions, or keepalive probes, sent so far "
                              "(idiag_retrans)")]


class ListedSocket(TypedDict):
    """One socket of `snapshot --sockets` (a line of ``ss -tanp -o``)."""

    state: Annotated[str, F("TCP state (the kernel's name without TCP_)")]
    recv_q: Annotated[int, F("idiag_rqueue: bytes not read yet; for LISTEN, the accept "
                             "queue", "bytes")]
    send_q: Annotated[int, F("idiag_wqueue: bytes not acknowledged yet; for LISTEN, the "
                             "backlog", "bytes")]
    local: Annotated[str, F("ip:port ([v6]:port)")]
    remote: Annotated[str, F("ip:port ([v6]:port)")]
    pid: Annotated[int | None, F("process holding it (null: none, a TIME_WAIT or request "
                                 "socket)")]
    process: Annotated[str | None, F("its name")]
    fd: Annotated[int | None, F("its file descriptor there")]
    timer: Annotated[SocketTimer | None, F("the pending timer (null: none)")]
    cgroup: NotRequired[Annotated[str, F(
        "its cgroup v2 path, as ss --cgroup prints it (/system.slice/nginx.service), from "
        "the dump's INET_DIAG_CGROUP_ID; absent for a socket without one (TIME_WAIT)")]]


class SocketListing(TypedDict):
    """`socklife snapshot --sockets --json` (and --state, --pid)."""

    schema: Annotated[int, F("version of this contract")]
    time: Annotated[float, F("when the sockets were read (Unix time)", "s")]
    netns: Annotated[str | None, F("namespace read, as asked (pid:N for --pid without "
                                   "--netns; null: socklife's own)")]
    netns_inode: Annotated[int, F("its inode (net:[INODE])")]
    states_asked: Annotated[list[str] | None, F("--state filter (null: every state)")]
    ports: Annotated[list[int], F("--port filter (empty: every port)")]
    pid: Annotated[int | None, F("--pid: sockets held by this process and its "
                                 "descendants (null: every socket)")]
    consistent: Annotated[bool, F("false when the dump was interrupted by changes")]
    count: Annotated[int, F("sockets listed")]
    sockets: Annotated[list[ListedSocket], F("in the order the kernel walks its hashes")]


class HostSnapshot(TypedDict):
    """`socklife snapshot --all-netns --json`: every network namespace of the host."""

    schema: Annotated[int, F("version of this contract")]
    namespaces: Annotated[list[Sample], F("one sample per namespace (with netns_inode, "
                                          "processes, process_count), this one first")]
    notes: Annotated[list[str], F("namespaces that could not be read (gone meanwhile)")]


# --- What `socklife exporter` answers beside /metrics (docs/exporter.md) -----------------

class SamplesResponse(TypedDict):
    """GET /api/v1/samples?after=T: the samples the exporter keeps (its last --keep)
    taken after T, oldest first; GET /api/v1/sample answers one Sample alone."""

    schema: Annotated[int, F("version of this contract")]
    samples: Annotated[list[Sample], F("samples whose time is later than T, oldest first "
                                       "(empty: none newer yet)")]


class ApiError(TypedDict):
    """The body of the exporter's 4xx answers (400 bad query, 401, 404)."""

    error: Annotated[str, F("what was wrong, one line")]


RECORDS = (States, Listener, CloseWaitSocket, LeakOwner, Leaks, Expiry, TimeWait,
           Destination, Ephemeral, Sysctls, Ages, SamplerCost, LocustFigures, NetnsProcess,
           Sample, SocketTimer, ListedSocket, SocketListing, HostSnapshot,
           FindingEvidence, Finding, LeakedSocket, RunLeaks, FullestListener,
           BusiestDestination, Summary, SummaryLine, Verdict, CheckReport, DoctorReport,
           SamplesResponse, ApiError)
