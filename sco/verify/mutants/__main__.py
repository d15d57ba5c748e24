"""``python -m sco.verify.mutants``."""

import sys

from . import main

sys.exit(main())
