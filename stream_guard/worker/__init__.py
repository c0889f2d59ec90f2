"""`stream-guard worker`: the engine on the Kafka chat stream, as a Faust app.

Owns: the app and its lifecycle (`app`), its settings (`config`), the batch consumer
(`consumer`), output records and their partitions (`outputs`) and durable reply state (`state`).
May import: `stream_guard.engine`, `stream_guard.evaluation`, `stream_guard.tracking`,
`stream_guard.observe`, `stream_guard.config`, `stream_guard.kafka`.
"""
