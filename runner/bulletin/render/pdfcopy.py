"""Copying one source PDF's objects into a joined output, renumbered as they go (pdfjoin)."""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    StreamObject,
    TextStringObject,
)

_STRING_TYPES = (TextStringObject, bytes)


class Output(Protocol):
    """Where copied objects go (pdfjoin.PdfJoiner)."""

    def allocate(self) -> int: ...
    def write_object(self, number: int, body: bytes) -> None: ...


class Copier:
    """Copies objects of one source PDF, renumbering them into the output."""

    def __init__(self, joiner: Output, reader: PdfReader, special: dict[int, int],
                 prefix: str, key_offset: int) -> None:
        self.joiner, self.reader = joiner, reader
        self.special = special  # source object number -> fixed output number
        self.prefix = prefix  # makes structure element IDs unique across chunks
        self.key_offset = key_offset  # shift of StructParent(s) keys
        self.remap: dict[int, int] = {}
        self.queue: deque[int] = deque()
        self.page_hook: Callable[[int, DictionaryObject], DictionaryObject] | None = None

    def ref(self, number: int) -> int:
        """The output number of source object ``number``, queueing it for copying."""
        fixed = self.special.get(number)
        if fixed is not None:
            return fixed
        new = self.remap.get(number)
        if new is None:
            new = self.remap[number] = self.joiner.allocate()
            self.queue.append(number)
        return new

    def drain(self) -> None:
        """Copy every queued object (and what they reference)."""
        while self.queue:
            number = self.queue.popleft()
            obj = self.reader.get_object(number)
            if (self.page_hook is not None and isinstance(obj, DictionaryObject)
                    and obj.get("/Type") == "/Page"):
                obj = self.page_hook(number, obj)
            self.joiner.write_object(self.remap[number], self.dump(obj))

    def dump(self, obj: Any) -> bytes:
        """Serialize ``obj`` with references renumbered."""
        if isinstance(obj, IndirectObject):
            return b"%d 0 R" % self.ref(obj.idnum)
        if isinstance(obj, StreamObject):
            data = obj._data
            head = self._dict(obj, skip="/Length")
            return head[:-2] + b"/Length %d>>\nstream\n" % len(data) + data + b"\nendstream"
        if isinstance(obj, DictionaryObject):
            return self._dict(obj)
        if isinstance(obj, ArrayObject):
            return b"[" + b" ".join([self.dump(item) for item in obj]) + b"]"
        if isinstance(obj, NameObject):
            return plain(obj)
        if isinstance(obj, bool | BooleanObject):
            return b"true" if obj else b"false"
        if isinstance(obj, int):
            return b"%d" % obj
        if obj is None or isinstance(obj, NullObject):
            return b"null"
        return plain(obj)

    def _dict(self, obj: DictionaryObject, skip: str = "") -> bytes:
        parts = [b"<<"]
        for key, value in obj.items():
            if key == skip:
                continue
            if key in ("/StructParents", "/StructParent"):
                value = NumberObject(int(value) + self.key_offset)
            elif key == "/ID" and isinstance(value, _STRING_TYPES):
                value = TextStringObject(self.prefix + _text(value))
            elif key == "/Headers" and isinstance(value, ArrayObject):
                value = ArrayObject(TextStringObject(self.prefix + _text(v)) for v in value)
            parts.append(plain(NameObject(key)) + b" " + self.dump(value))
        parts.append(b">>")
        return b"".join(parts)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


_NAMES: dict[str, bytes] = {}


def plain(obj: Any) -> bytes:
    """A primitive object as PDF syntax (names are cached: the same few recur)."""
    if isinstance(obj, NameObject):
        cached = _NAMES.get(obj)
        if cached is not None:
            return cached
    buffer = io.BytesIO()
    obj.write_to_stream(buffer)
    data = buffer.getvalue()
    if isinstance(obj, NameObject) and len(_NAMES) < 10_000:
        _NAMES[str(obj)] = data
    return data


