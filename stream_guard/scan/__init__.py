"""`stream-guard scan`: the engine on a JSONL file or standard input.

Owns: `files` (reading records, plain or gzip, and writing JSON lines), `report` (the tally, the
JSON report and the summary people read) and `run` (`ScanConfig` and the scan itself).
May import: `stream_guard.config`, `stream_guard.engine`, `stream_guard.evaluation`,
`stream_guard.tracking`, `stream_guard.observe`.
"""
