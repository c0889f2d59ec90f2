"""`stream-guard scan`: the engine on a JSONL file or standard input.

Owns: reading records (plain or gzip), writing violations, rejects and outcomes, the JSON report
and the summary people read.
May import: `stream_guard.engine`, `stream_guard.evaluation`, `stream_guard.tracking`,
`stream_guard.observe`, `stream_guard.config`.
"""
