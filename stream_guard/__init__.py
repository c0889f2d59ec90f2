"""stream-guard: streaming moderation of marketplace customer-service chat."""
__version__ = "0.1.0"
