"""A plain Faust agent: `async for event in stream` over the topic, in a real `faust.Worker` (consumer
group and Faust's assignor, web server, fetcher, commit and livelock services, consumer thread).
The naive baseline: what Faust's per-message path costs, with the agent doing nothing.

    .venv/bin/python benchmarks/worker_peers/faust_agent.py --bootstrap 127.0.0.1:PORT \
        --topic TOPIC --expect N
"""
from __future__ import annotations

import os
import signal
import socket
import tempfile

import faust
from measure import Clock, consumer_parser, emit, fresh_group

PARTITIONS = 4
FETCH_BYTES = 4 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(bootstrap: str, topic_name: str, expect: int, datadir: str) -> tuple[faust.App, Clock, dict]:
    app = faust.App(
        fresh_group("peer-faust-agent"), broker=f"kafka://{bootstrap}", value_serializer="raw",
        key_serializer="raw", consumer_auto_offset_reset="earliest", consumer_max_fetch_size=FETCH_BYTES,
        web_port=free_port(), web_host="127.0.0.1", store="memory://", topic_partitions=PARTITIONS,
        producer_linger_ms=5, datadir=datadir)
    topic = app.topic(topic_name, value_serializer="raw", key_serializer="raw")
    clock = Clock()
    state = {"stopping": False}

    def finish(**extra) -> None:
        if not state["stopping"]:
            state["stopping"] = True
            emit(clock.result(reader="Faust agent (async for)", **extra))
            os.kill(os.getpid(), signal.SIGTERM)

    @app.agent(topic)
    async def agent(stream):
        async for _event in stream:
            clock.add(1)
            if clock.n >= expect:
                finish()

    state["finish"] = finish
    return app, clock, state


def main() -> None:
    a = consumer_parser(__doc__).parse_args()
    with tempfile.TemporaryDirectory(prefix="peer-faust-") as datadir:
        app, _clock, state = build(a.bootstrap, a.topic, a.expect, datadir)
        worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
        # a run that never reaches --expect still reports what it consumed, marked as timed out
        worker.loop.call_later(a.timeout, lambda: state["finish"](timed_out=True))
        try:
            worker.execute_from_commandline()
        except SystemExit:  # the worker exits the process on SIGTERM; the result is already out
            pass


if __name__ == "__main__":
    main()
