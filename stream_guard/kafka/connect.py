"""Reaching the brokers: an aiokafka client started with the security settings, and when it cannot
connect, one line that says why (nothing listening, TLS refused, a wrong password) and which
setting to look at.

aiokafka raises "Unable to bootstrap" whatever the cause and logs the cause; the log records of one
start are held back and read for the reason, so a failed start prints one line, not a log and a
traceback.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from aiokafka.errors import KafkaError

from stream_guard.kafka.security import TLS, KafkaSecurity

CLIENT_LOGGER = "aiokafka"


class KafkaUnreachable(Exception):
    """The brokers could not be reached or refused the client: the message is the one line."""


class _Held(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _held_client_logs() -> Iterator[_Held]:
    logger = logging.getLogger(CLIENT_LOGGER)
    held, propagate = _Held(), logger.propagate
    logger.addHandler(held)
    logger.propagate = False
    try:
        yield held
    finally:
        logger.removeHandler(held)
        logger.propagate = propagate


def reason(messages: list[str], security: KafkaSecurity) -> str:
    """Why a start failed, from the client's log lines, with the setting that decides it."""
    causes = [m.split(": ", 1)[1] if ": " in m else m for m in messages if m.startswith("Unable connect to")]
    cause = causes[-1].strip() if causes else ""
    tls = security.protocol in TLS
    if "SaslAuthenticationFailed" in cause or "Authentication failed" in cause:
        hint = "the broker refused the user name or password (--sasl-username, the password setting)"
    elif "CERTIFICATE_VERIFY_FAILED" in cause and "hostname" in cause.lower():
        hint = "the broker's certificate does not name its host (--ssl-check-hostname)"
    elif "CERTIFICATE_VERIFY_FAILED" in cause:
        hint = "the broker's certificate is not signed by a trusted CA (--ssl-cafile)"
    elif "Connect call failed" in cause or "Name or service not known" in cause:
        hint = "nothing answers at that address (--broker)"
    elif "closed" in cause and not tls:
        hint = f"the broker closed the connection: a TLS listener? (--security-protocol is {security.protocol})"
    elif tls and not cause:
        hint = f"no TLS answer: a plaintext listener? (--security-protocol is {security.protocol})"
    elif "UnsupportedSaslMechanism" in cause or "mechanism" in cause.lower():
        hint = f"the broker does not take SASL mechanism {security.mechanism} (--sasl-mechanism)"
    else:
        hint = "the client's last word"
    return f"{hint}: {cause}" if cause else hint


@contextlib.asynccontextmanager
async def started(client, bootstrap: str, security: KafkaSecurity):
    """`client` (an aiokafka producer, consumer or admin client) started, and closed on exit;
    KafkaUnreachable when it cannot start."""
    with _held_client_logs() as held:
        try:
            await client.start()
        except KafkaError as exc:
            with contextlib.suppress(KafkaError):
                await _stop(client)
            raise KafkaUnreachable(f"cannot connect to Kafka at {bootstrap} ({security.protocol}): "
                                   f"{reason(held.messages or [str(exc)], security)}") from None
    try:
        yield client
    finally:
        await _stop(client)


async def _stop(client) -> None:
    # producers and consumers stop; the admin client closes
    await (client.stop() if hasattr(client, "stop") else client.close())
