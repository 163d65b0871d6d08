"""The compiled kernels of the text pipeline (``native/``), or None where they are not built.

``make venv`` builds them with the machine's C compiler (``pip install ./native``); without
one the site runs on the Python versions, which give the same results, only slower. Each
caller keeps its Python version as the reference the tests compare the kernel with."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

try:
    import newsroom_speedups as speedups
except ImportError:  # no C compiler where the site was installed: the Python versions run
    speedups = None
    log.info("newsroom_speedups is not built: the text pipeline runs its Python versions")

__all__ = ["speedups"]
