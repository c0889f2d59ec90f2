"""The bundled rule packs: this folder is installed as the package `stream_guard.bundled_rules`.

It holds data only (one TOML pack per platform plus `common.toml`); `stream_guard.evaluation.packs`
finds it with `importlib.resources`, so an installed wheel reads the packs it ships.
"""
