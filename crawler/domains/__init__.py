"""Snapshot domains beside URL snapshots: sheets, notes, dashboards, CMS content.

Each domain keeps its own tables (a package's `tables.py`, or the domain's
module); importing this package registers them all with SQLModel's metadata.
"""

import crawler.domains.content.tables  # noqa: F401
import crawler.domains.sheets.tables  # noqa: F401
from crawler.domains import dashboards, notes, numbers_store  # noqa: F401, E402
