"""Ebook files in the catalogue, plan benefits, and the sample EPUB and PDF files."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from shop.catalogue import DEFAULT_EBOOK_DIR, CatalogueError, load_catalogue, parse_catalogue
from tests.helpers import ROOT, SHIPPED_CATALOGUE, TEST_CATALOGUE

EBOOK = (
    "books:\n  - key: dune\n    title: Dune\n    author: F. Herbert\n    price: 999\n"
    "    currency: gbp\n    format: ebook\n"
)
PRINT = (
    "  - key: emma\n    title: Emma\n    author: J. Austen\n    price: 500\n"
    "    currency: gbp\n    format: print\n"
)


def problems_of(text: str, ebook_dir: Path | None = None) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(text, Path("products.yaml"), ebook_dir)
    return [str(p) for p in caught.value.problems]


def test_an_ebook_names_its_files_with_their_media_types(tmp_path: Path) -> None:
    (tmp_path / "dune.epub").write_bytes(b"x")
    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "dune.pdf").write_bytes(b"x")
    text = (
        EBOOK + "    files: [{format: epub, path: dune.epub}, {format: pdf, path: pdf/dune.pdf}]\n"
    )
    (book,) = parse_catalogue(text, Path("p.yaml"), tmp_path).books
    assert [(f.format, f.path, f.media_type) for f in book.files] == [
        ("epub", "dune.epub", "application/epub+zip"),
        ("pdf", "pdf/dune.pdf", "application/pdf"),
    ]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (None, "books[dune]: files: an ebook needs at least one file"),
        ("[]", "books[dune]: files: an ebook needs at least one file"),
        (
            "[{format: mobi, path: dune.mobi}]",
            "books[dune]: files[0].format: unknown format 'mobi'",
        ),
        ("[{format: epub}]", "books[dune]: files[0]: must have exactly a format and a path"),
        ("[{format: epub, path: ../secret}]", "books[dune]: files[0].path: must be a path inside"),
        (
            "[{format: epub, path: /etc/passwd}]",
            "books[dune]: files[0].path: must be a path inside",
        ),
        (
            "[{format: epub, path: a.epub}, {format: epub, path: b.epub}]",
            "books[dune]: files[1].format: a second epub file",
        ),
    ],
)
def test_a_bad_ebook_file_list_is_named(files: str | None, expected: str) -> None:
    text = EBOOK + (f"    files: {files}\n" if files is not None else "")
    found = problems_of(text)
    assert any(p.startswith(expected) for p in found), found


def test_a_missing_file_is_named_when_the_folder_is_checked(tmp_path: Path) -> None:
    text = EBOOK + "    files: [{format: epub, path: dune.epub}]\n"
    assert problems_of(text, tmp_path) == [
        f"books[dune]: files[0].path: dune.epub is not in {tmp_path.name}/"
    ]


def test_a_printed_book_has_no_files() -> None:
    text = "books:\n" + PRINT + "    files: [{format: pdf, path: emma.pdf}]\n"
    assert problems_of(text) == ["books[emma]: files: only ebooks have files"]


PLAN = "plans:\n  - key: club\n    name: Club\n    currency: gbp\n    prices: {month: 500}\n"
GOOD_BOOKS = EBOOK + "    files: [{format: epub, path: dune.epub}]\n" + PRINT


def test_plans_name_their_benefits() -> None:
    text = GOOD_BOOKS + PLAN + "    benefits: {print_discount: 15, ebooks: [dune]}\n"
    catalogue = parse_catalogue(text, Path("p.yaml"))
    (plan,) = catalogue.plans
    assert (plan.benefits.print_discount, plan.benefits.ebooks) == (15, ("dune",))
    coupon = catalogue.print_coupon(plan)
    assert coupon is not None
    assert coupon.product_ids == ("quire_book_emma",)
    assert re.fullmatch(r"quire_plan_club_print_15_[0-9a-f]{8}", coupon.id)
    assert coupon.discount_on(1299) == 195  # 194.85 rounded


@pytest.mark.parametrize(
    ("benefits", "expected"),
    [
        (
            "{print_discount: 0}",
            "plans[club]: benefits.print_discount: must be a whole percentage, 1 to 100",
        ),
        (
            "{print_discount: 101}",
            "plans[club]: benefits.print_discount: must be a whole percentage",
        ),
        (
            "{print_discount: 12.5}",
            "plans[club]: benefits.print_discount: must be a whole percentage",
        ),
        ("{ebooks: [nope]}", "plans[club]: benefits.ebooks: 'nope' is not a book in the catalogue"),
        (
            "{ebooks: [emma]}",
            "plans[club]: benefits.ebooks: 'emma' is a printed book, not an ebook",
        ),
        ("{free_tea: 1}", "plans[club]: benefits.free_tea: is not a known benefit"),
    ],
)
def test_bad_benefits_are_named(benefits: str, expected: str) -> None:
    found = problems_of(GOOD_BOOKS + PLAN + f"    benefits: {benefits}\n")
    assert any(p.startswith(expected) for p in found), found


def test_the_shipped_and_test_catalogues_name_files_that_exist() -> None:
    for path in (SHIPPED_CATALOGUE, TEST_CATALOGUE):
        catalogue = load_catalogue(path)
        ebooks = [b for b in catalogue.books if b.format == "ebook"]
        assert ebooks and all({f.format for f in b.files} == {"epub", "pdf"} for b in ebooks)
    reader = load_catalogue(SHIPPED_CATALOGUE).plan("reader")
    assert reader is not None and reader.benefits.print_discount == 10
    assert "10% off every printed book" in reader.features


# --- The sample files ------------------------------------------------------------------


def xml(data: bytes) -> ElementTree.Element:
    """Parse XML the project wrote itself (the sample files), failing if malformed."""
    return ElementTree.fromstring(data)  # noqa: S314 - our own files, not untrusted input


def sample_files() -> list[tuple[str, str, str, str]]:
    """(path, format, title, author) of every file the shipped catalogue names."""
    catalogue = load_catalogue(SHIPPED_CATALOGUE)
    return [(f.path, f.format, b.title, b.author) for b in catalogue.books for f in b.files]


def test_each_sample_epub_is_a_valid_epub_of_its_book() -> None:
    epubs = [s for s in sample_files() if s[1] == "epub"]
    assert len(epubs) == 3
    for path, _, title, author in epubs:
        with zipfile.ZipFile(DEFAULT_EBOOK_DIR / path) as epub:
            first = epub.infolist()[0]
            assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
            assert epub.read("mimetype") == b"application/epub+zip"
            container = xml(epub.read("META-INF/container.xml"))
            ns = {"c": "urn:oasis:names:tc:opendocument:xmlns:container"}
            opf_path = container.find(".//c:rootfile", ns).get("full-path")  # type: ignore[union-attr]
            opf = xml(epub.read(opf_path))
            ns = {"o": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
            assert opf.findtext(".//dc:title", namespaces=ns) == title
            assert opf.findtext(".//dc:creator", namespaces=ns) == author
            assert opf.find(".//o:meta[@property='dcterms:modified']", ns) is not None
            base = opf_path.rsplit("/", 1)[0]
            hrefs = [i.get("href") for i in opf.findall(".//o:manifest/o:item", ns)]
            for href in hrefs:
                xml(epub.read(f"{base}/{href}"))  # well-formed XHTML
            chapter = epub.read(f"{base}/chapter-1.xhtml").decode()
            assert title.replace("'", "&#x27;") in chapter and author in chapter


def test_each_sample_pdf_is_a_valid_pdf_of_its_book() -> None:
    pdfs = [s for s in sample_files() if s[1] == "pdf"]
    assert len(pdfs) == 3
    for path, _, title, author in pdfs:
        data = (DEFAULT_EBOOK_DIR / path).read_bytes()
        assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
        startxref = int(data[data.rindex(b"startxref") + 9 :].split()[0])
        assert data[startxref:].startswith(b"xref")
        table = data[startxref:].split(b"trailer")[0].split(b"\n")[3:]
        offsets = [int(row.split()[0]) for row in table if row.strip()]
        for number, offset in enumerate(offsets, start=1):
            assert data[offset:].startswith(b"%d 0 obj" % number)
        escaped = title.replace("(", "\\(").replace(")", "\\)")
        assert f"({escaped}) Tj".encode("cp1252") in data and f"({author}) Tj".encode() in data
        length = int(data.split(b"/Length ")[1].split()[0])
        stream = data.split(b"stream\n", 1)[1]
        assert stream[length:].startswith(b"\nendstream")


def test_the_script_reproduces_the_committed_samples(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/make_sample_ebooks.py", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(path for path, *_ in sample_files())
    for name in made:
        assert (tmp_path / name).read_bytes() == (DEFAULT_EBOOK_DIR / name).read_bytes(), name


def test_the_ebook_folder_and_grace_period_are_settings(tmp_path: Path) -> None:
    from config import ConfigError, Settings

    env = {"SECRET_KEY": "dev", "STRIPE_SECRET_KEY": "sk_test_x"}
    default = Settings.from_env(env).as_flask_config()
    assert (default["EBOOK_DIR"], default["MEMBER_GRACE_DAYS"]) == (str(DEFAULT_EBOOK_DIR), 7)
    chosen = Settings.from_env({**env, "EBOOK_DIR": str(tmp_path), "MEMBER_GRACE_DAYS": "3"})
    assert (chosen.ebook_dir, chosen.member_grace_days) == (tmp_path, 3)
    with pytest.raises(ConfigError, match="MEMBER_GRACE_DAYS must be a whole number"):
        Settings.from_env({**env, "MEMBER_GRACE_DAYS": "a week"})
