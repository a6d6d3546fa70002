"""edgeprof's on-device agent: runs benchmark jobs and reports over MQTT. Python 3.8+, no host code."""

__version__ = "0.1.0"
