"""Where each key of a pack file is written: the line of `file:line: rule: message`.

tomllib gives values, not positions, so the text is read once more the way TOML lays it out:
table headers (`[reply]`, `[[rules]]`, `[overrides."common.abuse"]`), `key =` lines with dotted
and quoted keys, and values skipped whole (strings, multi-line strings, arrays and inline tables
over several lines). A key inside an inline table is found at the line of the key that holds it.
The scanner reads any text without failing: what it cannot place is at line 1.
"""
from __future__ import annotations

import tomllib

Path = tuple  # a key path: table and key names, with the index of an array-of-tables entry

BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class KeyLines:
    def __init__(self, text: str):
        self.text = text
        self.lines: dict[Path, int] = {}
        self.rules: dict[str, int] = {}  # rule id -> index of its [[rules]] entry (the first)
        self._scan()

    def line(self, path: Path) -> int:
        """The line of the longest written prefix of a key path; 1 when none is written."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1

    def rule_base(self, rule: str) -> Path:
        """The path of a rule's table: its [[rules]] entry, or its override; () when neither."""
        if rule in self.rules:
            return ("rules", self.rules[rule])
        if ("overrides", rule) in self.lines:
            return ("overrides", rule)
        if rule in ("reply", "lexicons"):
            return (rule,)
        return ()

    # ---- the scanner -----------------------------------------------------------------------

    def _scan(self) -> None:
        text, n = self.text, len(self.text)
        self.i, self.line_no = 0, 1
        table: Path = ()
        entries: dict[Path, int] = {}  # array-of-tables path -> index of its last entry
        while self.i < n:
            ch = text[self.i]
            if ch == "\n":
                self.line_no += 1
                self.i += 1
            elif ch in " \t\r":
                self.i += 1
            elif ch == "#":
                self._to_line_end()
            elif ch == "[":
                double = text.startswith("[[", self.i)
                self.i += 2 if double else 1
                key = self._key()
                if double:
                    entries[key] = entries.get(key, -1) + 1
                    table = (*key, entries[key])
                else:
                    table = self._in_entry(key, entries)
                self.lines.setdefault(table, self.line_no)
                self._to_line_end()
            else:
                start = self.i
                key = self._key()
                if not key or self.i == start:
                    self._to_line_end()
                    continue
                for cut in range(1, len(key) + 1):  # examples.hit = [...] writes examples too
                    self.lines.setdefault((*table, *key[:cut]), self.line_no)
                self._skip_blanks()
                if self.i < n and text[self.i] == "=":
                    self.i += 1
                    self._skip_blanks()
                    value_start = self.i
                    self._value()
                    if key == ("id",) and len(table) == 2 and table[0] == "rules":
                        self._note_rule(text[value_start:self.i], table[1])
                self._to_line_end()

    @staticmethod
    def _in_entry(key: Path, entries: dict[Path, int]) -> Path:
        """`[rules.examples]` after `[[rules]]` is a table of the last rules entry."""
        for cut in range(len(key) - 1, 0, -1):
            head = key[:cut]
            if head in entries:
                return (*head, entries[head], *key[cut:])
        return key

    def _note_rule(self, raw: str, index: int) -> None:
        try:
            rid = tomllib.loads(f"v = {raw.strip()}").get("v")
        except tomllib.TOMLDecodeError:
            return
        if isinstance(rid, str):
            self.rules.setdefault(rid, index)

    def _skip_blanks(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def _to_line_end(self) -> None:
        at = self.text.find("\n", self.i)
        self.i = len(self.text) if at == -1 else at

    def _key(self) -> Path:
        """A dotted key (bare or quoted parts); the scanner stops at the first character that is
        not part of one."""
        text, parts = self.text, []
        while self.i < len(text):
            self._skip_blanks()
            if self.i >= len(text):
                break
            ch = text[self.i]
            if ch in "\"'":
                start = self.i
                self._string()
                try:
                    parts.append(tomllib.loads(f"v = {text[start:self.i]}")["v"])
                except (tomllib.TOMLDecodeError, KeyError):
                    parts.append(text[start + 1:self.i - 1])
            elif ch in BARE:
                start = self.i
                while self.i < len(text) and text[self.i] in BARE:
                    self.i += 1
                parts.append(text[start:self.i])
            else:
                break
            self._skip_blanks()
            if self.i < len(text) and text[self.i] == ".":
                self.i += 1
                continue
            break
        return tuple(parts)

    def _string(self) -> None:
        """Past one string (basic, literal, or either multi-line), counting its line breaks."""
        text = self.text
        quote = text[self.i]
        if text.startswith(quote * 3, self.i):
            end = text.find(quote * 3, self.i + 3)
            while quote == '"' and end != -1 and _escaped(text, end):
                end = text.find(quote * 3, end + 1)
            end = len(text) if end == -1 else end + 3
            while end < len(text) and text[end] == quote:  # up to two quotes may close the content
                end += 1
        else:
            end = self.i + 1
            while end < len(text) and text[end] != quote and text[end] != "\n":
                end += 2 if quote == '"' and text[end] == "\\" else 1
            end = min(end + 1, len(text))
        self.line_no += text.count("\n", self.i, end)
        self.i = end

    def _value(self) -> None:
        """Past one value: a scalar ends the line; arrays and inline tables end where their
        brackets close, with strings and comments inside skipped."""
        text, depth = self.text, 0
        while self.i < len(text):
            ch = text[self.i]
            if ch in "\"'":
                self._string()
                if depth == 0:
                    return
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth <= 0:
                    self.i += 1
                    return
            elif ch == "#":
                self._to_line_end()
                if depth == 0:
                    return
                continue
            elif ch == "\n":
                if depth == 0:
                    return
                self.line_no += 1
            self.i += 1


def _escaped(text: str, at: int) -> bool:
    backslashes = 0
    while at - 1 - backslashes >= 0 and text[at - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1
