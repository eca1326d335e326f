"""Copying one source PDF's objects into a joined output, renumbered as they go (pdfjoin).

Objects in the source's object streams (WeasyPrint puts every non-stream object there, tens of
thousands of structure elements per chunk) are copied as bytes, their references renumbered by
one regular expression; pages, streams and anything unusual go through pypdf's parser.
"""

from __future__ import annotations

import io
import re
from collections import deque
from collections.abc import Callable
from hashlib import md5
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
    read_object,
)

_STRING_TYPES = (TextStringObject, bytes)


_LITERAL = rb"\((?:[^\\()]|\\.)*\)"  # pydyf escapes every parenthesis and backslash
_TOKENS = re.compile(
    rb"(?P<string>" + _LITERAL + rb")"
    rb"|(?<![\w./#])(?P<ref>\d+) 0 R\b"
    rb"|/StructParents?\s+(?P<key>\d+)"
    rb"|/ID\s*\((?P<id>(?:[^\\()]|\\.)*)\)"
    rb"|/Headers\s*\[(?P<headers>(?:\s*" + _LITERAL + rb")*)\s*\]", re.S)
_STRING = re.compile(rb"\(((?:[^\\()]|\\.)*)\)", re.S)
_UNUSUAL = re.compile(rb"/ID\s*<|/Headers\s*\[[^\]]*<")  # hex-string IDs: use the parser


class Output(Protocol):
    """Where copied objects go (pdfjoin.PdfJoiner)."""

    def allocate(self) -> int: ...
    def write_object(self, number: int, body: bytes, compressible: bool = True) -> None: ...


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
        self.parsed: set[int] = set()  # source objects to copy through pypdf (pages)
        self._raw = _object_stream_bytes(reader)
        self._prefix = prefix.encode()

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
            raw = self._raw.get(number) if number not in self.parsed else None
            if raw is not None and not _UNUSUAL.search(raw):
                self.joiner.write_object(self.remap[number], _TOKENS.sub(self._rewrite, raw))
                continue
            obj = self.parse(number)
            if (self.page_hook is not None and isinstance(obj, DictionaryObject)
                    and obj.get("/Type") == "/Page"):
                obj = self.page_hook(number, obj)
            self.joiner.write_object(self.remap[number], self.dump(obj),
                                     not isinstance(obj, StreamObject))

    def share_streams(self, shared: dict[bytes, int]) -> None:
        """Map each stream of the source that is byte-identical to one already written (the same
        font subset or CMap in another chunk) onto that one; record the others in ``shared``."""
        for number in list(self.reader.xref.get(0, {})):
            if number in self.special or number in self._raw:
                continue
            obj = self.reader.get_object(number)
            if (not isinstance(obj, StreamObject) or obj.get("/Type") in ("/XRef", "/ObjStm")
                    or any(isinstance(v, IndirectObject) for v in obj.values())):
                continue
            key = md5(self.dump(obj), usedforsecurity=False).digest()
            found = shared.get(key)
            if found is not None:
                self.special[number] = found
            else:
                shared[key] = self.ref(number)

    def parse(self, number: int) -> Any:
        """Source object ``number``, parsed alone (pypdf would parse its whole object stream)."""
        raw = self._raw.get(number)
        if raw is None:
            return self.reader.get_object(number)
        return read_object(io.BytesIO(raw), self.reader)

    def resolve(self, value: Any) -> Any:
        """``value``, or the object it refers to."""
        return self.parse(value.idnum) if isinstance(value, IndirectObject) else value

    def _rewrite(self, match: re.Match[bytes]) -> bytes:
        """One token of a raw object: references renumbered, keys and IDs shifted."""
        kind = match.lastgroup
        if kind == "ref":
            return b"%d 0 R" % self.ref(int(match["ref"]))
        if kind == "key":
            return match[0][:match.start("key") - match.start()] + b"%d" % (
                int(match["key"]) + self.key_offset)
        if kind == "id":
            return b"/ID (" + self._prefix + match["id"] + b")"
        if kind == "headers":
            return b"/Headers [" + _STRING.sub(
                lambda m: b"(" + self._prefix + m[1] + b")", match["headers"]) + b"]"
        return match[0]

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


def _object_stream_bytes(reader: PdfReader) -> dict[int, bytes]:
    """The serialized bytes of every object stored in the source's object streams."""
    found: dict[int, bytes] = {}
    for stream_number in {where[0] for where in reader.xref_objStm.values()}:
        stream = reader.get_object(stream_number)
        if not isinstance(stream, StreamObject):
            continue
        data, first = stream.get_data(), int(str(stream["/First"]))
        head = data[:first].split()
        numbers = [int(n) for n in head[::2]]
        starts = [first + int(offset) for offset in head[1::2]]
        for number, start, end in zip(numbers, starts, [*starts[1:], len(data)], strict=True):
            found[number] = data[start:end].strip()
    return found


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


