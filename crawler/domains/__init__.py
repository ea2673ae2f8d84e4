"""Snapshot domains beside URL snapshots: sheets, notes, dashboards, CMS content.

Importing this package registers every domain's tables with SQLModel's metadata.
"""

from crawler.domains import dashboards, notes, numbers_store  # noqa: F401, E402
from crawler.domains import content_tables  # noqa: F401, E402
from crawler.domains import sheets_tables  # noqa: F401, E402
