"""Terminal views of samples shared by commands (live.py: the live view `watch` and
`demo` draw). May import harness.observe and harness.kernel, never harness.commands.
"""
