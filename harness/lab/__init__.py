"""Isolated lab hosts: network namespaces (``sl-`` prefix) joined by a veth pair.

Nothing here touches the host's sysctls or firewall: every address, sysctl and
nftables rule lives inside the lab's own namespaces, which are removed on exit, on
exceptions and on SIGTERM; ``cleanup_stale()`` removes those of a killed run.

    from harness.lab import Lab
    with Lab() as lab:                      # namespaces sl-<pid>-<n>-cli / -srv
        lab.client.netns, lab.server.netns  # for sockdiag, entered(), ip -n
        lab.client.addr, lab.server.addr    # 198.18.<k>.1 / .2 on the veth
        lab.client.addr6, lab.server.addr6  # fd53:6c:<k>::1 / ::2 (nodad)
        lab.client.ifname                   # "eth0" in each host
        lab.server.set_sysctl("net.ipv4.tcp_fin_timeout", 5)
        lab.client.run(fn, *args)           # fn in a thread inside the host
        t = lab.server.start(fn, *args)     # the same in the background; t.join()
        lab.client.exec(["ss", "-tan"])     # a command inside the host
        rule = lab.client.nft.drop("output", tcp_flags="ack", once=True)
        rule.packets                        # the rule's nftables counter

hosts (Host, Lab), nft (rules and counters in a host's own `inet socklife` table),
names (naming, ownership by pid, stale and persistent labs). Root only.
"""

from harness.lab.hosts import Host, Lab
from harness.lab.names import cleanup_stale, list_labs

__all__ = ["Host", "Lab", "cleanup_stale", "list_labs"]
