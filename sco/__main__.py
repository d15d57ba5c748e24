"""``python -m sco``: the ``sco`` command (``sco verify``, ``sco sweep``, ``sco --version``)."""

import sys

from .cli import main

sys.exit(main())
