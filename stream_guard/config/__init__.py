"""Settings shared by the commands: argument types and the one settings table.

May import: `stream_guard.evaluation` and `stream_guard.observe`, for their defaults.
"""
