"""Lifecycle scenarios: one module per claim of the classic TCP account, run on this kernel.

base (Scenario, Expect, Run, Outcome, Control: claim, expectations, evidence, verdict,
and the negative control that must fail), registry (finds the sNN_*.py modules), stage
(two lab hosts and the evidence of a run: traced transitions, captured segments, losses
made and marked), raw (hand-made segments from a raw socket); each sNN_<name>.py holds
one scenario. Scenarios build on lab/, sockets/, kernel/, observe/.
"""
