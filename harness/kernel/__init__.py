"""Read-only views of kernel state, no policy; imports nothing else of socklife.

sockdiag (netlink inet_diag dumps) over inet_diag (the request, the filter bytecode and
the reply decode) and dump_columns (counts straight from the reply's bytes), both over
netlink (framing, attributes) and cstruct (each kernel struct declared once as a table
of its fields: nothing outside these modules knows a byte offset); endpoints (the one
``ip:port`` formatter), tcp_states (the TCP states by name), netstat/sockstat (/proc/net
counters), sysctls, owners (socket inode -> pid/fd), netns (enter a namespace by name,
path or pid:N), namespaces (every network namespace of the host and its processes),
cgroups (cgroup v2 id <-> path), proctree (a process and its descendants), procfs (every
/proc path, pointable at recorded files), tracefs (TCP tracepoints in a tracefs instance
of our own) over trace_format (format files, ring-buffer pages), capture (AF_PACKET on a
namespace's interface) over tcp_segment (Ethernet/IPv4/IPv6/TCP decoder).
"""
