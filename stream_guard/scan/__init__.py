"""`stream-guard scan`: the engine on a JSONL file or standard input.

Owns: `files` (reading records, plain or gzip, and writing JSON lines), `report` (the tally, the
JSON report and the summary people read), `run` (`ScanConfig` and the scan itself) and `labelled`
(a labelled set of messages judged and scored, for `stream-guard rules eval`).
May import: `stream_guard.config`, `stream_guard.engine`, `stream_guard.evaluation`,
`stream_guard.tracking`, `stream_guard.observe`.
"""
