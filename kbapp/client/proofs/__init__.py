"""Proof services (plug-ins) and the checker that runs them concurrently."""

from .base import (Fetcher, PermanentFailure, ProofConfig, ProofService, TemporaryFailure, register,
                   services)

__all__ = ["Fetcher", "PermanentFailure", "ProofConfig", "ProofService", "TemporaryFailure", "register",
           "services"]
