"""`python -m harness` is `socklife`."""

from harness.cli import script

script()
