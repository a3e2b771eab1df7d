"""Which kernel lab a command means: ``--name``, else ``$KSL_CLUSTER``, else ``ksl``.

>>> import os
>>> os.environ.pop(LAB_ENV, None) and None
>>> current_lab()
'ksl'
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_LAB", "LAB_ENV", "current_lab"]

#: The lab ``ksl cluster`` commands (and ``ksl get``/``render``/``trace`` without ``-f``) use.
DEFAULT_LAB = "ksl"
LAB_ENV = "KSL_CLUSTER"


def current_lab() -> str:
    """The lab a command means when it names none: ``$KSL_CLUSTER``, else ``ksl``."""
    return os.environ.get(LAB_ENV) or DEFAULT_LAB
