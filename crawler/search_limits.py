"""The limits and shares that steer a search's page (crawler.search_pages), in one place.

Each is a measured trade-off on one store or both; the comments say where it
came from. Tests set small ones to send a small store down every path.
"""

from __future__ import annotations

RANK_LIMIT = 2_000  # ranked up to this many visible matches (~14 ms of reads at 10M)
SORT_LIMIT = 20_000  # SQLite: up to this many matches are sorted whole (~23 ms at 1M)
DRIVE_LIMIT = 5_000  # other filters leaving up to this many rows drive a newest-first page
MARGIN = 1.5  # a window is sized to hold this many times the matches the page needs
GROWTH = 16  # a window that held no match grows this many times
HITS_CAP = 4_000  # matches a window may read; more and it is shrunk instead
FIRST_WINDOW = 2_000  # SQLite: rows in the first window of a word with many matches
# PostgreSQL: a word the planner expects on at most this many rows is counted from its
# index entries; one with more than RANK_LIMIT * ENTRIES_MARGIN entries is not ranked,
# without counting its rows. The margin is for entries of dead rows not yet vacuumed:
# every updated row leaves one until then (a test that updated each row once saw twice
# the matches), so only a word with two in three of its entries dead is misjudged.
ENTRIES_UPTO = 100_000
ENTRIES_MARGIN = 3
TAG_INDEX_SHARE = 0.1  # PostgreSQL: a window this wide may ask GIN for the tag, status too
MAX_ROUNDS = 12  # windows tried before every match is sorted instead
WALK_ROUNDS = 4  # SQLite: walks of the list order before windows instead
# SQLite: the count reads the matches among this many of the newest search rows (at
# least; SPAN_PER_ROW for each row of the pages asked for): "news" + a 5% filter needs
# ~2,700 rows for a page of 50
NEWEST_SPAN = 20_000
SPAN_PER_ROW = 40
MAX_SPAN = 200_000  # (a deep page past that is found by windows)
UNDECIDED_LIMIT = 2_000  # SQLite: rows a walk may leave to FTS5 at once; more: windows
# PostgreSQL: testing a row for the words costs about this many GIN postings read
ROW_TEST_COST = 5
SHARE_SAMPLE = 1_000  # newest rows tested for a contains filter's share (when many)
# PostgreSQL: a word in at least this share of the search rows (their statistics' most
# common elements) is left out of a window's GIN scan when a rarer word stays, and tested
# on each row instead. GIN reads a word's whole posting list to intersect it: "news" + a
# 0.2% word at 10M read ~3.7M postings (18-23 ms) per statement, for ~75 rows; without
# "news" the window reads ~200 rows. At 10% both cost about the same.
COMMON_SHARE = 0.1
# SQLite: a few rows are tested for a prefix's words by indexing them alone
# (crawler.search_probe) when that costs less than FTS5's merge of the prefix's lists,
# in matches merged: a row indexed cost as much as ~130 matches merged, a character ~0.3
PROBE_ROW_COST = 130
PROBE_CHAR_COST = 0.3
# ... and a row of the list order walked past, tested for the other filters: ~1 us
WALK_ROW_COST = 25
