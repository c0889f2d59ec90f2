"""Rule evaluation: rule packs read and validated, compiled for one native pass per message,
judged into findings and violation records.

Owns: `matcher` (the facade over the native matcher, `stream_guard._matcher`), `packs` (reading
and validating `rules/*.toml`: lexicons, rules, overrides, the bundled packs' location), `folds`
(the pinyin and homophone fold profiles and the word list, from the shipped tables in `data/`),
`detectors` (numbers, ids, links, fillers), `ruleset` (a platform's pack compiled and judged),
`violations` (the violation records), `registry` (the rulesets in force, reloadable).
May import: `stream_guard.tracking` (reply profiles a pack declares), `stream_guard.observe`.
"""
