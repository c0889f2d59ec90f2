"""Kafka helpers on aiokafka, shared by the worker and by `gen --broker`.

Owns: `io` (creating the topics that are missing, producing raw records keyed by shop, sending
records grouped by partition as whole producer batches), `security` (the security settings as
client arguments and Faust credentials), `connect` (starting a client, and the one-line reason
when it cannot reach the brokers).
May import: nothing else of stream_guard (the worker and the generator import this one).
"""
