"""kbapp: verifiable identity, end-to-end encryption and local photo intelligence."""

__version__ = "0.1.0"
