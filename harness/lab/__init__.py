"""Isolated lab hosts: network namespaces (``sl-`` prefix) joined by a veth pair.

Nothing here touches the machine's sysctls or firewall: every address, sysctl and
nftables rule lives inside the lab's own namespaces, which are removed on exit, on
exceptions and on SIGTERM (turned into KeyboardInterrupt while a lab is open, if no
handler was installed); ``cleanup_stale()`` removes those of a killed run. Root only:
``Lab()`` raises KernelError("needs root to build lab hosts ...") otherwise.

    from harness.lab import Lab, cleanup_stale
    with Lab() as lab:                      # namespaces sl-<pid>-<n>-cli / -srv
        lab.client.netns, lab.server.netns  # for sockdiag.dump(netns=...), entered(), ip -n
        lab.client.addr, lab.server.addr    # 198.18-19.<k>.1 / .2 (/24 on the veth)
        lab.client.addr6, lab.server.addr6  # fd53:6c:<k>::1 / ::2 (/64, nodad)
        lab.client.ifname                   # "eth0" in each host
        lab.server.set_sysctl("net.ipv4.tcp_fin_timeout", 5)   # net.* only, this host only
        lab.server.sysctl("net.ipv4.tcp_fin_timeout")          # -> "5"
        lab.client.run(fn, *args, timeout=None, **kw)  # fn in a thread inside the host:
                                            # its result, or its exception re-raised
        t = lab.server.start(fn, *args)     # the same in the background; t.wait(5) gives
                                            # the result / raises (t.join() works too)
        lab.client.exec(["ss", "-tan"])     # CompletedProcess of `ip netns exec NS ...`
        rule = lab.client.nft.drop(tcp_flags="ack", payload_len=0, dport=7000, count=1)
        rule.packets                        # the rule's nftables counter (int)
        lab.server.nft.drop("input", data=True, dport=7000, once=True)  # a lost data seg
        lab.server.nft.count("output", tcp_flags="syn,ack", sport=7000)
        lab.server.nft.drop_after(2.0, saddr=lab.client.addr)  # input chain by default
    Lab(sysctls={"client": {"net.ipv4.tcp_tw_reuse": 0}}), Lab(hosts=("cli", "srv"))
    Lab.single() -> one host ``lab.host``, loopback only;  lab.up() / lab.down() by hand.

Faults: drop or count, no delay (no netem, no nft queue on this kernel; see nft.py).
A drop in the sender's output chain is a failed send, not a loss: TCP sends the data
again without counting a retransmission; drop in the receiver's input for a loss.

hosts (Host, Lab), nft (rules and counters in a host's own ``inet socklife`` table),
names (naming, ownership by pid, stale and persistent labs, cleanup_stale, list_labs).
"""

from harness.lab.hosts import Host, Lab
from harness.lab.names import cleanup_stale, list_labs

__all__ = ["Host", "Lab", "cleanup_stale", "list_labs"]
