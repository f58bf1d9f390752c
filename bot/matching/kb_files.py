"""Edits of the knowledge files that keep them as people wrote them: a round-trip TOML library
(tomlkit) changes only the values that change, so comments, order and layout stay and `git diff`
shows the edited lines. Writes are atomic (a temporary file beside the target, then a rename).

Text in, text out (pure), except `write_files`."""

from __future__ import annotations

import difflib
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.items import AoT, Array, Table


class EditError(ValueError):
    """The edit does not apply to the file as it is (an id that is not there, or already there)."""


@dataclass(frozen=True)
class ReplyText:
    text: str
    platform: str | None = None


def version(text: str) -> str:
    """What a client sends back to say which state of a file its edit is based on."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _tables(doc: tomlkit.TOMLDocument, key: str) -> AoT | list:
    found = doc.get(key)
    return found if found is not None else []


def _find(doc: tomlkit.TOMLDocument, key: str, table_id: str) -> Table:
    for table in _tables(doc, key):
        if table.get("id") == table_id:
            return table
    raise EditError(f"no [[{key}]] with id {table_id!r} in this file")


def _edit_list(array: Array, old: Sequence, new: Sequence) -> None:
    """Turn `array` (holding `old`) into `new` with the fewest item changes, so the untouched
    lines keep their place and their comments."""
    ops = difflib.SequenceMatcher(a=list(old), b=list(new), autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        for i in reversed(range(i1, i2)):
            del array[i]
        for offset, value in enumerate(new[j1:j2]):
            array.insert(i1 + offset, value)


def _reply_table(reply: ReplyText) -> Table:
    table = tomlkit.table()
    if reply.platform:
        table["platform"] = reply.platform
    table["text"] = reply.text
    return table


def _edit_replies(intent: Table, replies: Sequence[ReplyText]) -> None:
    aot = intent.get("reply")
    old = [ReplyText(str(t.get("text", "")), t.get("platform")) for t in aot] if aot is not None else []
    if old == list(replies):
        return
    if aot is None:
        intent.append("reply", tomlkit.aot())
        aot = intent["reply"]
    ops = difflib.SequenceMatcher(a=old, b=list(replies), autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:  # the same replies reworded: edit them where they are
            for i, reply in zip(range(i1, i2), replies[j1:j2]):
                table = aot[i]
                if str(table.get("text")) != reply.text:
                    table["text"] = reply.text
                if table.get("platform") != reply.platform:
                    if reply.platform:
                        table["platform"] = reply.platform
                    else:
                        del table["platform"]
            continue
        for i in reversed(range(i1, i2)):
            del aot[i]
        for offset, reply in enumerate(replies[j1:j2]):
            aot.insert(i1 + offset, _reply_table(reply))


def set_intent(text: str, intent_id: str, *, title: str, questions: Sequence[str],
               replies: Sequence[ReplyText], key: str = "intent") -> str:
    """The file with intent (or, `key="topic"`, off-topic subject) `intent_id` given these values."""
    doc = tomlkit.parse(text)
    table = _find(doc, key, intent_id)
    if str(table.get("title", "")) != title:
        table["title"] = title
    old_questions = [str(q) for q in table.get("questions", [])]
    if old_questions != list(questions):
        if isinstance(table.get("questions"), Array):
            _edit_list(table["questions"], old_questions, questions)
        else:
            table["questions"] = _multiline(questions)
    if key == "intent":
        _edit_replies(table, replies)
    return tomlkit.dumps(doc)


def _multiline(values: Sequence[str]) -> Array:
    array = tomlkit.array()
    array.extend(values)
    return array.multiline(True)


def _value(value: str) -> str:
    return tomlkit.item(value).as_string()


def add_intent(text: str, intent_id: str, *, title: str, questions: Sequence[str],
               replies: Sequence[ReplyText] = (), key: str = "intent") -> str:
    """The file with a new `[[intent]]` (or `[[topic]]`) at its end, in the files' usual layout."""
    doc = tomlkit.parse(text)
    if any(t.get("id") == intent_id for t in _tables(doc, key)):
        raise EditError(f"{intent_id!r} is already in this file")
    lines = [f"[[{key}]]", f"id = {_value(intent_id)}", f"title = {_value(title)}", "questions = ["]
    lines += [f"  {_value(q)}," for q in questions]
    lines.append("]")
    for reply in replies:
        lines.append(f"[[{key}.reply]]")
        if reply.platform:
            lines.append(f"platform = {_value(reply.platform)}")
        lines.append(f"text = {_value(reply.text)}")
    head = text.rstrip("\n")
    return (head + "\n\n" if head else "") + "\n".join(lines) + "\n"


def remove_intent(text: str, intent_id: str, *, key: str = "intent") -> str:
    """The file without that `[[intent]]` block (and the comment lines just above it)."""
    doc = tomlkit.parse(text)
    tables = _tables(doc, key)
    index = next((i for i, t in enumerate(tables) if t.get("id") == intent_id), None)
    if index is None:
        raise EditError(f"no [[{key}]] with id {intent_id!r} in this file")
    del tables[index]
    return tomlkit.dumps(doc)


def questions_of(text: str, intent_id: str, *, key: str = "intent") -> list[str]:
    return [str(q) for q in _find(tomlkit.parse(text), key, intent_id).get("questions", [])]


def table_of(text: str, intent_id: str, *, key: str = "intent") -> dict:
    """The table as plain values (what a 409 shows of the other editor's change)."""
    return _find(tomlkit.parse(text), key, intent_id).unwrap()


class WriteError(OSError):
    """A file could not be written; nothing was changed."""


def write_files(folder: Path, texts: Mapping[str, str]) -> None:
    """Write each `relative path → text` atomically: every temporary file first, then the renames.
    A failure before the renames changes nothing; a failed rename puts back the ones already done."""
    staged: list[tuple[Path, Path, str | None]] = []
    try:
        for rel, text in texts.items():
            target = folder / rel
            before = target.read_text(encoding="utf-8") if target.exists() else None
            if target.exists() and not os.access(target, os.W_OK):
                raise PermissionError(13, "not writable", str(target))
            temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(temp, "w", encoding="utf-8", newline="") as f:
                staged.append((temp, target, before))
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        done: list[tuple[Path, str | None]] = []
        try:
            for temp, target, before in staged:
                os.replace(temp, target)
                done.append((target, before))
        except OSError:
            for target, before in reversed(done):
                if before is None:
                    target.unlink(missing_ok=True)
                else:
                    _put_back(target, before)
            raise
    except OSError as e:
        raise WriteError(e.errno, f"cannot write {e.filename or folder}: {e.strerror}; nothing was changed") from e
    finally:
        for temp, _, _ in staged:
            temp.unlink(missing_ok=True)


def _put_back(target: Path, text: str) -> None:
    temp = target.with_name(f".{target.name}.{os.getpid()}.undo.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, target)
