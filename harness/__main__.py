"""`python -m harness` is `socklife`."""

import sys

from harness.cli import main

sys.exit(main())
