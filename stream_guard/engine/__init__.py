"""The engine: raw records in; violations, rejects and reply outcomes out. No I/O, no Kafka.

Owns: `events` (decoding and validating chat events, the facade over `stream_guard._events`)
and `pipeline` (`Engine`: decode -> normalise+match -> rule evaluation -> reply tracking).
May import: `stream_guard.evaluation`, `stream_guard.tracking`, `stream_guard.observe`.
"""
