"""`stream-guard worker`: the engine on the Kafka chat stream, as a Faust app.

Owns: the app and its lifecycle (`app`), its settings (`config`), the batch consumer
(`consumer`), output records and their partitions (`outputs`), durable reply state (`state`)
and the Kafka helpers (`kafka_io`).
May import: `stream_guard.engine`, `stream_guard.evaluation`, `stream_guard.tracking`,
`stream_guard.observe`, `stream_guard.config`.
"""
