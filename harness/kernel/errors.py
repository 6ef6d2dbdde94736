"""Errors raised by the kernel readers: each message is one line a user can act on."""


class KernelError(Exception):
    """The kernel cannot give what was asked ("needs root for --netns", "no tcp_diag")."""


class NamespaceError(KernelError):
    """A named network namespace is missing or cannot be entered."""
