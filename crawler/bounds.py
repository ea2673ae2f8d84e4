"""Upper bounds for numbers clients send, so none of them overflows a column or a date.

A number beyond what the database or ``datetime`` holds is bad input (a 4xx in
the dialect's shape), never an ``OverflowError`` on the way to SQL.
"""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # an INTEGER column (counts, versions, org numbers)
MAX_OFFSET = INT32_MAX  # skip/offset/page: far past any real table, well inside SQL's range
MAX_EXPIRES = 100 * 365 * 24 * 3600  # seconds; a hundred years stays inside `datetime`
