"""Observability: structured log lines and Prometheus metrics, shared by `scan` and the worker.

Owns: `log` (one JSON object a line on standard error, never a buyer's text) and `metrics`
(the metric families, the batch recorder, the /metrics, /healthz and /readyz server).
May import: nothing else of stream_guard (every other layer may import this one).
"""
