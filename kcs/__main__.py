"""``python -m kcs``: the ``kcs`` command."""

import sys

from kcs.cli import main

sys.exit(main())
