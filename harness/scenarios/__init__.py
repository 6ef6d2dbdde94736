"""Lifecycle scenarios: one module per claim of the classic TCP account, run on this kernel.

base (Scenario, Expect, Run, Outcome: claim, expectations, evidence, verdict), registry
(finds the sNN_*.py modules), runner (runs them with progress, cleans up); each
sNN_<name>.py holds one scenario. Scenarios build on lab/, sockets/, kernel/, observe/.
"""
