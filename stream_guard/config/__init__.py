"""Settings shared by the commands: the parsers of setting values and the one settings table.

Owns: `argtypes` (parsers: ports, broker lists, topic names, rates...) and `settings` (the table
`scan` and `worker` both read, with a default per command, and its resolution from flags and the
environment).
May import: `stream_guard.engine`, `stream_guard.evaluation` and `stream_guard.observe`, for defaults.
"""
