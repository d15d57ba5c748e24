"""Slow references: the papers' definitions written as plain numpy loops over one instance, independent of sco's fast paths.

The tests compare every batched rule with these, and ``sco verify``'s ``aggregator_definitions``
claim does the same on random weighted instances, so that a wrong fast path fails the main job too.
"""

from .aggregators import *  # noqa: F401,F403
from .attacks import *  # noqa: F401,F403
from .catalogue import *  # noqa: F401,F403
from .aggregators import _byz, _w  # noqa: F401  (the mass conventions, for tests that build cases)
