"""A PDF written page by page to its file, for the volume's fixed-layout copy (`exports.pdfcopy`).

reportlab's canvas keeps every page of a document in memory until it is saved (at 100k items, some
400 MB); this writer sends each page's content stream and page object to the file as soon as the page is
done and keeps only their offsets, so memory stays flat however many pages a volume has. It writes text and
ruled lines only, in one TrueType font embedded as subsets of 256 glyphs each (reportlab's subsetting, its
ToUnicode maps and widths, so the text stays extractable); the pages share one resource dictionary, written
last with the fonts, the page tree, the catalogue and the cross-reference table.
"""

from __future__ import annotations

import hashlib
import zlib
from array import array
from typing import Any

CATALOG, PAGES, RESOURCES, INFO = 1, 2, 3, 4  # reserved object numbers, written at the end


def pdf_string(data: bytes) -> bytes:
    """A literal string: backslash, parentheses and line ends escaped (a raw CR would be read as LF)."""
    if b"\\" in data:
        data = data.replace(b"\\", b"\\\\")
    return (
        b"("
        + data.replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b"\\r").replace(b"\n", b"\\n")
        + b")"
    )


def _text_string(text: str) -> bytes:
    """A document-information string: PDFDocEncoding-free, as UTF-16BE with its byte order mark."""
    return pdf_string(b"\xfe\xff" + text.encode("utf-16-be"))


class PageWriter:
    """Pages of text and lines in one embedded TrueType font (`font`: a registered reportlab TTFont)."""

    def __init__(self, path: str, font: Any, *, title: str, author: str, creator: str) -> None:
        self.fh = open(path, "wb")  # noqa: SIM115 — closed in close()
        self.font = font
        self.info = (title, author, creator)
        self.offsets = array("q", [0] * (INFO + 1))  # offsets[n]: where object n starts
        self.pages = array("q")
        self.pos = 0
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        self._runs: dict[str, list[tuple[int, bytes]]] = {}

    def _write(self, data: bytes) -> None:
        self.fh.write(data)
        self.pos += len(data)

    def _object(self, body: bytes, number: int | None = None) -> int:
        if number is None:
            number = len(self.offsets)
            self.offsets.append(self.pos)
        else:
            self.offsets[number] = self.pos
        self._write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        return number

    def _stream(self, data: bytes, extra: bytes = b"") -> int:
        packed = zlib.compress(data, 6)
        return self._object(
            b"<< /Length %d /Filter /FlateDecode%s >>\nstream\n%s\nendstream" % (len(packed), extra, packed)
        )

    def show(self, text: str, size: float) -> str:
        """The content operators that show `text` at the current text position (font switches included)."""
        runs = self._runs.get(text)
        if runs is None:
            runs = self.font.splitString(text, self)  # this writer is the "document" of the subset state
            if len(self._runs) < 20000:  # labels and headings recur on every page
                self._runs[text] = runs
        return "".join(
            f"/F{subset} {size:g} Tf {pdf_string(codes).decode('latin-1')} Tj " for subset, codes in runs
        )

    def page(self, width: float, height: float, content: str) -> None:
        """Write one page (its content stream, then the page object)."""
        contents = self._stream(content.encode("latin-1"))
        self.pages.append(
            self._object(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %s %s] /Resources %d 0 R /Contents %d 0 R >>"
                % (PAGES, _num(width), _num(height), RESOURCES, contents)
            )
        )

    def close(self) -> None:
        """Write the fonts, the shared resources, the page tree, the catalogue, the trailer; close the file."""
        from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, SUBSETN, makeToUnicodeCMap

        face = self.font.face
        state = self.font.state.get(self)
        subsets = state.subsets if state is not None else []
        fonts = []
        flags = (face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC
        for n, subset in enumerate(subsets):
            name = b"".join((SUBSETN(n), b"+", face.name, face.subfontNameX))
            program = face.makeSubset(subset)
            font_file = self._stream(program, b" /Length1 %d" % len(program))
            descriptor = self._object(
                b"<< /Type /FontDescriptor /FontName /%s /Flags %d /FontBBox [%s] /ItalicAngle %s"
                b" /Ascent %s /Descent %s /CapHeight %s /StemV %s /MissingWidth %s /FontFile2 %d 0 R >>"
                % (
                    name,
                    flags,
                    b" ".join(_num(v) for v in face.bbox),
                    _num(face.italicAngle),
                    _num(face.ascent),
                    _num(face.descent),
                    _num(face.capHeight),
                    _num(face.stemV),
                    _num(face.defaultWidth),
                    font_file,
                )
            )
            cmap = self._stream(makeToUnicodeCMap(name.decode("latin-1"), subset).encode("latin-1"))
            widths = b" ".join(_num(face.getCharWidth(code)) for code in subset)
            fonts.append(
                self._object(
                    b"<< /Type /Font /Subtype /TrueType /BaseFont /%s /FirstChar 0 /LastChar %d /Widths [%s]"
                    b" /FontDescriptor %d 0 R /ToUnicode %d 0 R >>"
                    % (name, len(subset) - 1, widths, descriptor, cmap)
                )
            )
        self.font.state.pop(self, None)
        refs = b" ".join(b"/F%d %d 0 R" % (n, obj) for n, obj in enumerate(fonts))
        self._object(b"<< /Font << %s >> /ProcSet [/PDF /Text] >>" % refs, RESOURCES)
        kids = b" ".join(b"%d 0 R" % p for p in self.pages)
        self._object(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self.pages)), PAGES)
        self._object(b"<< /Type /Catalog /Pages %d 0 R >>" % PAGES, CATALOG)
        title, author, creator = self.info
        self._object(
            b"<< /Title %s /Author %s /Creator %s >>"
            % (_text_string(title), _text_string(author), _text_string(creator)),
            INFO,
        )
        xref = self.pos
        out = [b"xref\n0 %d\n0000000000 65535 f \n" % len(self.offsets)]
        out += [b"%010d 00000 n \n" % off for off in self.offsets[1:]]
        ident = hashlib.md5(  # noqa: S324 — a file identifier, not a security measure
            b"%s|%d|%d" % (title.encode(), len(self.pages), self.pos)
        ).hexdigest()
        out.append(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self.offsets), CATALOG, INFO, ident.encode(), ident.encode(), xref)
        )
        self._write(b"".join(out))
        self.fh.close()


def _num(v: float) -> bytes:
    """A PDF number: integers as such, others to two decimals."""
    if float(v).is_integer():
        return b"%d" % int(v)
    return b"%.2f" % v
