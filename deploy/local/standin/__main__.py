"""Entry point for `python deploy/local/standin ...` and `python -m standin ...`."""

import sys
from pathlib import Path

if not __package__:  # run as a directory: import the package by name, not its files as modules
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from standin.cli import main

sys.exit(main())
