"""socklife: TCP socket lifecycle observer and load harness for Linux.

Packages (data flows one way; kernel/ imports nothing of ours, observe/ imports kernel/):
  kernel/    read-only views of kernel state (sock_diag, /proc, sysctls, owners, netns)
  observe/   meaning from readings: snapshots, sampler, analyses
  sockets/   the harness's own servers and clients
  lab/       isolated hosts: namespaces, veth, sysctls, nftables faults
  commands/  one module per `socklife` subcommand; cli.py dispatches to them
"""

__version__ = "0.1.0"
