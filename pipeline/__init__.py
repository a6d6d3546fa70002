"""edgeprof's host side: builds variants, dispatches jobs, ranks results, writes reports."""

__version__ = "0.1.0"

#: The version of the ``results.json`` contract (README.md); it changes only when a change is not
#: an addition. The report's footer names it too.
RESULTS_SCHEMA_VERSION = 2
