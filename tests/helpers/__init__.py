"""Building blocks that tests in several modules import: streams through the
real handlers up to a status (warehouse), the small world of allocation runs
(allocation). Fixtures stay in conftest.py files."""
