"""Entry point for `python -m devkit.standin ...`."""

import sys

from devkit.standin.cli import main

sys.exit(main())
