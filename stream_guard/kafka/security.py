"""How Kafka clients authenticate and encrypt: one description of the security settings, checked
together, that gives aiokafka's client arguments and Faust's credentials.

The password is held here and handed only to the client library: it is not part of the repr, so
neither a log line nor an error shows it.
"""
from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

SASL = ("SASL_PLAINTEXT", "SASL_SSL")
TLS = ("SSL", "SASL_SSL")


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    check_hostname: bool = True

    def __post_init__(self) -> None:
        """ValueError, naming the settings, when they do not fit together."""
        if self.protocol in SASL and not (self.username and self.password):
            raise ValueError(f"security protocol {self.protocol} needs a SASL user name (--sasl-username) and "
                             "a password (STREAM_GUARD_SASL_PASSWORD or --sasl-password-file)")
        if self.protocol not in SASL and (self.username or self.password):
            raise ValueError(f"a SASL user name or password is set, but the security protocol is {self.protocol}: "
                             "set --security-protocol SASL_SSL (or SASL_PLAINTEXT)")
        tls_files = [name for name, value in (("--ssl-cafile", self.cafile), ("--ssl-certfile", self.certfile),
                                              ("--ssl-keyfile", self.keyfile)) if value is not None]
        if self.protocol not in TLS and tls_files:
            raise ValueError(f"{', '.join(tls_files)} set, but the security protocol is {self.protocol}: "
                             "set --security-protocol SSL (or SASL_SSL)")
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("--ssl-keyfile needs --ssl-certfile (the certificate the key belongs to)")
        # unreadable or mismatched files are found at start, not at the first connection
        self.ssl_context  # noqa: B018

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> KafkaSecurity:
        """From a command's resolved settings (the settings table's security rows; the password
        settings hold secrets, whose `reveal()` gives the text)."""
        if values["sasl_password"] is not None and values["sasl_password_file"] is not None:
            raise ValueError("STREAM_GUARD_SASL_PASSWORD and --sasl-password-file are both set: set one")
        password = values["sasl_password"] or values["sasl_password_file"]
        return cls(
            protocol=values["security_protocol"], mechanism=values["sasl_mechanism"],
            username=values["sasl_username"], password=password.reveal() if password is not None else "",
            cafile=values["ssl_cafile"], certfile=values["ssl_certfile"], keyfile=values["ssl_keyfile"],
            check_hostname=values["ssl_check_hostname"],
        )

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """One context for every client of the process (they may share it)."""
        if self.protocol not in TLS:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"--ssl-cafile {self.cafile}: not a PEM file of CA certificates "
                             f"({_reason(exc)})") from None
        context.check_hostname = self.check_hostname
        if self.certfile is not None:
            try:
                context.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"--ssl-certfile {self.certfile}: not a PEM certificate with its key "
                                 f"({_reason(exc)})") from None
        return context

    def client_arguments(self) -> dict[str, Any]:
        """The keyword arguments of aiokafka's clients (producer, consumer, admin)."""
        arguments: dict[str, Any] = {"security_protocol": self.protocol}
        context = self.ssl_context
        if context is not None:
            arguments["ssl_context"] = context
        if self.protocol in SASL:
            arguments.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                             sasl_plain_password=self.password)
        return arguments

    def faust_credentials(self):
        """Faust's `broker_credentials`: None for PLAINTEXT."""
        import faust  # only the worker, which runs Faust, asks

        if self.protocol in SASL:
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         ssl_context=self.ssl_context, mechanism=self.mechanism)
        if self.protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context)
        return None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
