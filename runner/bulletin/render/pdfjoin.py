"""Join tagged PDF chunks into one tagged PDF, streaming: each chunk's objects are copied to the
output as they are read, so memory holds one chunk, not the document.

The chunks' structure trees become one (one /Document element, one ParentTree with the keys
renumbered), their pages one page tree. Each page may get a stamp: a page of an overlay PDF
drawn on top as a Form XObject marked as an /Artifact (used for "page X of Y").

Non-stream objects are written in compressed object streams of at most _BATCH objects and the
cross-reference table is a stream (PDF 1.5): most of a tagged PDF is structure elements, which
compress well; written plain, they made the joined file several times the chunks' size.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable
from hashlib import md5
from pathlib import Path
from typing import IO, Any

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
)

from bulletin.render.pdfcopy import Copier, plain

_CATALOG, _PAGES, _STRUCT_ROOT, _DOCUMENT, _PARENT_TREE, _INFO, _OPEN, _STAMP = range(1, 9)
_STAMP_NAME = "/BulletinStamp"
_BATCH = 1000  # objects per object stream


class PdfJoiner:
    """Writes one PDF from tagged chunks added in page order; :meth:`close` finishes it."""

    def __init__(self, path: Path) -> None:
        self._out: IO[bytes] = path.open("wb")
        self._offsets = array("Q", [0] * (_STAMP + 1))  # file offset, or index in its stream
        self._stream_of = array("Q", [0] * (_STAMP + 1))  # object stream holding it, or 0
        self._batch: list[tuple[int, bytes]] = []
        self._shared: dict[bytes, int] = {}  # digest of a stream -> its output object
        self._pos = 0
        self._kids = array("Q")  # page object numbers
        self._document_kids = array("Q")
        self._nums = array("Q")  # ParentTree key, object number, ...
        self._next_key = 0
        self._chunks = 0
        self._catalog_extra = b""
        self._info = b"<<>>"
        self._emit(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)

    def allocate(self) -> int:
        """A new object number."""
        self._offsets.append(0)
        self._stream_of.append(0)
        return len(self._offsets) - 1

    def write_object(self, number: int, body: bytes, compressible: bool = True) -> None:
        """Write object ``number``: a stream at the current position, anything else into the
        next object stream."""
        if not compressible:
            self._offsets[number] = self._pos
            self._emit(b"%d 0 obj\n" % number + body + b"\nendobj\n")
            return
        self._batch.append((number, body))
        if len(self._batch) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        stream = self.allocate()
        head, bodies, offset = [], [], 0
        for index, (number, body) in enumerate(self._batch):
            head.append(b"%d %d" % (number, offset))
            bodies.append(body)
            offset += len(body) + 1
            self._offsets[number] = index
            self._stream_of[number] = stream
        first = b" ".join(head) + b"\n"
        data = zlib.compress(first + b"\n".join(bodies), 6)
        self._batch = []
        self.write_object(stream, b"<</Type/ObjStm/N %d/First %d/Filter/FlateDecode/Length %d>>"
                          b"\nstream\n" % (len(head), len(first), len(data))
                          + data + b"\nendstream", compressible=False)

    @property
    def pages(self) -> int:
        return len(self._kids)

    def add(self, chunk: Path, overlay: Path | None = None) -> None:
        """Append the pages of ``chunk``; page i gets page i of ``overlay`` drawn on top."""
        reader = PdfReader(chunk)
        special: dict[int, int] = {}
        copier = Copier(self, reader, special, f"c{self._chunks}-", self._next_key)
        root = reader.trailer.raw_get("/Root")
        special[root.idnum] = _CATALOG
        catalog = copier.parse(root.idnum)
        copier.share_streams(self._shared)
        page_numbers: list[int] = []
        self._collect_page_nodes(copier, catalog.raw_get("/Pages"), special, page_numbers)
        tree_ref = catalog.raw_get("/StructTreeRoot") if "/StructTreeRoot" in catalog else None
        tree = copier.parse(tree_ref.idnum) if tree_ref is not None else DictionaryObject()
        document: DictionaryObject | None = None
        if tree_ref is not None:
            special[tree_ref.idnum] = _STRUCT_ROOT
            kids = copier.resolve(tree.raw_get("/K")) if "/K" in tree else None
            if isinstance(kids, ArrayObject) and len(kids) == 1:
                kids = kids[0]
            if isinstance(kids, IndirectObject):
                special[kids.idnum] = _DOCUMENT
                found = copier.parse(kids.idnum)
                document = found if isinstance(found, DictionaryObject) else None
        stamps = self._stamps(overlay) if overlay is not None else []
        copier.page_hook = self._page_hook(copier, page_numbers, stamps)
        copier.parsed.update(page_numbers)
        for number in page_numbers:
            self._kids.append(copier.ref(number))
        if document is not None:
            elements = copier.resolve(document.raw_get("/K")) if "/K" in document else None
            for element in elements if isinstance(elements, ArrayObject) else [elements]:
                if isinstance(element, IndirectObject):
                    self._document_kids.append(copier.ref(element.idnum))
        self._copy_parent_tree(copier, tree)
        if self._chunks == 0:
            self._first_chunk(copier, reader, catalog)
        copier.drain()
        self._chunks += 1

    def _collect_page_nodes(self, copier: Copier, node_ref: Any, special: dict[int, int],
                            pages: list[int]) -> None:
        """Map the page tree's nodes onto the output's; list the pages in order."""
        special[node_ref.idnum] = _PAGES
        for kid in copier.resolve(copier.parse(node_ref.idnum).raw_get("/Kids")) or ():
            if copier.parse(kid.idnum).get("/Type") == "/Pages":
                self._collect_page_nodes(copier, kid, special, pages)
            else:
                pages.append(kid.idnum)

    def _copy_parent_tree(self, copier: Copier, tree: DictionaryObject) -> None:
        parent_tree = copier.resolve(tree.raw_get("/ParentTree")) if "/ParentTree" in tree else None
        if not isinstance(parent_tree, DictionaryObject):
            return
        nums = copier.resolve(parent_tree.raw_get("/Nums")) if "/Nums" in parent_tree else []
        highest = -1
        for key, value in zip(nums[::2], nums[1::2], strict=False):
            number = int(key)
            highest = max(highest, number)
            if isinstance(value, IndirectObject):
                target = copier.ref(value.idnum)
            else:
                target = self.allocate()
                self.write_object(target, copier.dump(value))
            self._nums.extend((number + copier.key_offset, target))
        self._next_key += highest + 1

    def _first_chunk(self, copier: Copier, reader: PdfReader, catalog: DictionaryObject) -> None:
        extra = []
        for key in ("/Lang", "/Metadata", "/Outlines", "/PageMode"):
            if key in catalog:
                extra.append(plain(NameObject(key)) + b" " + copier.dump(catalog.raw_get(key)))
        self._catalog_extra = b" ".join(extra)
        info = reader.trailer.raw_get("/Info") if "/Info" in reader.trailer else None
        if info is not None:
            self._info = copier.dump(copier.resolve(info))

    def _stamps(self, overlay: Path) -> list[int]:
        """One Form XObject per overlay page; returns their object numbers."""
        reader = PdfReader(overlay)
        copier = Copier(self, reader, {}, "", 0)
        copier.share_streams(self._shared)
        forms = []
        for page in reader.pages:
            contents = page.get("/Contents")
            parts = contents.get_object() if contents is not None else ArrayObject()
            streams = parts if isinstance(parts, ArrayObject) else [parts]
            data = zlib.compress(b"\n".join(s.get_object().get_data() for s in streams))
            box = copier.dump(page.mediabox)
            resources = copier.dump(page.get("/Resources", DictionaryObject()))
            number = self.allocate()
            self.write_object(number, b"<</Type/XObject/Subtype/Form/BBox " + box
                              + b"/Resources " + resources
                              + b"/Filter/FlateDecode/Length %d>>\nstream\n" % len(data)
                              + data + b"\nendstream", compressible=False)
            forms.append(number)
        copier.drain()
        return forms

    def _page_hook(self, copier: Copier, page_numbers: list[int],
                   stamps: list[int]) -> Callable[[int, DictionaryObject], DictionaryObject]:
        order = {number: i for i, number in enumerate(page_numbers)}

        def hook(number: int, page: DictionaryObject) -> DictionaryObject:
            index = order.get(number)
            if index is None or index >= len(stamps):
                return page
            page = DictionaryObject(page)
            contents = page.raw_get("/Contents")
            streams = contents if isinstance(contents, ArrayObject) else ArrayObject([contents])
            page[NameObject("/Contents")] = ArrayObject(
                [IndirectObject(-_OPEN, 0, copier.reader), *streams,
                 IndirectObject(-_STAMP, 0, copier.reader)])
            resources = DictionaryObject(copier.resolve(page.raw_get("/Resources"))
                                         if "/Resources" in page else {})
            xobjects = DictionaryObject(copier.resolve(resources.raw_get("/XObject"))
                                        if "/XObject" in resources else {})
            xobjects[NameObject(_STAMP_NAME)] = IndirectObject(-stamps[index], 0, copier.reader)
            resources[NameObject("/XObject")] = xobjects
            page[NameObject("/Resources")] = resources
            return page

        for fixed in (_OPEN, _STAMP, *stamps):  # negative numbers name output objects directly
            copier.special[-fixed] = fixed
        return hook

    def close(self, title: str = "") -> None:
        """Write the catalog, page tree, structure tree, cross-reference table and trailer."""
        self.write_object(_OPEN, b"<</Length 2>>\nstream\nq\n\nendstream", compressible=False)
        stamp = b"\nQ\n/Artifact BMC\nq " + _STAMP_NAME.encode() + b" Do Q\nEMC\n"
        self.write_object(_STAMP, b"<</Length %d>>\nstream\n" % len(stamp) + stamp
                          + b"\nendstream", compressible=False)
        kids = b" ".join(b"%d 0 R" % n for n in self._kids)
        self.write_object(_PAGES, b"<</Type/Pages/Count %d/Kids[%s]>>" % (len(self._kids), kids))
        elements = b" ".join(b"%d 0 R" % n for n in self._document_kids)
        self.write_object(_DOCUMENT, b"<</Type/StructElem/S/Document/P %d 0 R/K[%s]>>"
                          % (_STRUCT_ROOT, elements))
        nums = b" ".join(b"%d %d 0 R" % (self._nums[i], self._nums[i + 1])
                         for i in range(0, len(self._nums), 2))
        self.write_object(_PARENT_TREE, b"<</Nums[%s]>>" % nums)
        self.write_object(_STRUCT_ROOT, b"<</Type/StructTreeRoot/K %d 0 R/ParentTree %d 0 R"
                          b"/ParentTreeNextKey %d>>" % (_DOCUMENT, _PARENT_TREE, self._next_key))
        self.write_object(_INFO, self._info)
        self.write_object(_CATALOG, b"<</Type/Catalog/Pages %d 0 R/StructTreeRoot %d 0 R"
                          b"/MarkInfo<</Marked true>>/ViewerPreferences<</DisplayDocTitle true>> "
                          % (_PAGES, _STRUCT_ROOT) + self._catalog_extra + b">>")
        self._flush()
        xref_number = self.allocate()
        xref = self._pos
        self._offsets[xref_number] = xref
        size = len(self._offsets)
        rows = bytearray(b"\x00" + (0).to_bytes(5) + b"\xff\xff")
        for n in range(1, size):
            stream = self._stream_of[n]
            rows += (b"\x02" + stream.to_bytes(5) + self._offsets[n].to_bytes(2) if stream
                     else b"\x01" + self._offsets[n].to_bytes(5) + b"\x00\x00")
        data = zlib.compress(bytes(rows), 6)
        ident = md5(f"{title}{size}{xref}".encode(), usedforsecurity=False).hexdigest().encode()
        self._emit(b"%d 0 obj\n<</Type/XRef/Size %d/W[1 5 2]/Root %d 0 R/Info %d 0 R"
                   b"/ID[<%s><%s>]/Filter/FlateDecode/Length %d>>\nstream\n"
                   % (xref_number, size, _CATALOG, _INFO, ident, ident, len(data))
                   + data + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref)
        self._out.close()
