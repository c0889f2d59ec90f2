"""The Kafka security settings without a broker: where each value comes from, which combinations
are refused and how, that the password is never shown, what each protocol gives the client, and
the one-line reasons a failed connection gets (from aiokafka's own messages)."""
from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from stream_guard.kafka.connect import reason
from stream_guard.kafka.security import KafkaSecurity
from stream_guard.worker.config import add_arguments, resolve

SECRET = "s3cr3t-Passw0rd"


def parse(argv, environ=None):
    parser = argparse.ArgumentParser(allow_abbrev=False)  # as the worker's: no flag stands for another
    add_arguments(parser)
    return resolve(parser.parse_args(argv), environ or {})


@pytest.fixture
def ca_file(tmp_path):
    """A real CA certificate, made by openssl."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.pem"), "-days", "1",
                    "-subj", "/CN=test"], check=True, capture_output=True)
    return tmp_path / "ca.pem"


def test_the_password_comes_from_the_environment_or_a_file_never_a_flag(tmp_path):
    with pytest.raises(SystemExit):
        parse(["--sasl-password", SECRET])
    from_cli = subprocess.run([sys.executable, "-m", "stream_guard", "worker", "--sasl-password", SECRET],
                              capture_output=True, text=True, timeout=60)
    assert from_cli.returncode == 2 and "--sasl-password is not a flag" in from_cli.stderr
    assert SECRET not in from_cli.stderr
    sasl = ["--security-protocol", "sasl_plaintext", "--sasl-username", "u"]
    from_env = parse(sasl, {"STREAM_GUARD_SASL_PASSWORD": SECRET})
    (tmp_path / "password").write_text(SECRET + "\n", encoding="utf-8")
    from_file = parse([*sasl, "--sasl-password-file", str(tmp_path / "password")])
    for config in (from_env, from_file):
        assert config.security.password == SECRET and config.security.protocol == "SASL_PLAINTEXT"
        assert SECRET not in repr(config) and SECRET not in repr(config.security)
        assert config.security.client_arguments()["sasl_plain_password"] == SECRET
    with pytest.raises(ValueError, match="both set"):
        parse([*sasl, "--sasl-password-file", str(tmp_path / "password")], {"STREAM_GUARD_SASL_PASSWORD": SECRET})


@pytest.mark.parametrize(("argv", "message"), [
    (["--security-protocol", "SASL_SSL"], "needs a SASL user name (--sasl-username) and a password"),
    (["--sasl-username", "u"], "the security protocol is PLAINTEXT: set --security-protocol SASL_SSL"),
    (["--ssl-cafile", "CA"], "--ssl-cafile set, but the security protocol is PLAINTEXT"),
    (["--security-protocol", "SSL", "--ssl-keyfile", "CA"], "--ssl-keyfile needs --ssl-certfile"),
    (["--security-protocol", "SSL", "--ssl-cafile", "NOT_PEM"], "--ssl-cafile NOT_PEM: not a PEM file"),
    (["--security-protocol", "SSL", "--ssl-certfile", "CA"], "--ssl-certfile CA: not a PEM certificate with its key"),
    (["--security-protocol", "TLS"], "--security-protocol: 'TLS' is not one of"),
    (["--sasl-mechanism", "GSSAPI"], "--sasl-mechanism: 'GSSAPI' is not one of"),
    (["--ssl-cafile", "/no/such/ca.pem"], "--ssl-cafile: cannot read /no/such/ca.pem"),
])
def test_settings_that_do_not_fit_together_are_one_line(argv, message, ca_file, tmp_path):
    (tmp_path / "not.pem").write_text("hello", encoding="utf-8")
    argv = [{"CA": str(ca_file), "NOT_PEM": str(tmp_path / "not.pem")}.get(a, a) for a in argv]
    message = message.replace("NOT_PEM", str(tmp_path / "not.pem")).replace("CA:", f"{ca_file}:")
    with pytest.raises(ValueError) as refused:
        parse(argv)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_each_protocol_gives_the_client_what_it_needs(ca_file):
    assert KafkaSecurity().client_arguments() == {"security_protocol": "PLAINTEXT"}
    tls = KafkaSecurity(protocol="SSL", cafile=ca_file).client_arguments()
    assert tls["security_protocol"] == "SSL" and tls["ssl_context"].check_hostname
    loose = KafkaSecurity(protocol="SSL", cafile=ca_file, check_hostname=False).ssl_context
    assert loose is not None and not loose.check_hostname
    sasl = KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-256", username="u", password="p", cafile=ca_file)
    assert {k: v for k, v in sasl.client_arguments().items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "u", "sasl_plain_password": "p"}
    credentials = sasl.faust_credentials()
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-256")
    assert KafkaSecurity().faust_credentials() is None


TLS_CLIENT = KafkaSecurity(protocol="SASL_SSL", username="u", password="p")
PLAIN_CLIENT = KafkaSecurity()


@pytest.mark.parametrize(("message", "security", "hint"), [
    ('Unable connect to "h:1": [Error 58] SaslAuthenticationFailed: Authentication failed during authentication '
     'due to invalid credentials with SASL mechanism SCRAM-SHA-512', TLS_CLIENT, "refused the user name or password"),
    ('Unable connect to "h:1": [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate '
     'in certificate chain (_ssl.c:1006)', TLS_CLIENT, "not signed by a trusted CA (--ssl-cafile)"),
    ('Unable connect to "h:1": [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, '
     "certificate is not valid for 'h'. (_ssl.c:1006)", TLS_CLIENT, "does not name its host (--ssl-check-hostname)"),
    ('Unable connect to "h:1": KafkaConnectionError: Connection at h:1 closed', PLAIN_CLIENT, "a TLS listener?"),
    ('Unable connect to "h:1": ', TLS_CLIENT, "no TLS answer: a plaintext listener?"),
    ("Unable connect to \"h:1\": [Errno 111] Connect call failed ('h', 1)", PLAIN_CLIENT, "nothing answers"),
])
def test_a_failed_connection_is_named_with_the_setting_that_decides_it(message, security, hint):
    assert hint in reason(["some other warning", message], security)


def test_no_broker_is_one_line_and_exit_1():
    done = subprocess.run([sys.executable, "-m", "stream_guard", "gen", "--events", "10", "--broker", "127.0.0.1:1",
                           "--quiet"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("stream-guard: cannot connect to Kafka at 127.0.0.1:1 (PLAINTEXT): nothing answers")
