"""12. SYN queue: request sockets in SYN_RECV under unanswered handshakes; syncookies."""

from __future__ import annotations

import time

from harness.scenarios.base import Expect, Run, Scenario
from harness.scenarios.stage import Stage

BACKLOG = 8
SYNS = 20


class SynQueue(Scenario):
    name = "syn-queue"
    number = 12
    drops_segments = True
    title = "SYN queue of SYN_RECV requests; syncookies"
    claim = ("Each SYN a listener answers leaves a request socket in SYN_RECV until the "
             "handshake's last ACK arrives. When the client never answers, the requests "
             "pile up to the listener's backlog + 1 (measured here: the same off-by-one "
             "as the accept queue, the kernel tests qlen > backlog); past it, with "
             "tcp_syncookies=1, the server still answers but keeps no state "
             "(SyncookiesSent), and with tcp_syncookies=0 it drops the SYN "
             "(TCPReqQFullDrop).")
    shortened = ("tcp_synack_retries=1 on the server so the lab's requests expire quickly",)
    control = ("the client answers the SYN+ACKs (the loss removed): the handshakes "
               "complete and leave the SYN queue")
    control_catches = ("syn_recv_with_cookies", "syncookies_sent", "syn_recv_without_cookies",
                       "req_queue_full_drops")
    expected = {
        "syn_recv_with_cookies": Expect(BACKLOG + 1),
        "syncookies_sent": Expect(SYNS - BACKLOG - 1, "at_least"),
        "syn_recv_without_cookies": Expect(BACKLOG + 1),
        "req_queue_full_drops": Expect(SYNS - BACKLOG - 1, "at_least"),
    }

    def execute(self, run: Run) -> None:
        sysctls = {"server": {"net.ipv4.tcp_synack_retries": 1}}
        with Stage(run, sysctls=sysctls) as st:
            ports = [st.port, st.port + 1]
            with st.evidence(ports=ports):
                if not run.control:  # the client host never sees the SYN+ACKs
                    for port in ports:
                        st.lose("client", count=None, tcp_flags="syn,ack", sport=port)
                for cookies, port, key, counter, counter_key in (
                    (1, ports[0], "syn_recv_with_cookies", "SyncookiesSent", "syncookies_sent"),
                    (0, ports[1], "syn_recv_without_cookies", "TCPReqQFullDrop",
                     "req_queue_full_drops"),
                ):
                    self._flood(st, run, cookies, port, key, counter, counter_key)

    @staticmethod
    def _flood(st: Stage, run: Run, cookies: int, port: int, key: str, counter: str,
               counter_key: str) -> None:
        st.server.set_sysctl("net.ipv4.tcp_syncookies", cookies)
        before = st.counters("server").get(counter, 0)
        with st.listen(backlog=BACKLOG, port=port):
            clients = []
            for _ in range(SYNS):
                c = st.socket("client")
                c.setblocking(False)
                c.connect_ex((st.server.addr, port))
                clients.append(c)
            time.sleep(0.3)
            pending = st.dump("server", states=["SYN_RECV"], ports=[port])
            run.observe(key, len(pending))
            run.evidence[f"{key}_dumped"] = [
                {"inode": r.inode, "uid": r.uid, "retrans": r.retrans, "timer": r.timer}
                for r in pending[:2]]
            run.observe(counter_key, st.counters("server").get(counter, 0) - before)
            for c in clients:
                c.close()


SCENARIO = SynQueue()
