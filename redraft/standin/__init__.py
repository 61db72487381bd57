"""An OpenAI-compatible stand-in server for tests, benchmarks and offline demos."""

from redraft.standin.app import create_app
from redraft.standin.config import FaultRule, StandinConfig, StandinState
from redraft.standin.server import StandinServer, StandinServerError

__all__ = [
    "FaultRule",
    "StandinConfig",
    "StandinServer",
    "StandinServerError",
    "StandinState",
    "create_app",
]
