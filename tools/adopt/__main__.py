"""`python -m tools.adopt check|snapshot|verify ...` (see tools/adopt/cli.py)."""

import sys

from tools.adopt.cli import main

if __name__ == "__main__":
    sys.exit(main())
