"""The wiring into Locust: arguments, the sampler greenlet, messages, sinks and checks.

Every process gets a ``LoadWatch`` at ``init``. Where load runs (a worker, or the single
process of a local run) one process per host and namespace samples the kernel
(hostkey.py) and sends each sample as a ``socklife_sample`` message: to the master, or,
in a local run, straight to its own handler (Locust's LocalRunner delivers to itself).
Where results go (master or local) the handler adds Locust's rates, feeds the collector,
writes ``<csv-prefix>_tcp.csv`` and the optional JSONL (whose summary line carries the
findings); there too a greenlet per ``--socklife-remote`` polls its exporter
(harness.load.remote) and hands its samples to the same handler, and a round each
interval writes the CSV's total row. At ``quitting`` it prints each host's findings,
then the table of hosts and their total, and checks the ``--socklife-max``/``-min``
rules and ``--socklife-fail-on``: one ``CHECK FAILED`` line each and exit code 3.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque

import gevent
from locust import events
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from harness.errors import UsageProblem
from harness.kernel.errors import KernelError
from harness.kernel.inet_diag import MAX_FILTER_PORTS
from harness.kernel.netns import check_can_enter
from harness.load.arguments import Settings, add_arguments, port_of_host
from harness.load.collector import Collector
from harness.load.csv_sink import TcpCsv
from harness.load.hostkey import HostLock, host_label
from harness.load.remote import Remote, check_remotes, read_token
from harness.load.rows import host_row
from harness.load.source import SampleProcess
from harness.sinks.jsonl import JsonlWriter
from harness.sinks.outputs import LineWriteError, check_outputs

MESSAGE = "socklife_sample"
log = logging.getLogger("socklife")


def remote_key(name: str) -> str:
    """The collector's key of a remote host (workers' keys are host name-inode)."""
    return f"remote:{name}"


def eaddrnotavail_count(stats) -> int:
    """EADDRNOTAVAIL failures so far, from Locust's own (master-merged) error table."""
    return sum(e.occurrences for e in stats.errors.values() if "EADDRNOTAVAIL" in str(e.error))


class LoadRates:
    """Locust's requests and failures per second over the last ``window`` seconds.

    Counted from the totals rather than Locust's ``current_rps``, which leaves out the
    last two seconds. On a master the totals move when workers report (every 3 s), so
    the window there is longer than that.
    """

    def __init__(self, window: float):
        self.window = window
        self.points: deque = deque()

    def figures(self, runner, now: float) -> dict:
        total = runner.stats.total
        point = (now, total.num_requests, total.num_failures)
        self.points.append(point)
        while len(self.points) > 2 and self.points[1][0] <= now - self.window:
            self.points.popleft()
        t0, n0, f0 = self.points[0]
        span = now - t0
        rps = (point[1] - n0) / span if span > 0 else 0.0
        fps = (point[2] - f0) / span if span > 0 else 0.0
        return {"rps": round(rps, 2), "failures_per_s": round(fps, 2),
                "users": runner.user_count}


class LoadWatch:
    """The plugin's state in one Locust process (``environment.socklife``)."""

    def __init__(self, environment, settings: Settings | None = None,
                 say_write_errors: bool = True):
        self.environment = environment
        self.say_write_errors = say_write_errors  # at once, besides at the end (Locust)
        self.fixed_settings = settings
        self.settings = settings or Settings()
        self.collector: Collector | None = None
        self.csv: TcpCsv | None = None
        self.jsonl = None
        self.lock: HostLock | None = None
        self.source: SampleProcess | None = None
        self.key = self.label = None
        self.sampler = None
        self.checked: list[str] | None = None
        self.rates: LoadRates | None = None
        self.write_errors: list[str] = []
        self.remotes: list[Remote] = []
        self.pollers: list = []  # a greenlet per remote, and the rounds' (total rows)
        self.fresh = False  # a sample came since the last total row

    # -- set-up ---------------------------------------------------------------------
    @property
    def runner(self):
        return self.environment.runner

    @property
    def collects(self) -> bool:
        return not isinstance(self.runner, WorkerRunner)

    @property
    def may_sample(self) -> bool:
        return not isinstance(self.runner, MasterRunner)

    def attach(self) -> LoadWatch:
        env = self.environment
        env.socklife = self
        if self.collects:
            self.collector = Collector()
            master = isinstance(self.runner, MasterRunner)
            self.rates = LoadRates(WORKER_REPORT_INTERVAL + 1.0 if master else 1.0)
            self.runner.register_message(MESSAGE, self.on_message)
            if env.web_ui:
                from harness.load.webui import install

                install(env.web_ui, self)
        env.events.test_start.add_listener(self.on_test_start)
        env.events.test_stop.add_listener(self.on_test_stop)
        env.events.quitting.add_listener(self.on_quitting)
        return self

    def _resolve_settings(self) -> None:
        if self.fixed_settings is None:
            self.settings = Settings.from_options(self.environment.parsed_options)
        if not self.settings.ports:
            port = port_of_host(self.environment.host)
            if port:
                self.settings = Settings(**{**vars(self.settings), "ports": (port,)})

    def on_test_start(self, environment, **_kw) -> None:
        self._resolve_settings()
        if self.collects and self.csv is None and self.settings.csv_prefix:
            self.csv = TcpCsv(f"{self.settings.csv_prefix}_tcp.csv")
        if self.collects and self.jsonl is None and self.settings.record:
            self.jsonl = JsonlWriter(self.settings.record)
        if self.may_sample and self.sampler is None:
            self.start_sampler()
        if self.collects and not self.pollers:
            self.start_pollers()

    # -- sampling (worker or local) -------------------------------------------------
    def start_sampler(self) -> None:
        s = self.settings
        check_can_enter(s.netns)
        self.key, self.label = host_label(s.netns)
        if isinstance(self.runner, WorkerRunner):
            self.lock = self.lock or HostLock(self.key)
            if not self.lock.held and not self.lock.acquire():
                log.info("socklife: another process samples %s", self.label)
                return
        self.source = SampleProcess(s.netns, s.sample_ports, s.interval, s.cpu_budget).start()
        self.sampler = self.runner.greenlet.spawn(self._sample_loop)
        self.sampler.link_exception(self._sampler_died)

    def _sampler_died(self, greenlet) -> None:
        log.error("socklife: the sampler stopped: %r", greenlet.exception)
        self.sampler = None

    def _sample_loop(self) -> None:
        for sample in self.source.samples():
            self.runner.send_message(MESSAGE, {"key": self.key, "label": self.label,
                                               "sample": sample})

    def stop_sampler(self, final: bool) -> None:
        """End the child; with ``final`` after its last sample has been sent on."""
        if self.sampler is None:
            return
        if final:
            self.source.finish()
            self.sampler.join(timeout=10 + 2 * self.settings.interval)
        self.sampler.kill(block=True)
        self.sampler = None
        self.source.kill()

    def on_test_stop(self, environment, **_kw) -> None:
        self.stop_sampler(final=True)
        self.stop_pollers(final=True)

    # -- remotes and rounds (master or local) -------------------------------------------
    @property
    def poll_timeout(self) -> float:
        return max(2.0, self.settings.interval)

    def start_pollers(self) -> None:
        s = self.settings
        if s.remotes and not self.remotes:
            token = read_token(s.token_file) if s.token_file else None
            self.remotes = [Remote(spec, token, self.poll_timeout, s.ca_file)
                            for spec in s.remotes]
            self.collector.remotes = self.remotes
            for remote in self.remotes:
                self.collector.expect(remote_key(remote.name), remote.name)
        spawn = self.runner.greenlet.spawn
        self.pollers = [spawn(self._poll_loop, remote) for remote in self.remotes]
        self.pollers.append(spawn(self._round_loop))

    def _every_interval(self, step) -> None:
        while True:
            t0 = time.monotonic()
            step()
            gevent.sleep(max(0.0, self.settings.interval - (time.monotonic() - t0)))

    def _poll_loop(self, remote: Remote) -> None:
        self._every_interval(lambda: self.poll(remote))

    def poll(self, remote: Remote) -> None:
        """One poll of ``remote``: its new samples to the handler, a line when it fails."""
        samples, line = remote.poll(time.time())
        if line:
            log.warning(line)
        for sample in samples:
            self.take(remote_key(remote.name), remote.name, sample)

    def _round_loop(self) -> None:
        self._every_interval(self.total_row)

    def total_row(self) -> None:
        """The CSV's total row, when a sample came since the last one."""
        if self.csv and not self.csv.failed and self.fresh:
            load = self.rates.figures(self.runner, time.monotonic())
            rows = self.collector.rows(time.time(), load)
            self._write(self.csv.add, rows[-1])
        self.fresh = False

    def stop_pollers(self, final: bool) -> None:
        """End the polls; with ``final`` after one last poll of each remote."""
        greenlets, self.pollers = self.pollers, []
        gevent.killall(greenlets, block=True)
        if final and self.remotes:
            last = [gevent.spawn(self.poll, remote) for remote in self.remotes]
            gevent.joinall(last, timeout=self.poll_timeout + 1)
            gevent.killall(last, block=True)

    # -- results (master or local) --------------------------------------------------
    def on_message(self, environment, msg, **_kw) -> None:
        data = msg.data
        self.take(data["key"], data["label"], data["sample"])

    def take(self, key: str, label: str, sample: dict) -> None:
        """One host's sample: Locust's rates added, to the files, to the collector."""
        sample["locust"] = self.rates.figures(self.runner, time.monotonic())
        # the files first: they keep the sample whatever the fold does
        if self.csv and not self.csv.failed:
            first = self.collector.first_counters(key) or sample.get("counters")
            self._write(self.csv.add, host_row(label, sample, first))
        if self.jsonl and not self.jsonl.failed:
            self._write(self.jsonl.write, {**sample, "host": label})
        self.collector.add(key, label, sample)
        self.collector.eaddrnotavail = eaddrnotavail_count(self.runner.stats)
        self.fresh = True

    def _write(self, write, *args) -> None:
        """A file that cannot be written (a full disk) keeps its complete lines and gets
        no more; the load goes on, the error is said now and again at the end (exit 2)."""
        try:
            write(*args)
        except LineWriteError as exc:
            self.write_errors.append(str(exc))
            if self.say_write_errors:
                log.error("socklife: error: %s (the load goes on)", exc)

    @property
    def write_error(self) -> str | None:
        """The first file write that failed ("cannot write ...; N complete ... kept")."""
        return self.write_errors[0] if self.write_errors else None

    def finish(self) -> list[str]:
        """Close the files, decide the checks; the ``CHECK FAILED`` lines (once)."""
        if self.checked is not None:
            return self.checked
        self.stop_sampler(final=False)
        self.stop_pollers(final=False)
        self.checked = []
        if self.collector is not None:
            self.collector.eaddrnotavail = eaddrnotavail_count(self.runner.stats)
            self.checked = self.collector.failed_checks(self.settings.rules,
                                                        self.settings.fail_on)
            if self.jsonl:
                try:
                    self.jsonl.close(self.collector.summary())
                except LineWriteError as exc:
                    self.write_errors.append(str(exc))
            if self.csv:
                self.total_row()
                self.csv.close()
        if self.lock:
            self.lock.release()
        return self.checked

    def on_quitting(self, environment, **_kw) -> None:
        lines = self.finish()
        if self.collector is not None:  # what went wrong first, then the figures
            for line in self.collector.finding_lines() + self.collector.table_lines():
                print(line, flush=True)
        for line in lines:
            print(line, flush=True)
        for line in self.write_errors:
            print(f"socklife: error: {line}", file=sys.stderr, flush=True)
        if self.write_errors:
            environment.process_exit_code = 2  # the run's files are incomplete
        elif lines:
            environment.process_exit_code = 3


@events.init_command_line_parser.add_listener
def _add_arguments(parser, **_kw) -> None:
    add_arguments(parser)


def _locust_files(options) -> dict[str, str | None]:
    """Files Locust reads or writes itself: the plugin's outputs must be none of them."""
    files: dict[str, str | None] = {}
    for i, name in enumerate(str(getattr(options, "locustfile", "") or "").split(",")):
        files[f"the locustfile{f' {i + 1}' if i else ''}"] = name.strip() or None
    files["--config"] = getattr(options, "config", None)
    files["--html"] = getattr(options, "html_file", None)
    files["--logfile"] = getattr(options, "logfile", None)
    json_file = getattr(options, "json_file", None)
    files["--json-file"] = f"{json_file}.json" if json_file else None  # Locust adds .json
    prefix = getattr(options, "csv_prefix", None)
    for kind in ("stats", "stats_history", "failures", "exceptions"):
        files[f"--csv ({kind})"] = f"{prefix}_{kind}.csv" if prefix else None
    return files


def check_options(options) -> None:
    """Bad ``--socklife-*`` values end the run at start: one line, exit code 2."""
    settings = Settings.from_options(options)
    try:
        if len(set(settings.sample_ports)) > MAX_FILTER_PORTS:
            raise UsageProblem(f"--socklife-port: at most {MAX_FILTER_PORTS} different ports "
                               f"(the kernel filter's limit), got {len(set(settings.ports))}")
        check_can_enter(settings.netns)
        check_remotes(settings.remotes, settings.token_file, settings.ca_file)
        csv = f"{settings.csv_prefix}_tcp.csv" if settings.csv_prefix else None
        record = getattr(options, "socklife_record", None)  # "" is refused, not ignored
        check_outputs({"--socklife-record": record, "--csv": csv},
                      inputs=_locust_files(options))
    except (KernelError, UsageProblem) as exc:
        print(f"socklife: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


@events.init.add_listener
def _on_init(environment, **_kw) -> None:
    # Locust times --run-time with gevent.spawn_later, relative to the event loop's
    # cached clock, which has not moved since `import locust` made the hub: on a loaded
    # machine the imports (locustfile, plugin) took seconds, and a 6 s run ended after
    # 0.1 s. init fires just before the timer is set: bring the clock up to date.
    gevent.get_hub().loop.update_now()
    if getattr(environment, "socklife", None) is None:
        if not isinstance(environment.runner, WorkerRunner):
            check_options(environment.parsed_options)
        LoadWatch(environment).attach()
