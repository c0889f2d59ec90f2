"""The `stream-guard` command line: argument parsing and exit codes for every subcommand.

Owns: `main` (the entry point and the subcommand table) and one module per subcommand (`match`,
`rules`, with `rules_eval` for `rules eval`, `scan`, `gen`, `worker`), each adding its parser and
turning its flags into the configuration of the package that does the work.
May import: any package of stream_guard.
"""
