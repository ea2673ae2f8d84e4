"""Everything that touches the browser: one page load, many outputs."""
