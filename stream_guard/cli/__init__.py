"""The `stream-guard` command line: argument parsing and exit codes for every subcommand.

Owns: `main` (the entry point and the subcommand table) and the subcommands' parsers. The work
itself is done by the packages below it.
May import: any package of stream_guard.
"""
