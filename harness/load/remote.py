"""Remote hosts of a load run: ``--socklife-remote NAME=URL``, a `socklife exporter`'s
sample endpoint polled by the collecting process (the master, or a local run's only
process), each remote a host like the workers' hosts.

The endpoint's contract: ``GET /api/v1/sample`` is the latest sample (the JSON of a
`socklife record` line), ``GET /api/v1/samples?after=T`` is ``{"schema": 1, "samples":
[...]}``, those with ``time`` > T, oldest first; ``Authorization: Bearer TOKEN`` when the
exporter has a token file. A poll asks for the latest sample first, then for every
sample after the last one it got, so a slow round loses nothing the exporter kept.

Each sample is checked against the sample contract (harness.schema) before it counts.
A poll that fails (refused, timed out, not JSON, another schema version, HTTP 401, ...)
is one line naming the remote and why, ``Remote.problem`` until the next poll that
works; the run's ``remote_unreachable`` finding counts the failed polls.

The client is the standard library's: in a Locust process its sockets (and DNS, and
TLS) are gevent's (Locust monkey-patches at import), so a poll waits cooperatively and a
slow remote never stalls the event loop; every connect and read has a timeout, answers
are read up to 64 MiB, and no ``*_proxy`` variable is followed (the remotes are the
load's own hosts).
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from harness.errors import UsageProblem
from harness.observe.findings import finding
from harness.observe.thresholds import TOTAL
from harness.schema.validate import ContractError, check_line
from harness.schema.version import SCHEMA

SAMPLE_PATH = "/api/v1/sample"
SAMPLES_PATH = "/api/v1/samples"
SCHEMES = ("http", "https")
MAX_ANSWER = 64 << 20  # bytes: the exporter's ring holds at most 64 MiB of samples


class RemoteError(Exception):
    """One poll of a remote failed; the message is one line, for people."""


@dataclass(frozen=True)
class RemoteSpec:
    """``NAME=URL`` as given: the host's name in the run and the exporter's base URL."""

    name: str
    url: str

    def __str__(self) -> str:
        return f"{self.name}={self.url}"


def parse_remote(text: str) -> RemoteSpec:
    """``"server=http://10.0.0.2:9464"`` -> RemoteSpec; ValueError naming what is wrong.

    The name is how rules (``server:CLOSE_WAIT=0``), rows and findings name the host: no
    ``:`` or ``=`` (they separate a rule's parts), no spaces, not ``total``. The URL is
    http or https with a host; a path is kept (an exporter behind a prefix)."""
    name, sep, url = text.partition("=")
    name, url = name.strip(), url.strip()
    if not sep:
        raise ValueError(f"expected NAME=URL, got {text!r}")
    if not name or any(c in name for c in ":= \t/") or name == TOTAL:
        raise ValueError(f"bad name {name!r} in {text!r} (letters, digits, - . _; not "
                         f"{TOTAL!r})")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise ValueError(f"bad URL {url!r} in {text!r}: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {parts.scheme or '(none)'!r} in {text!r} "
                         "(http:// or https://)")
    if not parts.hostname:
        raise ValueError(f"no host in URL {url!r} of {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the URL of {text!r} takes no query or fragment: the exporter's "
                         "base URL, e.g. http://10.0.0.2:9464")
    if port == 0:
        raise ValueError(f"port 0 in the URL of {text!r}")
    return RemoteSpec(name, url.rstrip("/"))


def read_token(path: str) -> str:
    """The bearer token in ``path`` (its first line); ValueError naming the problem."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if not token:
        raise ValueError(f"the token file {path} is empty")
    return token


def check_remotes(specs, token_file: str | None, ca_file: str | None) -> None:
    """Two remotes of one name, a token or CA file without remotes, or that cannot be
    used: UsageProblem, one line, before the run starts."""
    names = [spec.name for spec in specs]
    for name in names:
        if names.count(name) > 1:
            raise UsageProblem(f"--socklife-remote: the name {name!r} is given twice")
    for option, path in (("--socklife-remote-token-file", token_file),
                         ("--socklife-remote-ca-file", ca_file)):
        if path and not specs:
            raise UsageProblem(f"{option} without --socklife-remote")
    if token_file:
        try:
            read_token(token_file)
        except ValueError as exc:
            raise UsageProblem(f"--socklife-remote-token-file: {exc}") from None
    if ca_file:
        try:
            ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:  # SSLError: OpenSSL's words, less its source
            why = (exc.strerror or str(exc)).split(" (_ssl.c:")[0]
            raise UsageProblem(f"--socklife-remote-ca-file: cannot use {ca_file}: "
                               f"{why}") from None


def _said(exc: urllib.error.HTTPError) -> str | None:
    """The exporter's own words in an error answer (``{"error": "..."}``), if any."""
    try:
        said = json.loads(exc.read(4096)).get("error")
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return None
    return " ".join(said.split())[:200] if isinstance(said, str) else None


def _reason(exc: BaseException) -> str:
    """A failed request in a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code == 401:
            return "HTTP 401 unauthorized (is --socklife-remote-token-file the exporter's?)"
        return f"HTTP {exc.code} {_said(exc) or exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def checked_sample(doc) -> dict:
    """``doc`` when it is a sample of this contract; RemoteError otherwise."""
    if not isinstance(doc, dict):
        raise RemoteError("not a sample (a JSON object was expected)")
    if doc.get("schema") != SCHEMA:
        raise RemoteError(f"schema {doc.get('schema')!r}, this socklife reads {SCHEMA}")
    try:
        kind = check_line(doc)
    except ContractError as exc:
        raise RemoteError(f"not a sample: {exc}") from None
    if kind != "sample":
        raise RemoteError("not a sample")
    return doc


@dataclass
class Remote:
    """One remote host: how to ask it, and how its polls went."""

    spec: RemoteSpec
    token: str | None = None
    timeout: float = 5.0
    cafile: str | None = None
    last_time: float | None = None  # the newest sample's time so far
    polls: int = 0
    failures: int = 0
    samples: int = 0
    first_failure: float | None = None
    last_failure: float | None = None
    problem: str | None = None  # why the latest poll failed (None: it worked)
    first_problem: str | None = None
    _opener: urllib.request.OpenerDirector | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def _get(self, path: str):
        request = urllib.request.Request(self.spec.url + path,
                                         headers={"Accept": "application/json"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if self._opener is None:  # straight to the host: no *_proxy from the environment
            handlers = [urllib.request.ProxyHandler({})]
            if self.spec.url.startswith("https:"):
                context = ssl.create_default_context(cafile=self.cafile)
                handlers.append(urllib.request.HTTPSHandler(context=context))
            self._opener = urllib.request.build_opener(*handlers)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                body = answer.read(MAX_ANSWER + 1)
        except (OSError, ValueError, ssl.SSLError) as exc:  # URLError, HTTPError: OSError
            raise RemoteError(_reason(exc)) from None
        except http.client.HTTPException as exc:  # a broken answer
            raise RemoteError(f"bad HTTP answer: {type(exc).__name__}") from None
        if len(body) > MAX_ANSWER:
            raise RemoteError(f"an answer over {MAX_ANSWER >> 20} MiB")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise RemoteError("the answer is not JSON") from None

    def fetch(self) -> list[dict]:
        """The samples newer than the last one got, oldest first; RemoteError."""
        if self.last_time is None:
            return [checked_sample(self._get(SAMPLE_PATH))]
        doc = self._get(f"{SAMPLES_PATH}?after={self.last_time!r}")
        if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
            raise RemoteError('not a list of samples ({"schema": 1, "samples": [...]} '
                              "was expected)")
        if doc.get("schema") != SCHEMA:
            raise RemoteError(f"schema {doc.get('schema')!r}, this socklife reads {SCHEMA}")
        return [checked_sample(s) for s in doc["samples"]]

    def poll(self, now: float) -> tuple[list[dict], str | None]:
        """(new samples, a line to say or None): one poll, never raising RemoteError.
        The line comes when the remote starts failing, or fails otherwise, or recovers."""
        self.polls += 1
        try:
            got = self.fetch()
        except RemoteError as exc:
            self.failures += 1
            self.first_failure = self.first_failure or now
            self.last_failure = now
            said, self.problem = self.problem, str(exc)
            self.first_problem = self.first_problem or self.problem
            if said == self.problem:
                return [], None
            return [], (f"socklife: remote {self.name} ({self.spec.url}): {self.problem}; "
                        "retrying every sample (the run goes on)")
        new = [s for s in got if self.last_time is None or s["time"] > self.last_time]
        new.sort(key=lambda s: s["time"])
        if new:
            self.last_time = new[-1]["time"]
        self.samples += len(new)
        recovered, self.problem = self.problem, None
        line = (f"socklife: remote {self.name}: answering again" if recovered else None)
        return new, line

    def finding(self) -> dict | None:
        """records.Finding ``remote_unreachable`` when polls failed (critical when no
        sample ever came: the run has no figures of that host), else None."""
        if not self.failures:
            return None
        never = self.samples == 0
        why = self.problem or self.first_problem
        summary = (f"Remote {self.name} ({self.spec.url}) "
                   + ("never answered with a sample" if never else
                      f"failed {self.failures} of {self.polls} polls")
                   + f": {why}." + (" Its rules could not be judged." if never else ""))
        fix = ("Check that `socklife exporter` runs there and listens on that address "
               "(its --listen: 127.0.0.1 unless told otherwise), that its --token-file "
               "holds the token of --socklife-remote-token-file, and that nothing between "
               "blocks the port.")
        evidence = {"first_seen": self.first_failure, "last_seen": self.last_failure,
                    "samples": self.failures}
        return finding("remote_unreachable", "critical" if never else "warning", self.name,
                       summary, evidence, fix)
