"""Reply-rate tracking in event time: turns, response times, per-shop valid-reply rates.

Owns: `replies`, the facade over the native tracker (`stream_guard._replies`): profiles,
outcomes, the tracker itself. Python code reaches the native tracker only through it.
May import: `stream_guard.observe`.
"""
