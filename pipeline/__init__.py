"""edgeprof's host side: builds variants, dispatches jobs, ranks results, writes reports."""

__version__ = "0.1.0"
