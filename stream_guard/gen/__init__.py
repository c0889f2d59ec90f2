"""`stream-guard gen`: a deterministic, realistic marketplace day of chat events with its labels.

May import: `stream_guard.evaluation` (the packs' examples, judged while generating),
`stream_guard.config`, and `stream_guard.worker.kafka_io` to produce a day to Kafka.
"""
