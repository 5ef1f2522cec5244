"""What a file may be: the one rule that decides an upload's type, from its bytes alone.

Never from its name or the Content-Type the client sent: a page script named `photo.jpg` is still
a page script. Accepted: JPEG, PNG, WebP, GIF, HEIC/HEIF (photos, re-encoded by elako/imaging.py),
PDF, plain text, CSV, DOCX and XLSX. Anything that a browser could take for a document with
script in it (HTML, SVG, XML) is refused whatever it is called.
"""

import csv
import io
import re
import zipfile
from dataclasses import dataclass

from ..errors import UnsupportedMediaType

ACCEPTED_LABEL = "photos (JPEG, PNG, WebP, GIF, HEIC), PDF, text, CSV, Word (.docx) and Excel (.xlsx)"
# What the file input offers (phones then offer the camera too); the server decides regardless.
ACCEPT_ATTRIBUTE = "image/*,.heic,.heif,.pdf,.txt,.csv,.docx,.xlsx"
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
# Markup a browser would render (and run) if it ever sniffed a text file as a document.
MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|\?xml|!entity|"
                    rb"object|embed|meta|link|style|img|a\s)", re.IGNORECASE)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class FileType:
    kind: str  # "image" (re-encoded before storing) or "file" (stored as sent)
    content_type: str
    extension: str


IMAGE_TYPES = {
    "jpeg": FileType("image", "image/jpeg", ".jpg"),
    "png": FileType("image", "image/png", ".png"),
    "webp": FileType("image", "image/webp", ".webp"),
    "gif": FileType("image", "image/gif", ".gif"),
    "heif": FileType("image", "image/heif", ".heic"),
}
PDF = FileType("file", "application/pdf", ".pdf")
TEXT = FileType("file", "text/plain; charset=utf-8", ".txt")
CSV = FileType("file", "text/csv; charset=utf-8", ".csv")


def unsupported():
    return UnsupportedMediaType(f"This type of file can’t be sent. You can send {ACCEPTED_LABEL}.",
                                code="unsupported_file_type", field="file")


def identify(data):
    """The FileType of `data`, or UnsupportedMediaType (415 `unsupported_file_type`)."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return IMAGE_TYPES["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return IMAGE_TYPES["png"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return IMAGE_TYPES["webp"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return IMAGE_TYPES["gif"]
    if head[4:8] == b"ftyp" and (head[8:12] in HEIF_BRANDS or any(
            head[i:i + 4] in HEIF_BRANDS for i in range(16, min(len(head), 40), 4))):
        return IMAGE_TYPES["heif"]
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _office_document(data)
    return _text(data)


def _office_document(data):
    """DOCX or XLSX: a ZIP whose parts say which. Only the directory is read, nothing unpacked."""
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise unsupported() from None
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return FileType("file", DOCX, ".docx")
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        return FileType("file", XLSX, ".xlsx")
    raise unsupported()


def _text(data):
    """UTF-8 text without control bytes and without markup: CSV when its lines agree on a
    delimiter, else plain text."""
    if b"\x00" in data:
        raise unsupported()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unsupported() from None
    if not text.strip() or any(ord(c) < 32 and c not in "\t\r\n\f" for c in text[:8192]):
        raise unsupported()
    if text.lstrip().startswith("<") or MARKUP.search(data[:4096]):
        raise unsupported()
    return CSV if _looks_like_csv(text) else TEXT


def _looks_like_csv(text):
    lines = [line for line in text[:8192].splitlines() if line.strip()][:20]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines, dialect)}
    return len(widths) == 1 and widths.pop() > 1
