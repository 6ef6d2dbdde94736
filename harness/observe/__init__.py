"""Meaning from kernel readings; imports harness.kernel only.

snapshot (one reading as the design.md JSON), listeners (accept/SYN queues), ports
(ephemeral use per destination), and the sampler and analyses built on them.
"""
