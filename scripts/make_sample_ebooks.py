"""Write Quire's sample ebook files: `make sample-ebooks`.

For every ebook in the catalogue, each file it names (`files: [{format: epub, path: …}]`)
is written into the ebook folder (`shop/ebooks/` unless `--out` says otherwise): a minimal
valid EPUB 3 (a zip whose first entry is the stored `mimetype`, then `container.xml`, the
OPF package, a navigation document and one XHTML chapter) and a minimal valid PDF (one
page), each giving the book's title, author and description.

The output is deterministic — fixed zip timestamps and order, no compression, no dates
from the clock — so running the script again reproduces the committed files byte for
byte (`tests/test_ebooks.py` checks it).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import zipfile
from collections.abc import Callable
from html import escape
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shop.catalogue import DEFAULT_EBOOK_DIR, Book, parse_catalogue  # noqa: E402

#: Every zip entry carries this timestamp, so the bytes never depend on the clock.
ZIP_TIME = (2026, 1, 1, 0, 0, 0)
#: The EPUB's `dcterms:modified`, fixed for the same reason.
MODIFIED = "2026-01-01T00:00:00Z"

CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""


def _opf(book: Book) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="book-id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="book-id">urn:quire:{escape(book.key)}</dc:identifier>
    <dc:title>{escape(book.title)}</dc:title>
    <dc:creator>{escape(book.author)}</dc:creator>
    <dc:language>en</dc:language>
    <dc:description>{escape(book.description)}</dc:description>
    <meta property="dcterms:modified">{MODIFIED}</meta>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="chapter-1" href="chapter-1.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine>
    <itemref idref="chapter-1"/>
  </spine>
</package>
"""


def _nav(book: Book) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="en">
<head><title>{escape(book.title)}</title></head>
<body>
  <nav epub:type="toc" id="toc">
    <ol><li><a href="chapter-1.xhtml">{escape(book.title)}</a></li></ol>
  </nav>
</body>
</html>
"""


def _chapter(book: Book) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head><title>{escape(book.title)}</title></head>
<body>
  <h1>{escape(book.title)}</h1>
  <p class="author">{escape(book.author)}</p>
  <p>{escape(book.description)}</p>
  <p>A sample edition from Quire.</p>
</body>
</html>
"""


def epub_bytes(book: Book) -> bytes:
    """A minimal valid EPUB 3 of `book`: `mimetype` first and stored, as the spec requires."""
    entries = [
        ("mimetype", "application/epub+zip"),
        ("META-INF/container.xml", CONTAINER),
        ("OEBPS/content.opf", _opf(book)),
        ("OEBPS/nav.xhtml", _nav(book)),
        ("OEBPS/chapter-1.xhtml", _chapter(book)),
    ]
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def _pdf_text(text: str) -> str:
    """Text as a PDF string literal's contents (WinAnsi, with its specials escaped)."""
    encoded = text.encode("cp1252", errors="replace").decode("latin-1")
    return encoded.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(book: Book) -> bytes:
    """A minimal valid one-page PDF of `book`, with a correct cross-reference table."""
    lines = [("F2", 20, book.title), ("F1", 13, book.author), ("F1", 11, "")]
    lines += [("F1", 11, line) for line in textwrap.wrap(book.description, 80)]
    lines += [("F1", 11, ""), ("F1", 11, "A sample edition from Quire.")]
    commands = ["BT", "72 770 Td"]
    for font, size, line in lines:
        commands += [f"/{font} {size} Tf", f"({_pdf_text(line)}) Tj", f"0 -{size + 8} Td"]
    commands.append("ET")
    stream = "\n".join(commands).encode("latin-1")
    fonts = "/Encoding /WinAnsiEncoding"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica {fonts} >>".encode(),
        f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold {fonts} >>".encode(),
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        f"<< /Title ({_pdf_text(book.title)}) /Author ({_pdf_text(book.author)}) >>".encode(
            "latin-1"
        ),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (
        len(objects) + 1,
        len(objects),
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


WRITERS: dict[str, Callable[[Book], bytes]] = {"epub": epub_bytes, "pdf": pdf_bytes}


def write_samples(catalogue_path: Path, out: Path) -> list[Path]:
    """Write every ebook file the catalogue names into `out`; the paths written."""
    catalogue = parse_catalogue(catalogue_path.read_text(encoding="utf-8"), catalogue_path)
    written = []
    for book in catalogue.books:
        for file in book.files:
            target = out / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(WRITERS[file.format](book))
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogue", type=Path, default=ROOT / "products.yaml")
    parser.add_argument("--out", type=Path, default=DEFAULT_EBOOK_DIR)
    args = parser.parse_args(argv)
    for path in write_samples(args.catalogue, args.out):
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
