"""An earlier revision's module, for a later revision that must repeat its SQL exactly.

Revision files are named ``NNNN_name.py``: a module name starting with a digit cannot
be imported, so they are loaded from their path. A migration takes what it repeats
from the file that defined it (0004's ranked document, 0022's trigger functions)
rather than a copy that could drift.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

VERSIONS = Path(__file__).with_name("versions")


def revision_module(filename: str) -> ModuleType:
    """The revision file `filename` (in versions/), loaded as a module of its own."""
    path = VERSIONS / filename
    spec = importlib.util.spec_from_file_location(f"amber_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
