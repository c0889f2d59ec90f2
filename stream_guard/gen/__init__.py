"""The generator behind `stream-guard gen`: a deterministic, realistic marketplace day of chat
events with its labels (what it makes: `generation`'s docstring, the command's help).

Owns: the options (`config`), the phrase banks (`phrases`), the evasion families (`disguise`),
what agents say and the injected violations, judged by the real rules (`agent_messages`), the
shops and their buyers' arrivals (`shops`), one buyer's conversation (`conversation`), bad records
(`bad_records`), the true reply figures (`truth`), the day tying them together (`generation`) and
where it goes: a file, standard output or a Kafka topic (`output`).
May import: `stream_guard.observe`, `stream_guard.tracking`, `stream_guard.evaluation`,
`stream_guard.engine`, `stream_guard.config`, `stream_guard.kafka`; never `stream_guard.cli`, `stream_guard.scan` or
`stream_guard.worker`.
"""
from stream_guard.gen.config import GenConfig
from stream_guard.gen.generation import Generation, generate
from stream_guard.gen.output import produce, write, write_labels

__all__ = ["GenConfig", "Generation", "generate", "produce", "write", "write_labels"]
