"""Snapshot domains beside URL snapshots: sheets, notes, dashboards, CMS content.

Importing this package registers every domain's tables with SQLModel's metadata.
"""

import crawler.domains.content_tables  # noqa: F401
import crawler.domains.sheets_tables  # noqa: F401
from crawler.domains import dashboards, notes, numbers_store  # noqa: F401, E402
