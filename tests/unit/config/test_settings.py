"""stream_guard/config/settings.py: one table for scan and worker, a default per command."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stream_guard.config import settings
from stream_guard.evaluation.packs import default_rules_dir


def parsed(command: settings.Command, argv: list[str], environ: dict[str, str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, command)
    return settings.resolve(parser.parse_args(argv), command, environ or {})


def test_shared_settings_are_one_row_with_a_default_per_command():
    shared = {s.name for s in settings.settings_of("scan")} & {s.name for s in settings.settings_of("worker")}
    assert {"rules_dir", "platforms", "batch_size", "metrics_port", "metrics_addr", "allowed_lateness"} <= shared
    scan, worker = parsed("scan", []), parsed("worker", [])
    assert (scan["batch_size"], worker["batch_size"]) == (2000, 10_000)
    assert (scan["metrics_addr"], worker["metrics_addr"]) == ("127.0.0.1", "0.0.0.0")
    assert (scan["metrics_port"], worker["metrics_port"]) == (None, 9464)
    assert scan["rules_dir"] == worker["rules_dir"] == default_rules_dir()
    assert len({s.name for s in settings.SETTINGS}) == len(settings.SETTINGS)


def test_the_worker_reads_the_environment_and_scan_its_flags_only():
    environ = {"STREAM_GUARD_BATCH_SIZE": "7"}
    assert parsed("worker", [], environ)["batch_size"] == 7
    assert parsed("worker", ["--batch-size", "9"], environ)["batch_size"] == 9
    assert parsed("scan", [], environ)["batch_size"] == 2000
    assert parsed("scan", ["--batch-size", "9"], environ)["batch_size"] == 9


def test_the_rules_flag_and_its_alias_name_one_setting(tmp_path):
    for command in ("scan", "worker"):
        assert parsed(command, ["--rules", str(tmp_path)])["rules_dir"] == tmp_path
        assert parsed(command, ["--rules-dir", str(tmp_path)])["rules_dir"] == tmp_path
    assert parsed("worker", [], {"STREAM_GUARD_RULES_DIR": "/srv/packs"})["rules_dir"] == Path("/srv/packs")


@pytest.mark.parametrize(("command", "argv", "environ", "message"), [
    ("scan", ["--batch-size", "0"], {}, "--batch-size: 0 is not a positive number"),
    ("scan", ["--metrics-port", "70000"], {}, "--metrics-port: 70000 is not a TCP port"),
    ("worker", [], {"STREAM_GUARD_METRICS_PORT": "x"}, "STREAM_GUARD_METRICS_PORT: invalid literal"),
    ("worker", [], {"STREAM_GUARD_MAX_TEXT_BYTES": "9"}, "unknown setting(s) STREAM_GUARD_MAX_TEXT_BYTES"),
])
def test_a_bad_value_names_where_it_came_from(command, argv, environ, message):
    with pytest.raises(ValueError) as refused:
        parsed(command, argv, environ)
    assert str(refused.value).startswith(message)


def test_help_shows_each_commands_default():
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, "worker")
    text = parser.format_help()
    assert "env STREAM_GUARD_BATCH_SIZE; default 10000" in " ".join(text.split())
    parser = argparse.ArgumentParser()
    settings.add_arguments(parser, "scan")
    assert "(default 2000)" in " ".join(parser.format_help().split())
