"""CSV imports from other systems (POS, e-commerce, CRM): members, transactions, referrals,
activities and blacklist entries.

A file is imported whole or not at all, and importing it again changes nothing. Each import
runs in one transaction, in three steps, the same for every kind:

1. stage: stream the file once (any size: memory stays flat), convert each value in Python
   (the one place for each parsing rule: ``loyalty.money``, ``loyalty.dates`` and the
   converters below) and write the rows, chunk by chunk, into a temporary staging table (COPY on
   PostgreSQL, ``executemany`` on SQLite), a row that did not convert with its problems;
2. check: set-based SQL over the staging table finds what needs the whole file or the database
   (an identity repeated in the file, unknown members, a known identity with different data,
   refunds beyond their purchase's amount ...) and reports every bad row by its line number;
3. write: only when no row is bad, ``INSERT … SELECT`` the new rows.

On PostgreSQL, transactions take a fast path in step 1: a run of lines whose every value is in
a canonical form (``_CANONICAL_*``, strictly narrower than the converters) is handed to ``COPY``
as written and PostgreSQL converts it; what no regex can check (a zero amount, a moment later
than tomorrow) is found in SQL and those lines are staged again the Python way, which names the
problem. Every other line takes the Python way. Both give the same staged rows (tested).

Importing stores facts and evaluates nobody: tiers move at the next evaluation.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import functools
import io
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Model
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext, ngettext_lazy, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from loyalty.bulk import (
    BIG_STATEMENT_SETTINGS,
    KeysSetAside,
    analyze,
    copy_text,
    postgres_settings,
    rows_estimate,
    table_rows_estimate,
)
from loyalty.dates import DateError, parse_date, parse_moment
from loyalty.exceptions import DomainError
from loyalty.models import AuditEntry
from loyalty.money import AmountError, fen_to_yuan, format_yuan, grouped, parse_amount
from loyalty.threads import thread_start
from loyalty.words import clauses, listed

from .contacts import ContactRefused, email_normalised, phone_normalised
from .models import ActivityParticipation, BlacklistEntry, Member, Referral, Transaction
from .services import birthday_refusal, referral_date_refusal, refund_of_refund_refusal

# Every bad row is shown, up to this many; the count of bad rows is always exact.
MAX_SHOWN_ERRORS = 1_000_000
PROGRESS_EVERY = 100_000
# After writing this many rows on PostgreSQL, refresh the table's planner statistics.
_ANALYZE_AFTER = 10_000
# A members or transactions import of at least this many new rows that also at least doubles
# the table writes with the table's indexes and keys set aside (loyalty.bulk.KeysSetAside).
KEYS_ASIDE_MIN_ROWS = 100_000
# PostgreSQL's memory for each sort or hash of an import's checks and writes.
_WORK_MEM = "64MB"
# The PostgreSQL advisory lock key that makes imports run one at a time.
_IMPORT_LOCK = 7_314_001
# How much of the file encoding detection reads.
_SNIFF_BYTES = 1 << 16

Progress = Callable[[str], None]


# The columns as a message names them: the column itself in English (what the header says),
# its name in Chinese.
_COLUMN_NAMES = {
    "member_no": pgettext_lazy("CSV column", "member_no"),
    "name": pgettext_lazy("CSV column", "name"),
    "phone": pgettext_lazy("CSV column", "phone"),
    "email": pgettext_lazy("CSV column", "email"),
    "joined_on": pgettext_lazy("CSV column", "joined_on"),
    "member_type": pgettext_lazy("CSV column", "member_type"),
    "birthday": pgettext_lazy("CSV column", "birthday"),
    "kind": pgettext_lazy("CSV column", "kind"),
    "amount": pgettext_lazy("CSV column", "amount"),
    "occurred_at": pgettext_lazy("CSV column", "occurred_at"),
    "refund_of": pgettext_lazy("CSV column", "refund_of"),
    "referrer_no": pgettext_lazy("CSV column", "referrer_no"),
    "reason": pgettext_lazy("CSV column", "reason"),
    "external_id": pgettext_lazy("CSV column", "external_id"),
    "referred_no": pgettext_lazy("CSV column", "referred_no"),
    "activity": pgettext_lazy("CSV column", "activity"),
}


# The member types files and clients send, and the status each starts a new member with.
MEMBER_STATUS_OF_TYPE = {"regular": Member.Status.ACTIVE, "experience": Member.Status.EXPERIENCE}


def member_type_outdated(member_id: int, stored_status: str, given_status: str) -> bool:
    """Whether a member's type as a file or a client gives it is not compared with the stored
    one: a blacklisted member's is no longer the sender's to state, and an experience member
    converted to a regular one since (``member.convert`` in the audit log) is still
    "experience" in the file (a CRM's daily export). The members import's SQL says the same."""
    if stored_status == Member.Status.BLACKLISTED:
        return True
    return (
        stored_status == Member.Status.ACTIVE
        and given_status == Member.Status.EXPERIENCE
        and AuditEntry.objects.filter(
            target_type=Member._meta.label_lower, target_id=str(member_id), action="member.convert"
        ).exists()
    )


def column_name(column: str) -> str:
    return str(_COLUMN_NAMES.get(column, column))


@functools.cache
def _columns_by_chinese_name() -> dict[str, str]:
    with translation.override("zh-hans"):
        return {str(name): column for column, name in _COLUMN_NAMES.items()}


def header_column(name: str, columns) -> str:
    """The column a header's ``name`` names: itself, in any case (``Member_No``), or its
    Chinese name as the messages give it (``会员编号``: files from Chinese shops' tools). Any
    other name is left as it is, to be reported as unknown."""
    if name in columns:
        return name
    if name.lower() in columns:
        return name.lower()
    return _columns_by_chinese_name().get(name, name)


def chunk_size() -> int:
    """Rows staged at a time (setting ``IMPORT_CHUNK_SIZE``): bounds the memory of an import."""
    return max(1, settings.IMPORT_CHUNK_SIZE)


class ImportFailed(DomainError):
    """The file has bad rows or a bad header; nothing was written.

    ``lines`` are the messages to show, "line N: why" in line order, at most MAX_SHOWN_ERRORS
    of them and then "... and N more"."""

    def __init__(self, bad_rows: int, lines: list[str]):
        self.bad_rows = bad_rows
        self.lines = lines
        super().__init__(
            ngettext(
                "%(count)s bad row; nothing was imported",
                "%(count)s bad rows; nothing was imported",
                bad_rows,
            )
            % {"count": grouped(bad_rows)}
        )


@dataclass(frozen=True)
class ImportResult:
    kind: str
    path: str
    new: int
    existing: int
    seconds: float
    encoding: str = "utf-8"
    chunks: int = 0  # how many chunks the rows were staged in

    def __str__(self) -> str:
        summary = gettext(
            "Imported %(imported)s (%(existing)s already imported) from %(path)s in %(seconds).1f s"
        ) % {
            "imported": _IMPORTERS[self.kind].summary_count
            % {"count": self.new, "grouped": grouped(self.new)},
            "existing": grouped(self.existing),
            "path": self.path,
            "seconds": self.seconds,
        }
        if self.new == 0 and self.existing:
            summary += "\n" + gettext("Nothing changed: 0 new, %(existing)s already imported.") % {
                "existing": grouped(self.existing)
            }
        return summary


def import_csv(
    kind: str,
    path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Import the CSV file at ``path`` as ``kind`` (one of KINDS), all rows or none.

    ``encoding`` (e.g. ``gb18030``) overrides detection: UTF-8 with or without a BOM, else
    GB18030 (which includes GBK and GB2312). Raises ``ImportFailed`` listing the bad rows, or
    ``DomainError`` when the kind is unknown, the file cannot be read, or another import runs."""
    try:
        importer = _IMPORTERS[kind]
    except KeyError:
        raise DomainError(
            gettext('unknown kind "%(kind)s"; choose one of: %(kinds)s')
            % {"kind": kind, "kinds": ", ".join(KINDS)}
        ) from None
    encoding = encoding_named(encoding)
    return importer(Path(path), progress or (lambda message: None), encoding).run()


def encoding_named(encoding: str | None) -> str | None:
    """An ``--encoding`` as Python names it (``GBK`` → ``gbk``); refused when unknown or not an
    encoding of text (``rot13``, ``base64``). UTF-8 reads a byte-order mark too: Excel's
    "CSV UTF-8" starts with one, which would otherwise stick to the first column's name."""
    if encoding is None:
        return None
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise DomainError(
            gettext('unknown encoding "%(encoding)s"') % {"encoding": encoding}
        ) from None
    if not info._is_text_encoding or info.name == "undefined":
        raise DomainError(
            gettext('"%(encoding)s" is not an encoding of text files') % {"encoding": encoding}
        )
    return "utf-8-sig" if info.name == "utf-8" else info.name


def text_opened(
    handle: io.BufferedReader, path: Path, encoding: str | None, progress: Callable
) -> tuple[io.TextIOWrapper, str]:
    """``handle`` (binary, at its start) as text in ``encoding``, or in the one detected (UTF-8
    with or without a BOM, else GB18030, which ``progress`` is told); refused when neither."""
    if encoding is None:
        sample = handle.read(_SNIFF_BYTES)
        encoding = _detect_encoding(sample)
        handle.seek(0)
        if encoding is None:
            handle.close()
            raise not_decodable(path, "utf-8")
        # A byte order mark says UTF-8 outright; without one, GB18030 may be what it is.
        bom = sample.startswith(codecs.BOM_UTF8)
        if encoding == "utf-8-sig" and not bom and (ambiguous := _reads_as_gb18030_too(sample)):
            handle.close()
            raise _ambiguous(path, *ambiguous)
        if encoding == _GB and (western := _gb18030_without_chinese(sample)):
            handle.close()
            raise _western_or_gb18030(path, *western)
        if encoding == _GB:
            progress(gettext("  reading the file as GB18030 (it is not UTF-8)"))
    elif _single_byte(encoding):
        # Any bytes read in a single-byte encoding: UTF-8 text given one would be stored
        # garbled (Zoë as ZoÃ«) without an error. Bytes that are valid UTF-8 beyond ASCII are
        # nearly never text in such an encoding.
        utf8 = _utf8_text_line(handle.read(_SNIFF_BYTES))
        handle.seek(0)
        if utf8:
            handle.close()
            raise _utf8_forced(path, encoding, *utf8)
    return text_stream(handle, encoding, path), encoding


def _gb2312(char: str) -> bool:
    """A character of GB2312, the common Chinese ones: both of its bytes at 0xA1 or above.
    Chinese text has them; Latin-1 text read as GB18030 has none (an accented letter and the
    ASCII letter after it make a rare character: Ångström reads as 舗gstr鰉)."""
    encoded = char.encode(_GB)
    return len(encoded) == 2 and encoded[0] >= 0xA1 and encoded[1] >= 0xA1


def _gb18030_without_chinese(sample: bytes) -> tuple[int, str, str] | None:
    """For a sample that reads as GB18030 and not as UTF-8: when it holds no common Chinese
    character (``_gb2312``), its first line beyond ASCII (the number, and its first token as
    GB18030 and as cp1252); None when it does."""
    text = sample.decode(_GB, errors="ignore")  # the sample may end inside a character
    if any(_gb2312(char) for char in text if not char.isascii()):
        return None
    for number, line in enumerate(_LINE_END.split(sample), start=1):
        if line.isascii():
            continue
        token = next(t for t in re.split(rb"[,\s]+", line) if not t.isascii())
        return (
            number,
            token.decode(_GB, errors="replace"),
            token.decode(_CP1252, errors="replace"),
        )
    return None


def _western_or_gb18030(path: Path, line: int, as_gb: str, as_western: str) -> DomainError:
    return DomainError(
        gettext(
            "%(path)s is not UTF-8, and read as GB18030 it holds no common Chinese character "
            "(line %(line)d: “%(gb)s”, or “%(western)s” in cp1252): run again with --encoding "
            "cp1252 (or the file's own encoding) or --encoding gb18030"
        )
        % {"path": path, "line": line, "gb": as_gb, "western": as_western}
    )


def _utf8_forced(path: Path, encoding: str, line: int, token: str) -> DomainError:
    return DomainError(
        gettext(
            "%(path)s is UTF-8 text (line %(line)d: “%(utf8)s”), which --encoding "
            "%(encoding)s would store as “%(forced)s”: run again without --encoding"
        )
        % {
            "path": path,
            "line": line,
            "utf8": token,
            "encoding": encoding,
            "forced": token.encode("utf-8").decode(encoding, errors="replace"),
        }
    )


def _single_byte(encoding: str) -> bool:
    """An encoding that reads every byte as a character of its own (Latin-1, cp1252, cp1251,
    koi8-r ...), so that any file reads in it without an error."""
    if codecs.lookup(encoding).name.startswith("utf"):
        return False
    return len(bytes(range(256)).decode(encoding, errors="replace")) == 256


def _utf8_text_line(sample: bytes) -> tuple[int, str] | None:
    """For a sample that is valid UTF-8 beyond ASCII: its first line with such characters (the
    number, and the first token of them, up to a comma or a space); None otherwise."""
    if sample.isascii():
        return None
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return None
    for number, line in enumerate(_LINE_END.split(sample), start=1):
        if not line.isascii():
            text = line.decode("utf-8", errors="ignore")  # the sample may end inside one
            token = next((t for t in re.split(r"[,\s]+", text) if not t.isascii()), None)
            if token:
                return number, token
    return None


# Reading: encodings, CSV shape, errors.

_GB = "gb18030"
# Reading a file in one of these encodings, a line of Chinese text in UTF-8 is refused (below).
_GB_FAMILY = frozenset({_GB, "gbk", "gb2312"})
_LINE_END = re.compile(rb"\r\n|\r|\n")
_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


def _utf8_chinese(data: bytes) -> bool:
    """Whether ``data`` is Chinese text in UTF-8: valid UTF-8 that decodes to Han characters.

    Valid UTF-8 alone says little: the GB18030 bytes of Chinese text are sometimes valid UTF-8
    too (谢 is D0 BB, л in UTF-8; 直 is D6 B1, a Hebrew point), but nearly never decode to Han
    (measured on random names of common characters: 2% of two-character names are valid UTF-8,
    none of 100,000 decodes to Han)."""
    try:
        return _HAN.search(data.decode("utf-8")) is not None
    except UnicodeDecodeError:
        return False


def _detect_encoding(sample: bytes) -> str | None:
    """UTF-8 (BOM or not) when the sample is UTF-8, else GB18030 when it reads as such (files
    from Chinese shops' Windows tools), else None."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if _utf8_chinese(sample[: exc.start]):
            # UTF-8 text first, then something else: GB18030 would garble the UTF-8 part.
            return None
    try:
        codecs.getincrementaldecoder(_GB)().decode(sample, final=False)
        return _GB
    except UnicodeDecodeError:
        return None


_WORD = re.compile(r"[^\W\d_]+")
# Han, CJK punctuation, kana, full-width forms...: as UTF-8, three bytes each, which GB18030
# Chinese read as UTF-8 does not give (its two-byte characters read as Greek, Cyrillic ...).
_CJK = re.compile("[\u2e80-\ufe4f\uff00-\uffef]")  # not U+FEFF, the byte order mark


def _latin_word(word: str) -> bool:
    """A word of Latin script, accents and all (José, Ångström): ASCII letters among Latin
    ones. A word with no ASCII letter (ΰǿ, л) is what GB18030 Chinese looks like as UTF-8."""
    return any(char.isascii() for char in word) and all(
        char.isascii() or "\u00c0" <= char <= "\u024f" or "\u1e00" <= char <= "\u1eff"
        for char in word
    )


def _cyrillic_or_greek_word(word: str) -> bool:
    """A word of three letters or more, all Cyrillic (Ольга) or all Greek (Σοφία): UTF-8 text.
    GB18030 Chinese read as UTF-8 gives a character of some script per Chinese character, and
    seldom three in a row of one script (谢 is л, 伟强 is ΰǿ)."""
    return len(word) >= 3 and (
        all("\u0400" <= char <= "\u04ff" for char in word)
        or all("\u0370" <= char <= "\u03ff" for char in word)
    )


def _reads_as_gb18030_too(sample: bytes) -> tuple[int, str, str] | None:
    """For a sample that is valid UTF-8 without a BOM: the first line (its number, the word as
    UTF-8 and as GB18030) that is more likely GB18030 Chinese whose bytes happen to be valid
    UTF-8 (伟强 is ΰǿ) than UTF-8 text, unless Chinese UTF-8 text elsewhere settles it; None
    when the sample is plainly UTF-8."""
    if sample.isascii():
        return None
    found = None
    for number, line in enumerate(_LINE_END.split(sample), start=1):
        if line.isascii():
            continue
        text = line.decode("utf-8", errors="ignore")  # the sample may end inside a character
        words = _WORD.findall(text)
        if _CJK.search(text) or any(map(_cyrillic_or_greek_word, words)):
            return None  # Chinese (full-width ＴＸ too), Russian or Greek text: the file is UTF-8
        if found is not None:
            continue
        for word in words:
            if word.isascii() or _latin_word(word):
                continue
            try:
                as_gb = word.encode("utf-8").decode(_GB)
            except UnicodeDecodeError:
                continue
            if all(char.isascii() or _HAN.match(char) for char in as_gb):
                found = (number, word, as_gb)
                break
    return found


def _ambiguous(path: Path, line: int, as_utf8: str, as_gb: str) -> DomainError:
    return DomainError(
        gettext(
            "%(path)s reads both as UTF-8 and as GB18030 (line %(line)d: “%(utf8)s” or "
            "“%(gb)s”): run again with --encoding gb18030 or --encoding utf-8"
        )
        % {"path": path, "line": line, "utf8": as_utf8, "gb": as_gb}
    )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, bool]:
    """The line of the first byte that does not decode, and, for UTF-8, whether any other line
    holds Chinese text in UTF-8 (then reading the file in another encoding would garble it)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    look_on = encoding.startswith("utf-8")  # past the bad line, for Chinese text
    bad_line = None
    chinese = False
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if bad_line is None:
                try:
                    decoder.decode(raw)
                except UnicodeError as exc:  # UTF-16 without its mark is not a decoding error
                    bad_line = number
                    raw = raw[: getattr(exc, "start", 0)]
            chinese = chinese or (look_on and _utf8_chinese(raw))
            if bad_line is not None and (chinese or not look_on):
                break
    return bad_line or 1, chinese


def _gb18030_stop(path: Path) -> tuple[int | None, bool]:
    """The line where reading the file as GB18030 stops (None: the whole file reads), and
    whether Chinese text came before it (a GB18030 file with a damaged line)."""
    decoder = codecs.getincrementaldecoder(_GB)()
    chinese = False
    number = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                text = raw[: exc.start].decode(_GB, errors="ignore")
                return number, chinese or _HAN.search(text) is not None
            chinese = chinese or _HAN.search(text) is not None
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:  # the last character cut off
        return number, chinese
    return None, chinese


_CP1252 = "cp1252"


# One byte a character, Latin letters (not Cyrillic, Greek, Hebrew, Arabic or Thai ones).
_LATIN_CODE_PAGES = frozenset(
    {"cp1250", "cp1252", "cp1254", "cp1257", "cp1258"}
    | {f"iso8859-{n}" for n in (1, 2, 3, 4, 9, 10, 13, 14, 15, 16)}
)


def _western_code_page(encoding: str) -> bool:
    return codecs.lookup(encoding).name in _LATIN_CODE_PAGES


def _reads_as(path: Path, encoding: str) -> bool:
    try:
        with path.open(encoding=encoding) as handle:
            for _line in handle:
                pass
    except UnicodeDecodeError:
        return False
    return True


def not_decodable(path: Path, encoding: str) -> DomainError:
    name = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
    line, chinese = _first_undecodable(path, encoding)
    parts = [
        gettext("%(path)s is not %(encoding)s text (line %(line)d)")
        % {"path": path, "encoding": name, "line": line}
    ]
    if name == "UTF-8" and chinese:
        # Reading the whole file in another encoding would garble its UTF-8 Chinese text, so
        # no other encoding is right for it: that line is damaged, or in another encoding.
        parts.append(
            gettext(
                "other lines are Chinese text in UTF-8, so this line is damaged or in another "
                'encoding: correct it, or save the file again in one encoding (in Excel, "CSV '
                'UTF-8")'
            )
        )
    elif name == "UTF-8" and (gb := _gb18030_stop(path))[0] is None:
        parts.append(gettext("it reads as GB18030: run again with --encoding gb18030"))
    elif name == "UTF-8" and gb[1]:
        parts.append(
            gettext(
                "it reads as GB18030 up to line %(line)d, which is not GB18030 either: correct "
                "that line, then run again with --encoding gb18030"
            )
            % {"line": gb[0]}
        )
    elif name == "UTF-8":
        guess = charset_normalizer.from_path(path).best()
        if guess is not None and _western_code_page(guess.encoding) and _reads_as(path, _CP1252):
            # Which Latin code page a short file is in is anyone's guess (Å in cp1252 is Ĺ in
            # cp1250): name the common one first, and say to check.
            parts.append(
                gettext(
                    "it looks like a Western code page: run again with --encoding cp1252 "
                    "(Western Europe) or --encoding %(guess)s, then check a few names with "
                    "accents"
                )
                % {"guess": guess.encoding}
                if guess.encoding != _CP1252
                else gettext(
                    "it looks like cp1252 (Western Europe): run again with --encoding cp1252, "
                    "then check a few names with accents"
                )
            )
        elif guess is not None:
            parts.append(
                gettext("it looks like %(guess)s: run again with --encoding %(guess)s")
                % {"guess": guess.encoding}
            )
    message = clauses(parts)
    return DomainError(message)


class _GbLines(io.RawIOBase):
    """A file's bytes, passed on unchanged for reading in a GB encoding, each line checked as it
    passes: one of Chinese text in UTF-8 (appended by another tool) would be read as other
    characters (张伟 as 寮犱紵) and stored garbled, so the file is refused as mixing encodings,
    naming the line, as a file of UTF-8 text then GB18030 is. Only this reading pays for it."""

    def __init__(self, handle: io.BufferedReader, path: Path):
        self.handle, self.path = handle, path
        self.line = 1  # the number of the line ``rest`` starts
        self.rest = b""  # the last line read, perhaps incomplete

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        self._check(bytes(memoryview(buffer)[:count]), final=not count)
        return count

    def close(self) -> None:
        self.handle.close()
        super().close()

    def _check(self, data: bytes, *, final: bool) -> None:
        data = self.rest + data
        if final:
            body, self.rest = data, b""
        else:
            # A \r at the end may be the first half of \r\n: its line waits for the next read.
            stop = len(data) - 1 if data.endswith(b"\r") else len(data)
            last = max(data.rfind(b"\n", 0, stop), data.rfind(b"\r", 0, stop))
            body, self.rest = data[: last + 1], data[last + 1 :]
        if body.isascii():
            self.line += body.count(b"\n") + body.count(b"\r") - body.count(b"\r\n")
            return
        lines = _LINE_END.split(body)
        for number, line in enumerate(lines, self.line):
            if not line.isascii() and _utf8_chinese(line):
                raise _mixed_with_utf8(self.path, number)
        self.line += len(lines) - 1


def _mixed_with_utf8(path: Path, line: int) -> DomainError:
    return DomainError(
        clauses(
            [
                gettext("%(path)s is not %(encoding)s text (line %(line)d)")
                % {"path": path, "encoding": "GB18030", "line": line},
                gettext(
                    "the line is UTF-8, so the file mixes encodings: save it again in one "
                    'encoding (in Excel, "CSV UTF-8")'
                ),
            ]
        )
    )


def text_stream(handle: io.BufferedReader, encoding: str, path: Path) -> io.TextIOWrapper:
    """The file open in ``handle`` as text in ``encoding``, as every kind reads one (a file read
    in a GB encoding refuses a line of UTF-8 text)."""
    if encoding in _GB_FAMILY:
        handle = io.BufferedReader(_GbLines(handle, path))
    return io.TextIOWrapper(handle, encoding=encoding, newline="")


def _blank(raw: list[str]) -> bool:
    """A row with no values: an empty line, or only commas."""
    return not any(value.strip() for value in raw)


# A physical line as ``TextIOWrapper(newline="")`` yields it: ended by \\n, \\r\\n or \\r.
_PHYSICAL_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)")
# The fast path reads ahead this many characters at a time.
_READ_AHEAD = 1 << 20
# Runs of fewer canonical lines between two odd rows go the Python way (a COPY costs a round trip).
_FAST_RUN_MIN = 16


class _Source:
    """The decoded file, read ahead in blocks, taken either as runs of lines (the fast path
    matches a whole run with one regex) or one physical line at a time (for ``csv.reader``,
    split exactly as reading the file line by line splits it). ``consumed`` counts the physical
    lines taken either way, so line numbers are the same as ``csv.reader``'s on the file."""

    def __init__(self, handle: io.TextIOWrapper):
        self.handle = handle
        self.text = ""
        self.pos = 0
        self.consumed = 0
        self.eof = False
        self.error: UnicodeDecodeError | None = None

    def fill(self) -> bool:
        """Read ahead; False at the end of the file. A decoding error is raised only when the
        text before it has been taken, as reading line by line would raise it."""
        if self.eof:
            if self.error is not None:
                raise self.error
            return False
        parts, size = [self.text[self.pos :]], 0
        while size < _READ_AHEAD:
            try:
                # The size TextIOWrapper reads by: decoding errors surface where they did.
                piece = self.handle.read(8192)
            except UnicodeDecodeError as exc:
                self.error, self.eof = exc, True
                break
            if not piece:
                self.eof = True
                break
            parts.append(piece)
            size += len(piece)
        self.text, self.pos = "".join(parts), 0
        if not size and self.error is not None:
            raise self.error
        return bool(size)

    def lines(self) -> Iterator[str]:
        while True:
            line = _PHYSICAL_LINE.match(self.text, self.pos)
            # A \r at the end of what was read may be the first half of \r\n.
            if line is not None and (
                self.eof or line.end() < len(self.text) or not line.group().endswith("\r")
            ):
                self.pos = line.end()
                self.consumed += 1
                yield line.group()
            elif not self.fill():
                if self.pos < len(self.text):
                    rest, self.pos = self.text[self.pos :], len(self.text)
                    self.consumed += 1
                    yield rest
                return

    def run(self, pattern: re.Pattern, limit: int) -> tuple[int, int, bool]:
        """Where the run of lines matched by ``pattern`` at the current position stops, how many
        lines it has, and whether it is whole: ``limit`` lines or the rest of the file (else an
        odd line follows it)."""
        while True:
            stop = pattern.match(self.text, self.pos).end()
            lines = self.text.count("\n", self.pos, stop)
            if (
                not lines
                or lines >= limit
                or self.eof
                or self.text.find("\n", stop) != -1
                or not self.fill()
            ):
                break
        whole = lines >= limit or (self.eof and stop == len(self.text))
        return stop, lines, whole

    def take(self, stop: int, lines: int) -> str:
        run = self.text[self.pos : stop]
        self.pos = stop
        self.consumed += lines
        return run


class _Errors:
    """Bad rows in line order, one message each; only the first MAX_SHOWN_ERRORS are kept."""

    def __init__(self) -> None:
        self.count = 0
        self.kept: list[str] = []

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_SHOWN_ERRORS:
            self.kept.append(
                gettext("line %(line)d: %(problem)s") % {"line": line, "problem": message}
            )

    def raise_if_any(self) -> None:
        if not self.count:
            return
        lines = list(self.kept)
        if self.count > len(lines):
            rest = self.count - len(lines)
            lines.append(gettext("... and %(count)s more") % {"count": grouped(rest)})
        raise ImportFailed(self.count, lines)


# Field converters: stripped text in, value out, or ``_Bad``. They run for every row, so the
# good path does as little as possible and messages are only built for bad values.

Converter = Callable[[str], object]


class _Bad(ValueError):
    """A value that does not convert; the message may use %(column)s and %(value)s."""

    def __init__(self, message: str, **params: object):
        super().__init__(message)
        self.message = message
        self.params = params

    def describe(self, column: str, value: str) -> str:
        return self.message % {"column": column, "value": value, **self.params}


def _empty() -> _Bad:
    return _Bad(gettext("%(column)s is empty"))


def _too_long(max_length: int) -> _Bad:
    return _Bad(gettext("%(column)s is longer than %(max)d characters"), max=max_length)


# Bidirectional overrides and isolates make a name display as something else than it is.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


# Letters and symbols that show as nothing (Hangul fillers, the braille blank, Khmer's
# inherent vowels, the grapheme joiner, Mongolian selectors): "QA\u3164VS" looks like "QAVS".
_BLANK_LOOKING = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\uffa0]")
# Controls, formats, private use, unassigned and noncharacters, surrogates, line and paragraph
# separators (U+2028, U+2029: line breaks no column takes).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
# In an identifier also a mark, which alone or after a letter makes an equal-looking other id.
_MARKS = frozenset({"Mn", "Mc", "Me"})


def _hidden_character(text: str, *, identifier: bool = False) -> _Bad | None:
    hidden = _HIDDEN_CATEGORIES | _MARKS if identifier else _HIDDEN_CATEGORIES
    for char in text:
        if unicodedata.category(char) in hidden or _BIDI.match(char) or _BLANK_LOOKING.match(char):
            return _Bad(
                gettext("%(column)s contains a control or invisible character (U+%(code)s)"),
                code=f"{ord(char):04X}",
            )
    return None


def _identifier(max_length: int, *, required: bool = True) -> Converter:
    """A member number or external id: NFKC-normalised (``Ｍ001`` is ``M001``), no whitespace,
    no invisible or control characters, which would make two equal-looking ids different."""

    def convert(text: str) -> str:
        # Fast path: printable ASCII without a space is already normal.
        if not (text.isascii() and text.isprintable() and " " not in text):
            text = unicodedata.normalize("NFKC", text)
            if any(char.isspace() for char in text):
                raise _Bad(gettext('%(column)s "%(value)s" contains a space'))
            if bad := _hidden_character(text, identifier=True):
                raise bad
        if not text:
            if required:
                raise _empty()
        elif len(text) > max_length:
            raise _too_long(max_length)
        return text

    return convert


def _text(max_length: int | None, *, required: bool = True, normalise: bool = False) -> Converter:
    """Free text (a name, an activity): no control characters, no bidirectional overrides."""

    def convert(text: str) -> str:
        if not text.isprintable() or (not text.isascii() and _BLANK_LOOKING.search(text)):
            if normalise:
                text = unicodedata.normalize("NFKC", text)
            if bad := _hidden_character(text):
                raise bad
        elif normalise and not text.isascii():
            text = unicodedata.normalize("NFKC", text)
        if not text:
            if required:
                raise _empty()
        elif max_length is not None and len(text) > max_length:
            raise _too_long(max_length)
        return text

    return convert


def _choice(choices: dict[str, str]) -> Converter:
    def convert(text: str) -> str:
        try:
            return choices[text]
        except KeyError:
            if not text:
                raise _empty() from None
            raise _Bad(
                gettext('%(column)s "%(value)s" is not one of: %(choices)s'),
                choices=", ".join(choices),
            ) from None

    return convert


_EMAIL_LENGTH = Member._meta.get_field("email").max_length


def _email(text: str) -> str:
    """An address in the form every way in stores it (``members.contacts``)."""
    if text:
        if len(text) > _EMAIL_LENGTH:
            raise _too_long(_EMAIL_LENGTH)
        try:
            return email_normalised(text)
        except ContactRefused:
            raise _Bad(gettext('%(column)s "%(value)s" is not an email address')) from None
    return text


def _phone(text: str) -> str:
    """A phone number in the form every way in stores it (``members.contacts``): ``１３８…``
    and ``+86 138-…`` are the ``138…`` another system sends."""
    try:
        return phone_normalised(text)
    except ContactRefused as refused:
        # An invisible character is named: the number looks right on screen.
        raise _hidden_character(text) or _Bad(
            gettext('%(column)s "%(value)s" is not a phone number. %(formats)s'),
            formats=str(refused),
        ) from None


# The converters the other ways in share with the import (the API, the legacy tiers file), so
# that each reads, folds and refuses a member's values, a transaction's ids and an activity's
# name as the import does (``Ｍ001`` is ``M001``, ``ＴＸ１`` is ``TX1`` everywhere: the same
# purchase sent both ways is one); a refusal's ``describe(column, value)`` is the import's message.
ValueRefused = _Bad
member_no_value = _identifier(32)
member_name_value = _text(128)
member_phone_value = _phone
member_email_value = _email
external_id_value = _identifier(64)
refund_of_value = _identifier(64, required=False)
activity_value = _text(128, normalise=True)


def _amount(text: str) -> int:
    if not text:
        raise _empty()
    try:
        return parse_amount(text)
    except AmountError as exc:
        raise _Bad(exc.template) from None


def _date(*, required: bool = True) -> Converter:
    def convert(text: str) -> datetime.date | None:
        if not text:
            if required:
                raise _empty()
            return None
        try:
            return parse_date(text)
        except DateError as exc:
            raise _Bad(exc.template) from None

    return convert


def member_joined_on_check(day: datetime.date, *, today: datetime.date) -> None:
    """A member joined at the latest tomorrow (a day of slack for clocks and time zones, as for
    a fact's moment). The import's and the API's rule; refused with ``ValueRefused``."""
    if day > today + datetime.timedelta(days=1):
        raise _Bad(gettext('%(column)s "%(value)s" cannot be in the future (later than tomorrow)'))


def member_birthday_check(day: datetime.date, *, today: datetime.date) -> None:
    """Nobody was born after today. The import's and the API's rule; refused with
    ``ValueRefused``."""
    if day > today:
        raise _Bad(gettext('%(column)s "%(value)s" cannot be in the future'))


def _day(check: Callable[..., None], today: datetime.date, *, required: bool = True) -> Converter:
    """A date that ``check`` accepts as of ``today``."""
    parse = _date(required=required)

    def convert(text: str) -> datetime.date | None:
        day = parse(text)
        if day is not None:
            check(day, today=today)
        return day

    return convert


def _too_late(latest: datetime.date) -> datetime.datetime:
    """The first instant after the local day ``latest``: a fact at or after it is in the future.
    Compared as instants: cheaper than converting every moment to its local date."""
    return datetime.datetime.combine(
        latest + datetime.timedelta(days=1), datetime.time(), tzinfo=timezone.get_default_timezone()
    )


def _happened(latest: datetime.date) -> Converter:
    """The aware moment of a fact that already happened: a date-time (local time without a UTC
    offset) or a date (local midnight), dated no later than ``latest`` (tomorrow: a day of
    slack for clocks and time zones)."""
    tz = timezone.get_default_timezone()
    too_late = _too_late(latest)

    def convert(text: str) -> datetime.datetime:
        if not text:
            raise _empty()
        try:
            moment = parse_moment(text, tz)
        except DateError as exc:
            raise _Bad(exc.template) from None
        if moment >= too_late:
            raise _Bad(gettext('%(column)s "%(value)s" is in the future (later than tomorrow)'))
        return moment

    return convert


def _shown(value: object) -> str:
    """A stored or given value as it reads in a message."""
    if value is None or value == "":
        return gettext("empty")
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


class _Fen(int):
    """An amount in fen that reads as yuan in messages."""

    def __str__(self) -> str:
        return str(fen_to_yuan(self))


# Canonical forms: the values the fast path (PostgreSQL) hands to PostgreSQL as they are written.
# Each is strictly narrower than what its converter above accepts, and PostgreSQL reads each to
# exactly what the converter returns (members/tests/test_import_fast_path.py shows both), so
# the rules stay in the converters: a value that is not canonical takes the Python way, and a
# canonical value is never one PostgreSQL could refuse (that would abort the COPY, and with it
# the whole import, without naming the line).
_CANONICAL_ID = "[A-Za-z0-9_.:/#-]"  # printable ASCII: NFKC and hidden-character checks are moot
_CANONICAL_AMOUNT = r"\d{1,12}(?:\.\d{1,2})?"  # positive is checked in SQL: "0.00" is restated
# Valid in every year: day 29 of February goes the Python way.
_CANONICAL_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_CANONICAL_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
_CANONICAL_OFFSET = r"(?:Z|[+-](?:(?:0\d|1[0-3]):?[0-5]\d|14:?00))"  # loyalty.dates.MAX_OFFSET
# Local times (no offset) only from 1992, after Shanghai's last daylight-saving time: an
# ambiguous local time is read as the earlier instant by Python, the later by PostgreSQL.
# Future moments are checked in SQL and restated the Python way. With an offset, not 1900: its
# first hours can be 1899 in China, which the converter refuses.
_CANONICAL_MOMENT = (
    f"(?:(?:19(?:0[1-9]|[1-9]\\d)|2\\d\\d\\d)-{_CANONICAL_MONTH_DAY}[T ]{_CANONICAL_CLOCK}"
    f"{_CANONICAL_OFFSET}"
    f"|(?:199[2-9]|2\\d\\d\\d)-{_CANONICAL_MONTH_DAY}(?:[T ]{_CANONICAL_CLOCK})?)"
)


def _canonical_identifier(max_length: int) -> str:
    return f"{_CANONICAL_ID}{{1,{max_length}}}"


# The framework: staging, checks, writing.


# Every temporary table an import may create (dropped at its end, and with its transaction).
_WORK_TABLES = (
    *("stg", "dup", "chk", "refunds", "linked", "bad"),
    *("same_day", "edges", "rooted", "circle"),
)


class _Importer:
    """What every kind shares. A kind declares

    - ``columns()``: CSV column → converter, in the order ``parse`` receives the values;
    - ``staged``: the staging table's columns after ``line`` and ``problem`` (name, model field
      giving the SQL type), in the order of the tuples ``parse`` returns;
    - ``identity``: the staged columns that identify a row (repeated in the file: a bad row);
    - ``parse(values, problems)``: checks across one row's values; returns the staged tuple;
    - ``classify()``: SQL creating the ``{chk}`` table from ``{stg}`` with ``status`` per line:
      1 bad in itself, 2 unknown member, 3 stored with different data, 4 contradicts stored
      facts, 0 already imported, -1 new;
    - ``bad_rows()``: (line, message) of every bad row, in line order;
    - ``write(now)``: insert the new rows; returns how many."""

    kind: str
    # The summary's count of rows imported: "%(grouped)s transactions", plural by "count".
    summary_count: str
    model: type[Model]
    staged: tuple[tuple[str, object], ...]
    identity: tuple[str, ...]

    def __init__(self, path: Path, progress: Progress, encoding: str | None):
        self.path = path
        self.progress = progress
        self.encoding = encoding
        self.tz = timezone.get_default_timezone()
        self.today = timezone.localdate()
        self.latest = self.today + datetime.timedelta(days=1)
        self.too_late = _too_late(self.latest)
        self.fields = self.columns()
        self.errors = _Errors()
        self.postgres = connection.vendor == "postgresql"
        qn = connection.ops.quote_name
        self.names = {
            "stg": qn("_import_staged"),
            "dup": qn("_import_repeated"),
            "chk": qn("_import_checked"),
            "refunds": qn("_import_new_refunds"),
            "linked": qn("_import_linked_refunds"),
            "bad": qn("_import_bad_refunds"),
            "same_day": qn("_import_same_day"),
            "edges": qn("_import_referral_edges"),
            "rooted": qn("_import_rooted"),
            "circle": qn("_import_circles"),
            # The import's work tables: unlogged on PostgreSQL, where its parallel workers can
            # read them (they cannot read a temporary table: the checks ran on one core). They
            # live in the import's transaction, which drops them at its end, and imports run one
            # at a time (an advisory lock), so their names are the import's own.
            "work": "UNLOGGED" if self.postgres else "TEMPORARY",
            "member": qn(Member._meta.db_table),
            "audit": qn(AuditEntry._meta.db_table),
            "txn": qn(Transaction._meta.db_table),
            "referral": qn(Referral._meta.db_table),
            "activity": qn(ActivityParticipation._meta.db_table),
            "blacklist": qn(BlacklistEntry._meta.db_table),
            # NULL-safe equality.
            "same": "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS",
        }
        self.chunks = 0
        self.new_rows = 0
        self.copying = _CopyInBackground()

    def columns(self) -> dict[str, Converter]:
        raise NotImplementedError

    def parse(self, values: list, problems: list[str]) -> tuple:
        raise NotImplementedError

    def classify(self) -> str:
        raise NotImplementedError

    def classification_settings(self) -> dict[str, str]:
        return BIG_STATEMENT_SETTINGS

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        raise NotImplementedError

    def write(self, now: datetime.datetime) -> int:
        raise NotImplementedError

    def sql(self, statement: str, params=()) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statement.format(**self.names), params)

    def analyze(self, *tables: str) -> None:
        """Statistics for temporary tables, which autovacuum never analyses: without them the
        planner takes a million-row table for an empty one and joins it by nested loops."""
        if self.postgres:
            for table in tables:
                self.sql(f"ANALYZE {{{table}}}")

    def query(self, statement: str, params=()) -> Iterator[tuple]:
        """Rows of a query, fetched in chunks (a server-side cursor on PostgreSQL)."""
        with connection.chunked_cursor() as cursor:
            cursor.execute(statement.format(**self.names), params)
            while rows := cursor.fetchmany(2000):
                yield from rows

    def value(self, statement: str, params=()):
        with connection.cursor() as cursor:
            cursor.execute(statement.format(**self.names), params)
            return cursor.fetchone()

    def any_row(self, rows: str, params=()) -> bool:
        """Whether ``rows`` (``{table} WHERE ...``) has any. Asked as an ``EXISTS`` that
        PostgreSQL's parallel workers can answer, where a cursor reading the rows runs on one
        core: checked first, since the answer is nearly always no."""
        with postgres_settings(BIG_STATEMENT_SETTINGS):
            return self.value(f"SELECT EXISTS (SELECT 1 FROM {rows})", params)[0]

    def run(self) -> ImportResult:
        started = time.monotonic()
        try:
            with self._one_import_at_a_time(), transaction.atomic():
                self._lock()
                self._stage()
                self.errors.raise_if_any()
                existing, new = self._check_and_write()
                for table in _WORK_TABLES:
                    self.sql(f"DROP TABLE IF EXISTS {{{table}}}")
        except IntegrityError as exc:
            # Every constraint was checked before writing: only a concurrent writer gets here.
            raise DomainError(
                gettext(
                    "the database refused the rows (%(error)s), probably because another "
                    "import of the same data ran at the same time; nothing was imported, run "
                    "the import again"
                )
                % {"error": exc}
            ) from exc
        if new >= _ANALYZE_AFTER:
            # Fresh planner statistics, or the next look-ups scan a table thought to be small.
            analyze(self.model)
        return ImportResult(
            kind=self.kind,
            path=str(self.path),
            new=new,
            existing=existing,
            seconds=time.monotonic() - started,
            encoding=self.encoding or "utf-8",
            chunks=self.chunks,
        )

    def _check_and_write(self) -> tuple[int, int]:
        """Steps 2 and 3; returns how many rows were already stored and how many are new."""
        if not self._repeats_left_to_the_unique_index():
            self._find_repeats()
            return self._classify_and_write()
        # A first load of millions of rows into an empty table: every good row is new and
        # written, so a repeated identity cannot go unnoticed (its unique index refuses the
        # second row), and finding repeats beforehand would sort the whole file once more for
        # nothing (5 s at 10M rows). Only a file with bad rows or repeats pays for the search.
        try:
            with transaction.atomic():
                self.sql(
                    "CREATE {work} TABLE {dup} AS SELECT line, line first_line FROM {stg} LIMIT 0"
                )
                return self._classify_and_write()
        except ImportFailed:
            # The bad rows found stand as they are, unless a repeat is among them.
            self._find_repeats()
            if not self.any_row("{dup}"):
                raise
        except IntegrityError:
            self._find_repeats()
        self.progress(gettext("  a line repeats an earlier line's id: checking the file again"))
        self.errors = _Errors()
        return self._classify_and_write()

    def _keys_set_aside_for_a_large_load(self) -> KeysSetAside | None:
        """For a load of at least ``KEYS_ASIDE_MIN_ROWS`` new rows that at least doubles the
        table (on PostgreSQL): its keys and indexes dropped, to be made again by the caller's
        ``restore()`` after writing; else None."""
        if not (
            self.postgres and self.new_rows >= max(KEYS_ASIDE_MIN_ROWS, rows_estimate(self.model))
        ):
            return None
        self.progress(gettext("  a large load: indexes are made again after writing"))
        keys = KeysSetAside(self.model)
        keys.drop()
        return keys

    def _repeats_left_to_the_unique_index(self) -> bool:
        if not (self.repeats_left_to_the_unique_index and self.postgres):
            return False
        staged = table_rows_estimate(self.names["stg"]) or 0
        return staged >= KEYS_ASIDE_MIN_ROWS and not self.model.objects.exists()

    def _classify_and_write(self) -> tuple[int, int]:
        # Before classifying: a table without statistics is planned as 1,850 rows, and the join
        # to the (nearly always empty) repeats then hashes the whole file.
        self.analyze("dup")
        with postgres_settings(self.classification_settings()):
            self.sql(self.classify())
        self.analyze("chk")
        for line, message in self.bad_rows():
            self.errors.add(line, message)
        self.errors.raise_if_any()
        existing, self.new_rows = self.value(
            "SELECT COALESCE(SUM(CASE WHEN status = 0 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN status = -1 THEN 1 ELSE 0 END), 0) FROM {chk}"
        )
        return existing, self.write(timezone.now()) if self.new_rows else 0

    # A kind whose ``identity`` has a unique index on the model's table may leave repeats in a
    # large file to it when the table is empty (see _check_and_write).
    repeats_left_to_the_unique_index = False

    # Sort millions of identities rather than hash them (see _TransactionImporter).
    repeats_by_sorting = False

    def _find_repeats(self) -> None:
        settings = BIG_STATEMENT_SETTINGS
        if self.repeats_by_sorting:
            settings = {**settings, "enable_hashagg": "off"}
        with postgres_settings(settings):
            self.sql(_repeated(self.identity))

    # Two imports checking at the same time would each miss the other's rows (refunds could
    # together exceed a purchase): they run one at a time.

    def _one_import_at_a_time(self):
        return _SqliteWriterGate() if not self.postgres else _Nothing()

    def _lock(self) -> None:
        if not self.postgres:
            return
        if not self.value("SELECT pg_try_advisory_xact_lock(%s)", [_IMPORT_LOCK])[0]:
            self.progress(gettext("another import is running; waiting for it to finish ..."))
            self.sql("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])
        # The checks hash-join and group the whole file and the write sorts it: with the default
        # 4 MB each spills to disk in many batches. And no JIT: compiling the write's and the
        # keys' statements took longer than it saved. For this transaction only.
        self.sql(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)", [_WORK_MEM]
        )

    # Step 1: stage.

    def _open(self) -> io.TextIOWrapper:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            raise DomainError(gettext("%(path)s: no such file") % {"path": self.path}) from None
        except OSError as exc:
            raise DomainError(
                gettext("%(path)s cannot be read: %(error)s")
                % {"path": self.path, "error": exc.strerror}
            ) from None
        text, self.encoding = text_opened(handle, self.path, self.encoding, self.progress)
        return text

    def _stage(self) -> None:
        self.sql("DROP TABLE IF EXISTS {stg}")
        self.sql(f"CREATE {{work}} TABLE {{stg}} ({self.staging_columns()})")
        reader = source = None
        try:
            with self._open() as handle:
                if self.fast_path_possible():
                    source = _Source(handle)
                    reader = csv.reader(source.lines())
                else:
                    reader = csv.reader(handle)
                try:
                    self._stage_rows(reader, source)
                except BaseException:
                    self.copying.join()  # the error in hand is the one to tell
                    raise
                self.copying.wait()
        except UnicodeError:  # UTF-16 without its mark, say, is not a decoding error
            raise not_decodable(self.path, self.encoding) from None
        except csv.Error as exc:
            line = source.consumed if source else reader.line_num if reader else 1
            raise DomainError(
                gettext("%(path)s is not valid CSV at line %(line)d: %(error)s")
                % {"path": self.path, "line": line, "error": exc}
            ) from None
        if self.postgres:
            self.sql("ANALYZE {stg}")

    # Staged text compared with stored columns of collation "C" (PostgreSQL) must have it too.
    bytewise: tuple[str, ...] = ()

    def staging_columns(self) -> str:
        collate = ' COLLATE "C"' if self.postgres else ""
        return ", ".join(
            f"{name} {field.db_type(connection)}{collate if name in self.bytewise else ''}"
            for name, field in (("line", _LINE), ("problem", _PROBLEM), *self.staged)
        )

    # The fast path (PostgreSQL, a kind that declares ``canonical``): runs of lines whose every
    # value is in canonical form go to PostgreSQL as they are, and PostgreSQL converts them.

    canonical: dict[str, str] | None = None

    def fast_path_possible(self) -> bool:
        return self.postgres and self.canonical is not None

    def fast_pattern(self, header: list[str], limit: int) -> re.Pattern | None:
        """A regex matching a run of at most ``limit`` whole canonical lines, for this header."""
        raise NotImplementedError

    def stage_fast(self, header: list[str], text: str, first_line: int) -> None:
        """Stage a run of canonical lines (``\\n``-terminated) whose first is ``first_line``."""
        raise NotImplementedError

    def restate_fast(self) -> Iterator[int]:
        """Lines of the fast path that SQL found outside the range its canonical forms
        guarantee (a date in the future ...): they are staged again the Python way, which names
        the problem."""
        raise NotImplementedError

    def discard_restated(self) -> None:
        raise NotImplementedError

    def _header(self, reader) -> tuple[list[str], int]:
        for names in reader:
            if not _blank(names):
                break
        else:
            raise DomainError(
                gettext("%(path)s is empty: it needs a header row") % {"path": self.path}
            )
        line = reader.line_num
        names = [header_column(name.strip(), self.fields) for name in names]
        if len(names) == 1 and len(self.fields) > 1:
            for separator, shown in ((";", '";"'), ("\t", gettext("tabs")), ("|", '"|"')):
                if separator in names[0]:
                    self.errors.add(
                        line,
                        gettext(
                            "the columns are separated by %(separator)s, not commas: save the "
                            "file as comma-separated CSV"
                        )
                        % {"separator": shown},
                    )
                    self.errors.raise_if_any()
        problems = [
            gettext('missing column "%(column)s"') % {"column": column}
            for column in self.fields
            if column not in names
        ]
        for name in dict.fromkeys(names):
            if name == "":
                problems.append(
                    gettext("a column has no name: is there a comma too many in the header?")
                )
            elif name not in self.fields:
                problems.append(gettext('unknown column "%(column)s"') % {"column": name})
            elif names.count(name) > 1:
                problems.append(gettext('column "%(column)s" appears twice') % {"column": name})
        if problems:
            self.errors.add(line, clauses(problems))
            self.errors.raise_if_any()
        return names, line

    def _layout(self, header: list[str]) -> tuple:
        columns = [
            (column, header.index(column), convert) for column, convert in self.fields.items()
        ]
        converters = [(index, convert) for _column, index, convert in columns]
        return len(header), columns, converters, (None,) * len(self.staged)

    def _staged_row(self, raw: list[str], line: int, layout: tuple) -> tuple:
        """The staged tuple of one record: line, problems, the converted values."""
        width, columns, converters, empty = layout
        problems: list[str] = []
        if len(raw) != width:
            problems.append(
                gettext("%(found)s values where the header has %(expected)s columns")
                % {"found": grouped(len(raw)), "expected": grouped(width)}
            )
            if any("\n" in value or "\r" in value for value in raw):
                # An unclosed quote takes the lines after it into one value, up to the next
                # quote or the end of the file: too few values is only the symptom.
                problems.append(
                    gettext(
                        'a quoted value runs over several lines: is a closing quote (") missing?'
                    )
                )
            staged = empty
        else:
            try:
                values = [convert(raw[index].strip()) for index, convert in converters]
            except _Bad:
                values = self._convert_each(raw, columns, problems)
            staged = self.parse(values, problems)
        return (line, clauses(problems) if problems else None, *staged)

    def _stage_rows(self, reader, source: _Source | None = None) -> None:
        header, end = self._header(reader)
        layout = self._layout(header)
        size = chunk_size()
        fast = self.fast_pattern(header, size) if source is not None else None
        count = 0
        block: list[tuple] = []
        with self._stager() as stage:

            def counted(rows: int) -> None:
                nonlocal count
                before, count = count, count + rows
                if count // PROGRESS_EVERY > before // PROGRESS_EVERY:
                    shown = count - count % PROGRESS_EVERY
                    self.progress(gettext("  validated %(count)s rows") % {"count": grouped(shown)})

            def take(raw: list[str], line: int) -> None:
                if not raw or (not raw[0].strip() and _blank(raw)):
                    return
                counted(1)
                block.append(self._staged_row(raw, line, layout))
                if len(block) >= size:
                    stage(block)
                    block.clear()

            if fast is None:
                for raw in reader:
                    # A quoted value may span lines: a record starts on the line after the last.
                    line, end = end + 1, reader.line_num
                    take(raw, line)
            else:
                records = iter(reader)
                fast_rows = 0
                while True:
                    stop, lines, whole = source.run(fast, size)
                    # A short run between odd rows is cheaper the Python way than as a COPY.
                    if lines and (whole or lines >= _FAST_RUN_MIN):
                        self.stage_fast(header, source.take(stop, lines), end + 1)
                        end += lines
                        fast_rows += lines
                        counted(lines)
                        continue
                    # The short run's lines, one per record, then the next record.
                    for _ in range(lines + 1):
                        raw = next(records, None)
                        if raw is None:
                            break
                        line, end = end + 1, source.consumed
                        take(raw, line)
                    if raw is None:
                        break
            if block:
                stage(block)
        if fast is not None and fast_rows:
            self.copying.wait()
            self._restage(header, layout)

    def _restage(self, header: list[str], layout: tuple) -> None:
        """Stage again, the Python way, the lines of the fast path that SQL flagged: read the
        file once more (only a file with such bad rows pays for it), both in line order."""
        flagged = self.restate_fast()
        wanted = next(flagged, None)
        if wanted is None:
            return
        block: list[tuple] = []
        # Written while the flagged lines' cursor is open: without FREEZE.
        with self._open() as handle, self._stager(freeze=False) as stage:
            reader = csv.reader(handle)
            _names, end = self._header(reader)
            for raw in reader:
                line, end = end + 1, reader.line_num
                if line != wanted:
                    continue
                block.append(self._staged_row(raw, line, layout))
                if len(block) >= chunk_size():
                    stage(block)
                    block.clear()
                wanted = next(flagged, None)
                if wanted is None:
                    break
            if block:
                stage(block)
        self.discard_restated()

    def _stager(self, *, freeze: bool = True):
        """A context giving a function that writes a block of staged rows (``freeze``: see
        ``_CopyStager``)."""
        names = ", ".join(("line", "problem", *(name for name, _field in self.staged)))
        if self.postgres:
            staged = (("line", _LINE), ("problem", _PROBLEM), *self.staged)
            return _CopyStager(
                self,
                [name for name, _field in staged],
                [(index, _copy_cell(field)) for index, (_name, field) in enumerate(staged)],
                freeze=freeze,
            )
        marks = ", ".join(["%s"] * (2 + len(self.staged)))
        return _InsertStager(self, f"INSERT INTO {self.names['stg']} ({names}) VALUES ({marks})")

    @staticmethod
    def _convert_each(raw: list[str], columns: list[tuple], problems: list[str]) -> list:
        """The slow way, for a row with a bad value: every problem, None for each bad value."""
        values = []
        for column, index, convert in columns:
            text = raw[index].strip()
            try:
                values.append(convert(text))
            except _Bad as bad:
                problems.append(bad.describe(column, text))
                values.append(None)
        return values

    # Step 2: check, shared pieces.

    @staticmethod
    def problems(problem: str | None, repeated: str | None) -> str:
        return clauses(part for part in (problem, repeated) if part)

    def moment(self, value) -> datetime.datetime | None:
        """A date-time as the database returned it (SQLite returns text from raw SQL)."""
        if isinstance(value, str):
            value = parse_datetime(value)
        if value is not None and timezone.is_naive(value):
            value = value.replace(tzinfo=datetime.UTC)
        return value

    def day(self, value) -> datetime.date | None:
        if isinstance(value, str):
            value = datetime.date.fromisoformat(value)
        return value

    @staticmethod
    def differs(columns: tuple[str, ...], stored: tuple, given: tuple) -> str:
        return listed(
            f"{column_name(column)} {_shown(old)}"
            for column, old, new in zip(columns, stored, given, strict=True)
            if old != new
        )


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _SqliteWriterGate:
    """SQLite takes one writer at a time; instead of waiting the busy timeout (20 s) and then
    failing with "database is locked", an import refuses at once when another writer (in
    practice another import) holds the database."""

    def __enter__(self):
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            self.timeout = cursor.fetchone()[0]
            cursor.execute("PRAGMA busy_timeout = 0")
        return self

    def __exit__(self, kind, exc, tb):
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(self.timeout)}")
        if isinstance(exc, OperationalError) and "locked" in str(exc):
            raise DomainError(
                gettext(
                    "another import (or another long write) is running on this database; "
                    "nothing was imported: run the import again when it has finished"
                )
            ) from exc
        return False


class _CopyStager:
    """COPY in text format, one statement per block: several times faster than a call per row,
    and the fast path's own COPYs can run between two blocks."""

    def __init__(
        self,
        importer: _Importer,
        columns: list[str],
        cells: list[tuple[int, object]],
        *,
        freeze: bool = True,
    ):
        """``cells``: (position in the staged tuple, how its value is written) per column."""
        self.importer = importer
        # FREEZE: the staging table is made in the import's own transaction, so its rows may
        # be written frozen, its pages all-visible (as if vacuumed): each of the checks' scans
        # of it then skips the visibility test of every row. PostgreSQL refuses it while a
        # cursor of the transaction is open (``freeze=False``: the flagged lines' restaging).
        options = " (FREEZE)" if freeze else ""
        self.statement = f"COPY {importer.names['stg']} ({', '.join(columns)}) FROM STDIN{options}"
        self.cells = cells

    def __enter__(self):
        self.cursor = connection.cursor()
        return self.write

    def write(self, block: list[tuple]) -> None:
        cells = self.cells
        self.importer.copying.wait()
        with self.cursor.cursor.copy(self.statement) as copy:
            copy.write(
                "".join(
                    ["\t".join([cell(row[index]) for index, cell in cells]) + "\n" for row in block]
                )
            )
        self.importer.chunks += 1

    def __exit__(self, *exc):
        self.cursor.close()
        return False


class _CopyInBackground:
    """The fast path's COPYs, one at a time, each sent from a thread: PostgreSQL parses one run
    of lines while Python matches the next, instead of each waiting for the other (the thread
    waits on the network without holding the GIL). Nothing else may use the connection before
    ``wait``, which also raises the COPY's error.

    ``start`` returns once the thread has handed the lines to libpq: Python's regex holds the
    GIL for a whole run, so a thread still needing it would send nothing meanwhile and the
    server would idle (in one experiment the thread overlapped one second in six)."""

    def __init__(self) -> None:
        self.idle = threading.Event()  # set while no COPY is running
        self.idle.set()
        self.error: BaseException | None = None

    def start(self, statement: str, text: str) -> None:
        raw = connection.connection  # psycopg's own: Django's wrapper belongs to this thread
        sent = threading.Event()

        def send() -> None:
            try:
                with raw.cursor() as cursor, cursor.copy(statement) as copy:
                    copy.write(text)
                    sent.set()
            except BaseException as exc:  # noqa: BLE001 - raised by wait() in the caller's thread
                self.error = exc
            finally:
                sent.set()

        self.idle = thread_start(send, name="import-copy")
        sent.wait()

    def join(self) -> None:
        """Until the COPY is done, without raising its error."""
        self.idle.wait()

    def wait(self) -> None:
        self.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def _yuan(fen: int | None) -> str:
    """Fen as the canonical amount in yuan (COPY text)."""
    return "\\N" if fen is None else f"{fen // 100}.{fen % 100:02d}"


def _copy_cell(field) -> Callable[[object], str]:
    """How a staged column's values are written in COPY's text format, decided once per column
    instead of by type per value (this runs for every value of every row)."""
    if field is _DATE or field is _MOMENT:
        return lambda value: "\\N" if value is None else value.isoformat()
    if field is _LINE:
        return lambda value: "\\N" if value is None else str(value)
    return copy_text


class _InsertStager:
    def __init__(self, importer: _Importer, statement: str):
        self.importer, self.statement = importer, statement

    def __enter__(self):
        self.cursor = connection.cursor()
        self.adapt = connection.ops.adapt_datetimefield_value
        return self.write

    def write(self, block: list[tuple]) -> None:
        adapt = self.adapt
        self.cursor.executemany(
            self.statement,
            [
                tuple(adapt(v) if isinstance(v, datetime.datetime) else v for v in row)
                for row in block
            ],
        )
        self.importer.chunks += 1

    def __exit__(self, *exc):
        self.cursor.close()
        return False


_LINE = Transaction._meta.get_field("amount_fen")  # bigint
_PROBLEM = BlacklistEntry._meta.get_field("reason")  # text
_TEXT = _PROBLEM
_DATE = Transaction._meta.get_field("occurred_on")
_MOMENT = Transaction._meta.get_field("occurred_at")


# The later lines of an identity repeated in the file, with the line it first appears on.
def _repeated(identity: tuple[str, ...]) -> str:
    condition = " AND ".join(f"s.{name} = d.{name}" for name in identity)
    return (
        "CREATE {work} TABLE {dup} AS "
        "SELECT s.line, d.first_line FROM {stg} s JOIN ("
        f"SELECT {', '.join(identity)}, MIN(line) AS first_line FROM {{stg}} "
        f"WHERE {' AND '.join(f'{name} IS NOT NULL' for name in identity)} "
        f"GROUP BY {', '.join(identity)} HAVING COUNT(*) > 1"
        f") d ON {condition} AND s.line > d.first_line"
    )


# The five kinds.

_DUPLICATE_MEMBER = _("member %(no)s appears again (first on line %(line)d)")
_MEMBER_DIFFERS = _("member %(no)s already imported with different data (%(stored)s)")
_TRANSACTION_DIFFERS = _("external id %(id)s already imported with different data (%(stored)s)")
_REFERRAL_DIFFERS = _("member %(no)s was already referred, with different data (%(stored)s)")
_BLACKLIST_DIFFERS = _(
    "member %(no)s already has an open blacklist entry with different data (%(stored)s)"
)


def _unknown(*member_nos: str | None) -> str:
    return clauses(
        gettext("unknown member %(no)s") % {"no": no} for no in member_nos if no is not None
    )


class _MemberImporter(_Importer):
    kind = "members"
    summary_count = ngettext_lazy("%(grouped)s member", "%(grouped)s members", "count")
    model = Member
    STATUS_OF_TYPE = MEMBER_STATUS_OF_TYPE
    TYPE_OF_STATUS = {status: kind for kind, status in STATUS_OF_TYPE.items()}
    staged = (
        ("member_no", _TEXT),
        ("name", _TEXT),
        ("phone", _TEXT),
        ("email", _TEXT),
        ("joined_on", _DATE),
        ("member_status", _TEXT),
        ("birthday", _DATE),
    )
    identity = ("member_no",)
    COMPARED = ("name", "phone", "email", "joined_on", "birthday", "member_type")

    def columns(self) -> dict[str, Converter]:
        return {
            "member_no": member_no_value,
            "name": member_name_value,
            "phone": member_phone_value,
            "email": member_email_value,
            "joined_on": _day(member_joined_on_check, self.today),
            "member_type": _choice(self.STATUS_OF_TYPE),
            "birthday": _day(member_birthday_check, self.today, required=False),
        }

    def parse(self, values: list, problems: list[str]) -> tuple:
        joined_on, birthday = values[4], values[6]  # None where a converter refused it
        if isinstance(joined_on, datetime.date) and (
            refusal := birthday_refusal(birthday, joined_on)
        ):
            problems.append(refusal)
        return tuple(values)

    def classify(self) -> str:
        # A blacklisted member's type is no longer the sender's to state, nor is an experience
        # member's converted since (``member_type_outdated``: the file may predate it).
        return """
        CREATE {work} TABLE {chk} AS
        SELECT s.*, d.first_line, m.id AS member_id, CASE
            WHEN s.problem IS NOT NULL OR d.first_line IS NOT NULL THEN 1
            WHEN m.id IS NULL THEN -1
            WHEN m.name = s.name AND m.phone = s.phone AND m.email = s.email
                AND m.joined_on = s.joined_on AND m.birthday {same} s.birthday
                AND (m.status = s.member_status OR m.status = 'blacklisted'
                    OR (m.status = 'active' AND s.member_status = 'experience' AND EXISTS (
                        SELECT 1 FROM {audit} a WHERE a.target_type = 'members.member'
                        AND a.target_id = CAST(m.id AS TEXT) AND a.action = 'member.convert'
                    ))) THEN 0
            ELSE 3 END AS status
        FROM {stg} s
        LEFT JOIN {dup} d ON d.line = s.line
        LEFT JOIN {member} m ON m.member_no = s.member_no
        """

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        rows = self.query(
            "SELECT c.line, c.status, c.problem, c.first_line, c.member_no, c.name, c.phone, "
            "c.email, c.joined_on, c.birthday, c.member_status, m.name, m.phone, m.email, "
            "m.joined_on, m.birthday, m.status, m.id FROM {chk} c "
            "LEFT JOIN {member} m ON c.status = 3 AND m.id = c.member_id "
            "WHERE c.status > 0 ORDER BY c.line"
        )
        for line, status, problem, first, no, *given, member_id in rows:
            if status == 1:
                repeated = first and _DUPLICATE_MEMBER % {"no": no, "line": first}
                yield line, self.problems(problem, repeated)
                continue
            name, phone, email, joined, birthday, given_status = given[:6]
            old = list(given[6:])
            old_status = old.pop()
            if member_type_outdated(member_id, old_status, given_status):
                old_status = given_status
            stored = (*old[:3], self.day(old[3]), self.day(old[4]))
            yield (
                line,
                _MEMBER_DIFFERS
                % {
                    "no": no,
                    "stored": self.differs(
                        self.COMPARED,
                        (*stored, self.TYPE_OF_STATUS[old_status]),
                        (
                            name,
                            phone,
                            email,
                            self.day(joined),
                            self.day(birthday),
                            self.TYPE_OF_STATUS[given_status],
                        ),
                    ),
                },
            )

    def write(self, now: datetime.datetime) -> int:
        # A first load of a program's members: the indexes for search (the name's trigram index
        # above all) are made again after writing, one sort each, instead of an entry per row
        # in each. The primary key stays: other tables' foreign keys need it.
        keys = self._keys_set_aside_for_a_large_load()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO {member} (member_no, name, phone, email, joined_on, status, "
                "birthday, created_at) SELECT member_no, name, phone, email, joined_on, "
                "member_status, birthday, %s FROM {chk} WHERE status = -1 ORDER BY line".format(
                    **self.names
                ),
                [now],
            )
            written = cursor.rowcount
        if keys is not None:
            keys.restore()
        return written


_PURCHASE, _REFUND = Transaction.Kind.PURCHASE, Transaction.Kind.REFUND


class _TransactionImporter(_Importer):
    kind = "transactions"
    summary_count = ngettext_lazy("%(grouped)s transaction", "%(grouped)s transactions", "count")
    model = Transaction
    staged = (
        ("external_id", _TEXT),
        ("member_no", _TEXT),
        ("kind", _TEXT),
        ("amount_fen", _LINE),
        ("occurred_at", _MOMENT),
        ("occurred_on", _DATE),
        ("refund_of", _TEXT),
    )
    identity = ("external_id",)
    COMPARED = ("member_no", "kind", "amount", "occurred_at", "refund_of")
    # As the stored external ids compare (members migration 0007).
    bytewise = ("external_id", "refund_of")
    # PostgreSQL groups ten million external ids with a hash table spilling to disk in 17
    # batches (about 19 s here); sorting them bytewise instead takes 7 s.
    repeats_by_sorting = True
    repeats_left_to_the_unique_index = True  # txn_external_id_unique

    def columns(self) -> dict[str, Converter]:
        return {
            "external_id": external_id_value,
            "member_no": member_no_value,
            "kind": _choice({"purchase": _PURCHASE, "refund": _REFUND}),
            "amount": _amount,
            "occurred_at": _happened(self.latest),
            "refund_of": refund_of_value,
        }

    canonical = {
        "external_id": _canonical_identifier(64),
        "member_no": _canonical_identifier(32),
        "amount": _CANONICAL_AMOUNT,
        "occurred_at": _CANONICAL_MOMENT,
    }

    def staging_columns(self) -> str:
        if not self.fast_path_possible():
            return super().staging_columns()
        # The fast path stages the amount and the moment as written (numeric, and timestamptz
        # read with the session's TimeZone set to TIME_ZONE: a time without an offset is local).
        # Fen and the local day are computed by the checks on PostgreSQL's parallel workers
        # (``{typed}``), the same for the Python way's rows: as generated columns they cost
        # COPY half as much again (15 s against 9.6 s for 10M lines), on one core.
        return (
            'line bigint, problem text, external_id text COLLATE "C", member_no text, '
            'kind text, amount numeric, occurred_at timestamptz, refund_of text COLLATE "C"'
        )

    def _typed_staged(self) -> str:
        """The staged rows with fen and local day, read as a table (the local day with the
        session's TimeZone set to TIME_ZONE: ``classification_settings``)."""
        if not self.fast_path_possible():
            return self.names["stg"]
        return f"""(
            SELECT line, problem, external_id, member_no, kind,
                CAST(amount * 100 AS bigint) AS amount_fen, occurred_at,
                CAST(occurred_at AS date) AS occurred_on, refund_of
            FROM {self.names["stg"]})"""

    def _stage(self) -> None:
        self.names["typed"] = self._typed_staged()
        if not self.fast_path_possible():
            return super()._stage()
        with postgres_settings({"TimeZone": settings.TIME_ZONE}):
            super()._stage()

    def classification_settings(self) -> dict[str, str]:
        return {**BIG_STATEMENT_SETTINGS, "TimeZone": settings.TIME_ZONE}

    def _stager(self, *, freeze: bool = True):
        if not self.fast_path_possible():
            return super()._stager(freeze=freeze)
        # The staged tuple: line, problem, external_id, member_no, kind, amount_fen,
        # occurred_at, occurred_on, refund_of; fen is written as yuan, the date is computed.
        text = _copy_cell(_TEXT)
        return _CopyStager(
            self,
            ["line", "problem", "external_id", "member_no", "kind", "amount", "occurred_at"]
            + ["refund_of"],
            [(0, _copy_cell(_LINE)), (1, text), (2, text), (3, text), (4, text), (5, _yuan)]
            + [(6, _copy_cell(_MOMENT)), (8, text)],
            freeze=freeze,
        )

    def fast_pattern(self, header: list[str], limit: int) -> re.Pattern:
        def line(kind: str, refund_of: str) -> str:
            values = {**self.canonical, "kind": kind, "refund_of": refund_of}
            return ",".join(values[column] for column in header)

        # A purchase names no purchase, a refund names one (else the Python way says why).
        purchase = line(_PURCHASE.value, "")
        refund = line(_REFUND.value, _canonical_identifier(64))
        return re.compile(f"(?:(?:{purchase}|{refund})\\r?\\n){{0,{limit}}}", re.ASCII)

    def stage_fast(self, header: list[str], text: str, first_line: int) -> None:
        if "\r" in text:
            # COPY wants one kind of line end; a canonical value has no \r.
            text = text.replace("\r\n", "\n")
        # Each line with its number in front: Python has time to spare while PostgreSQL
        # parses the previous run (a sequence's default cost the server 15% more).
        numbered = "".join(
            [f"{line},{values}\n" for line, values in enumerate(text.split("\n")[:-1], first_line)]
        )
        self.copying.wait()
        self.copying.start(
            "COPY {} (line, {}) FROM STDIN (FORMAT csv, FREEZE)".format(  # as _CopyStager
                self.names["stg"], ", ".join(header)
            ),
            numbered,
        )
        self.chunks += 1

    # What no regex can say: zero is not positive, and "later than tomorrow".
    _RESTATED = "problem IS NULL AND (amount <= 0 OR occurred_at >= %s)"

    def restate_fast(self) -> Iterator[int]:
        # The cursor below reads the whole file on one core (1.3 s at 10M rows).
        if not self.any_row(f"{{stg}} WHERE {self._RESTATED}", [self.too_late]):
            return iter(())
        rows = self.query(
            f"SELECT line FROM {{stg}} WHERE {self._RESTATED} ORDER BY line", [self.too_late]
        )
        return (line for (line,) in rows)

    def discard_restated(self) -> None:
        # The Python way staged these lines again, each with its problem.
        self.sql(f"DELETE FROM {{stg}} WHERE {self._RESTATED}", [self.too_late])

    def parse(self, values: list, problems: list[str]) -> tuple:
        external_id, member_no, kind, amount, occurred_at, refund_of = values
        if kind == _PURCHASE and refund_of:
            problems.append(gettext("refund_of is set on a purchase"))
        elif kind == _REFUND and refund_of == "":
            problems.append(gettext("refund_of is empty: a refund names the purchase it refunds"))
        day = occurred_at.astimezone(self.tz).date() if occurred_at is not None else None
        return (external_id, member_no, kind, amount, occurred_at, day, refund_of or None)

    def classify(self) -> str:
        return """
        CREATE {work} TABLE {chk} AS
        SELECT s.line, s.problem, s.external_id, s.member_no, s.kind, s.amount_fen,
            s.occurred_at, s.occurred_on, s.refund_of, d.first_line, m.id AS member_id,
            t.id AS stored_id, CASE
            WHEN s.problem IS NOT NULL OR d.first_line IS NOT NULL THEN 1
            WHEN m.id IS NULL THEN 2
            WHEN t.id IS NULL THEN -1
            WHEN t.member_id = m.id AND t.kind = s.kind AND t.amount_fen = s.amount_fen
                AND t.occurred_at = s.occurred_at AND p.external_id {same} s.refund_of THEN 0
            ELSE 3 END AS status
        FROM {typed} s
        LEFT JOIN {dup} d ON d.line = s.line
        LEFT JOIN {member} m ON m.member_no = s.member_no
        LEFT JOIN {txn} t ON t.external_id = s.external_id
        LEFT JOIN {txn} p ON p.id = t.refund_of_id
        ORDER BY m.id, s.occurred_on
        """

    # A new refund's purchase is the first row of the file with that external id, else the
    # stored one. Refunds total at most the purchase's amount, counting stored refunds and the
    # file's earlier ones that are not refused themselves: a refund over the amount on its own
    # would otherwise have every later refund of the purchase reported too, and the file fixed
    # by its first report would be refused again for lines that were right. The running sum
    # (``totals``) is that total until a purchase's first refund over it; only for purchases
    # with one are the refunds folded line by line (``folded``, a step per refund of one
    # purchase), leaving out the refused ones.
    _REFUNDS = """
        CREATE {work} TABLE {bad} AS
        WITH RECURSIVE r AS (
            SELECT c.line, c.refund_of, c.amount_fen, CASE
                WHEN f.status > 0 THEN 'bad_target'
                WHEN COALESCE(f.kind, t.kind) IS NULL THEN 'unknown'
                WHEN COALESCE(f.kind, t.kind) <> 'purchase' THEN 'not_purchase'
                WHEN COALESCE(f.member_no, tm.member_no) <> c.member_no THEN 'other_member'
                WHEN c.occurred_at < COALESCE(f.occurred_at, t.occurred_at) THEN 'before'
                END AS code,
                f.line AS target_line,
                COALESCE(f.member_no, tm.member_no) AS owner,
                COALESCE(f.amount_fen, t.amount_fen) AS purchase_fen,
                COALESCE((SELECT SUM(x.amount_fen) FROM {txn} x WHERE x.refund_of_id = t.id), 0)
                    AS stored_fen
            FROM {refunds} c
            -- Only the file's rows some refund names: found on the parallel workers, where
            -- joining the whole file brought ten million rows to one process first.
            LEFT JOIN (
                SELECT * FROM {chk} WHERE first_line IS NULL
                AND external_id IN (SELECT refund_of FROM {refunds})
            ) f ON f.external_id = c.refund_of
            LEFT JOIN {txn} t ON t.external_id = c.refund_of
            LEFT JOIN {member} tm ON tm.id = t.member_id
        ), totals AS (
            SELECT line, refund_of, purchase_fen, stored_fen
                + SUM(amount_fen) OVER (PARTITION BY refund_of ORDER BY line) AS total
            FROM r WHERE code IS NULL
        ), ranked AS (
            SELECT line, refund_of, amount_fen, purchase_fen, stored_fen,
                ROW_NUMBER() OVER (PARTITION BY refund_of ORDER BY line) AS n
            FROM r WHERE code IS NULL
            AND refund_of IN (SELECT refund_of FROM totals WHERE total > purchase_fen)
        ), folded (line, refund_of, n, purchase_fen, total, kept_fen) AS (
            SELECT line, refund_of, n, purchase_fen, stored_fen + amount_fen,
                CASE WHEN stored_fen + amount_fen > purchase_fen THEN stored_fen
                ELSE stored_fen + amount_fen END
            FROM ranked WHERE n = 1
            UNION ALL
            SELECT k.line, k.refund_of, k.n, k.purchase_fen, f.kept_fen + k.amount_fen,
                CASE WHEN f.kept_fen + k.amount_fen > k.purchase_fen THEN f.kept_fen
                ELSE f.kept_fen + k.amount_fen END
            FROM folded f JOIN ranked k ON k.refund_of = f.refund_of AND k.n = f.n + 1
        )
        SELECT line, code, target_line, owner, NULL AS total, purchase_fen FROM r
        WHERE code IS NOT NULL
        UNION ALL
        SELECT line, 'over', NULL, NULL, total, purchase_fen FROM folded
        WHERE total > purchase_fen
    """

    # The new refunds, a fiftieth of a file, apart: the checks read them and only the file's
    # rows they name, and the write takes them from here, not from a scan of the whole file.
    _NEW_REFUNDS = """
        CREATE {work} TABLE {refunds} AS
        SELECT line, external_id, member_no, member_id, kind, amount_fen, occurred_at,
            occurred_on, refund_of
        FROM {chk} WHERE status = -1 AND kind = 'refund'
    """

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        with postgres_settings(BIG_STATEMENT_SETTINGS):
            self.sql(self._NEW_REFUNDS)
            self.analyze("refunds")
            self.sql(self._REFUNDS)
        self.analyze("bad")
        # The reading cursor below runs on one core (4 s at 10M rows).
        if not (self.any_row("{chk} WHERE status > 0") or self.any_row("{bad}")):
            return
        rows = self.query(
            "SELECT c.line, c.status, c.problem, c.first_line, c.external_id, c.member_no, "
            "c.kind, c.amount_fen, c.occurred_at, c.refund_of, tm.member_no, t.kind, "
            "t.amount_fen, t.occurred_at, p.external_id, b.code, b.target_line, b.owner, "
            "b.total, b.purchase_fen FROM {chk} c "
            "LEFT JOIN {bad} b ON b.line = c.line "
            "LEFT JOIN {txn} t ON c.status = 3 AND t.id = c.stored_id "
            "LEFT JOIN {member} tm ON tm.id = t.member_id "
            "LEFT JOIN {txn} p ON p.id = t.refund_of_id "
            "WHERE c.status > 0 OR b.line IS NOT NULL ORDER BY c.line"
        )
        for row in rows:
            line, status, problem, first, external_id, member_no, kind, amount, at, of = row[:10]
            if status == 1:
                repeated = first and gettext(
                    "external id %(id)s appears again (first on line %(line)d)"
                ) % {"id": external_id, "line": first}
                yield line, self.problems(problem, repeated)
            elif status == 2:
                yield line, _unknown(member_no)
            elif status == 3:
                old_no, old_kind, old_amount, old_at, old_of = row[10:15]
                yield (
                    line,
                    _TRANSACTION_DIFFERS
                    % {
                        "id": external_id,
                        "stored": self.differs(
                            self.COMPARED,
                            (old_no, old_kind, _Fen(old_amount), self.moment(old_at), old_of or ""),
                            (member_no, kind, _Fen(amount), self.moment(at), of or ""),
                        ),
                    },
                )
            else:
                yield line, self._refund_problem(of, member_no, *row[15:])

    @staticmethod
    def _refund_problem(target, member_no, code, target_line, owner, total, purchase_fen) -> str:
        if code == "bad_target":
            return gettext("refund of %(id)s, which is itself a bad row (line %(line)d)") % {
                "id": target,
                "line": target_line,
            }
        if code == "unknown":
            return gettext("refund of unknown purchase %(id)s") % {"id": target}
        if code == "not_purchase":
            return f"{column_name('refund_of')} {refund_of_refund_refusal(target)}"
        if code == "other_member":
            return gettext(
                "refund by member %(no)s of purchase %(id)s, which is member %(owner)s's"
            ) % {"no": member_no, "id": target, "owner": owner}
        if code == "before":
            return gettext("refund dated before its purchase %(id)s") % {"id": target}
        return gettext(
            "refunds of %(id)s would total %(total)s, more than its amount %(amount)s"
        ) % {
            "id": target,
            "total": format_yuan(fen_to_yuan(total)),
            "amount": format_yuan(fen_to_yuan(purchase_fen)),
        }

    def write(self, now: datetime.datetime) -> int:
        # A first load of a program's history: one sort per index and one join per foreign key
        # at the end, not a tree descent and a check per row (about three times faster).
        keys = self._keys_set_aside_for_a_large_load()
        # In (member, day) order, as classify() laid {chk} out: the (member, day) index and the
        # deferred foreign-key checks of members at commit then touch each page once, not at
        # random (about a fifth less time for a million rows than in line order). With the keys
        # aside too: a member's transactions then share pages, and every later read by member or
        # grouped by member is faster (at 10M rows in line order the policy preview took 25 s
        # instead of 18 s and the member page's p95 was 96 ms instead of 71 ms). The purchases'
        # order is not asked for here: INSERT … SELECT sorts on one core, the classification's
        # CREATE TABLE … AS on PostgreSQL's parallel workers (10 s less at 10M rows); the
        # refunds, a fiftieth of the rows, are sorted as they are written.
        # Scanned from its first page: a scan of a big table may otherwise start where another
        # one stopped, and the rows would be written out of order.
        with connection.cursor() as cursor, postgres_settings({"synchronize_seqscans": "off"}):
            # Purchases first: a refund needs its purchase's id, known only once it is stored.
            purchases = self._insert(
                cursor, "{chk}", "NULL", "WHERE c.status = -1 AND c.kind = 'purchase'", now
            )
            self.progress(
                ngettext("  wrote %(count)s purchase", "  wrote %(count)s purchases", purchases)
                % {"count": grouped(purchases)}
            )
            in_order = "ORDER BY c.member_id, c.occurred_on"
            if keys is None:
                # A subquery by the unique external id: the planner's statistics still take the
                # table for what it was before this import.
                purchase = "(SELECT p.id FROM {txn} p WHERE p.external_id = c.refund_of)"
                refunds = self._insert(cursor, "{refunds}", purchase, in_order, now)
            else:
                # Refunds written after the indexes are made put their entries at random
                # places in four indexes (5.6 s for 200,000 refunds): they are written before,
                # each finding its purchase by one join on the parallel workers (1.8 s).
                with postgres_settings(BIG_STATEMENT_SETTINGS):
                    self.sql(self._LINKED_REFUNDS)
                refunds = self._insert(cursor, "{linked}", "c.refund_of_id", in_order, now)
        self.progress(
            ngettext("  wrote %(count)s refund", "  wrote %(count)s refunds", refunds)
            % {"count": grouped(refunds)}
        )
        if refunds != self.new_rows - purchases:
            # Every refund's purchase was found by the checks: only a concurrent writer gets here.
            raise IntegrityError(
                f"wrote {refunds} refunds, expected {self.new_rows - purchases}: "
                "a purchase they refund is gone"
            )
        if keys is not None:
            # The foreign keys after the indexes, checked in one join each, not per row.
            keys.restore()
        return purchases + refunds

    def _insert(self, cursor, source: str, refund_of: str, rest: str, now) -> int:
        """Write the rows of ``source`` (aliased ``c``) with ``refund_of`` as the purchase's id;
        returns how many."""
        cursor.execute(
            "INSERT INTO {txn} (external_id, member_id, kind, amount_fen, occurred_at, "
            "occurred_on, refund_of_id, created_at) SELECT c.external_id, c.member_id, c.kind, "
            f"c.amount_fen, c.occurred_at, c.occurred_on, {refund_of}, %s FROM {source} c "
            f"{rest}".format(**self.names),
            [now],
        )
        return cursor.rowcount

    _LINKED_REFUNDS = """
        CREATE {work} TABLE {linked} AS
        SELECT c.external_id, c.member_id, c.kind, c.amount_fen, c.occurred_at, c.occurred_on,
            p.id AS refund_of_id
        FROM {refunds} c JOIN {txn} p ON p.external_id = c.refund_of
    """


class _ReferralImporter(_Importer):
    kind = "referrals"
    summary_count = ngettext_lazy("%(grouped)s referral", "%(grouped)s referrals", "count")
    model = Referral
    staged = (("referrer_no", _TEXT), ("referred_no", _TEXT), ("occurred_on", _DATE))
    identity = ("referred_no",)

    def columns(self) -> dict[str, Converter]:
        return {
            "referrer_no": member_no_value,
            "referred_no": member_no_value,
            # The day the referred member registered, kept as a local date.
            "occurred_at": _happened(self.latest),
        }

    def parse(self, values: list, problems: list[str]) -> tuple:
        referrer_no, referred_no, occurred_at = values
        if referred_no and referrer_no == referred_no:
            problems.append(gettext("referrer and referred are the same member"))
        day = occurred_at.astimezone(self.tz).date() if occurred_at is not None else None
        return (referrer_no, referred_no, day)

    def classify(self) -> str:
        # A member referred before the referrer joined is a contradiction (it also rules out
        # A referring B and B referring A, unless they joined the same day: see _find_circles),
        # and so is a referral dated before the referred member joined (the rule of
        # members.services.referral_date_refusal, whose words bad_rows gives).
        return """
        CREATE {work} TABLE {chk} AS
        SELECT s.line, s.problem, s.referrer_no, s.referred_no, s.occurred_on, d.first_line,
            a.id AS referrer_id, b.id AS referred_id, r.id AS stored_id, CASE
            WHEN s.problem IS NOT NULL OR d.first_line IS NOT NULL THEN 1
            WHEN a.id IS NULL OR b.id IS NULL THEN 2
            WHEN r.id IS NOT NULL AND r.referrer_id = a.id AND r.occurred_on = s.occurred_on
                THEN 0
            WHEN r.id IS NOT NULL THEN 3
            WHEN b.joined_on < a.joined_on OR s.occurred_on < b.joined_on THEN 4
            ELSE -1 END AS status
        FROM {stg} s
        LEFT JOIN {dup} d ON d.line = s.line
        LEFT JOIN {member} a ON a.member_no = s.referrer_no
        LEFT JOIN {member} b ON b.member_no = s.referred_no
        LEFT JOIN {referral} r ON r.referred_id = b.id
        """

    # A new referral closes a circle when its referred member is already, directly or through
    # others, the referrer of its referrer, counting the stored referrals and the file's new
    # rows on earlier lines: the line that closes the circle (its last) is the bad one.
    #
    # Everyone in a circle joined on the same day (a referrer joined on or before the member
    # referred), so only same-day referrals matter: the file's new ones and the stored ones
    # above their referrers. Each member has at most one referrer, so a member whose line of
    # referrers ends at someone nobody referred is in no circle: walking down from those
    # members marks them all in one set-based pass. What is left unmarked (only in a bad file)
    # is a circle or hangs below one, and is followed in Python, each member once.
    _SAME_DAY = """
        CREATE {work} TABLE {same_day} AS
        SELECT c.line, c.referrer_id, c.referred_id, a.joined_on
        FROM {chk} c
        JOIN {member} a ON a.id = c.referrer_id
        JOIN {member} b ON b.id = c.referred_id
        WHERE c.status = -1 AND a.joined_on = b.joined_on
    """
    # Line 0: a stored referral.
    _EDGES = """
        CREATE {work} TABLE {edges} AS
        WITH RECURSIVE above (node, joined_on) AS (
            SELECT referrer_id, joined_on FROM {same_day}
            UNION
            SELECT r.referrer_id, above.joined_on FROM above
            JOIN {referral} r ON r.referred_id = above.node
            JOIN {member} p ON p.id = r.referrer_id
            WHERE p.joined_on = above.joined_on
        )
        SELECT r.referred_id AS child, r.referrer_id AS parent, CAST(0 AS BIGINT) AS line
        FROM above
        JOIN {referral} r ON r.referred_id = above.node
        JOIN {member} p ON p.id = r.referrer_id
        WHERE p.joined_on = above.joined_on
        UNION ALL
        SELECT referred_id, referrer_id, line FROM {same_day}
    """
    _ROOTED = """
        CREATE {work} TABLE {rooted} AS
        WITH RECURSIVE down (node) AS (
            SELECT DISTINCT e.parent FROM {edges} e
            WHERE NOT EXISTS (SELECT 1 FROM {edges} x WHERE x.child = e.parent)
            UNION ALL
            SELECT e.child FROM down JOIN {edges} e ON e.parent = down.node
        )
        SELECT node FROM down
    """

    def _find_circles(self) -> None:
        """Fill ``{circle}``: the line closing each circle, and the circle's latest line before
        it (0 when the rest of the circle is stored)."""
        self.sql(self._SAME_DAY)
        self.analyze("same_day")
        self.sql(self._EDGES)
        self.sql('CREATE INDEX "_import_edges_child" ON {edges} (child)')
        self.sql('CREATE INDEX "_import_edges_parent" ON {edges} (parent)')
        self.analyze("edges")
        self.sql(self._ROOTED)
        self.sql('CREATE INDEX "_import_rooted_node" ON {rooted} (node)')
        self.analyze("rooted")
        referrer: dict[int, tuple[int, int]] = {
            child: (parent, line)
            for child, parent, line in self.query(
                "SELECT child, parent, line FROM {edges} e "
                "WHERE NOT EXISTS (SELECT 1 FROM {rooted} o WHERE o.node = e.child)"
            )
        }
        closing = []
        walked: dict[int, int] = {}  # member → the start of the walk that met them
        for start in referrer:
            path, node = [], start
            while node in referrer and node not in walked:
                walked[node] = start
                path.append(node)
                node = referrer[node][0]
            if walked.get(node) == start:  # this walk came back to one of its own
                lines = sorted(referrer[member][1] for member in path[path.index(node) :])
                closing.append((lines[-1], lines[-2]))
        column = _LINE.db_type(connection)
        self.sql(f"CREATE {{work}} TABLE {{circle}} (line {column}, through_line {column})")
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO {circle} (line, through_line) VALUES (%s, %s)".format(**self.names),
                closing,
            )

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        self._find_circles()
        rows = self.query(
            "SELECT c.line, c.status, c.problem, c.first_line, c.referrer_no, c.referred_no, "
            "c.occurred_on, c.referrer_id, c.referred_id, ra.member_no, r.occurred_on, "
            "a.joined_on, b.joined_on, o.through_line FROM {chk} c "
            "LEFT JOIN {circle} o ON o.line = c.line "
            "LEFT JOIN {referral} r ON c.status = 3 AND r.id = c.stored_id "
            "LEFT JOIN {member} ra ON ra.id = r.referrer_id "
            "LEFT JOIN {member} a ON c.status = 4 AND a.id = c.referrer_id "
            "LEFT JOIN {member} b ON c.status = 4 AND b.id = c.referred_id "
            "WHERE c.status > 0 OR o.line IS NOT NULL ORDER BY c.line"
        )
        for line, status, problem, first, referrer_no, referred_no, day, *rest in rows:
            referrer_id, referred_id, old_referrer, old_day, *joined, through = rest
            referrer_joined, referred_joined = joined
            if status == -1:  # new, but it closes a circle
                yield line, self._circle(referrer_no, referred_no, through)
            elif status == 1:
                repeated = first and gettext(
                    "member %(no)s was already referred (line %(line)d)"
                ) % {"no": referred_no, "line": first}
                yield line, self.problems(problem, repeated)
            elif status == 2:
                yield (
                    line,
                    _unknown(
                        referrer_no if referrer_id is None else None,
                        referred_no if referred_id is None else None,
                    ),
                )
            elif status == 3:
                yield (
                    line,
                    _REFERRAL_DIFFERS
                    % {
                        "no": referred_no,
                        "stored": self.differs(
                            ("referrer_no", "occurred_at"),
                            (old_referrer, self.day(old_day)),
                            (referrer_no, self.day(day)),
                        ),
                    },
                )
            else:
                yield (
                    line,
                    self._contradiction(
                        referrer_no,
                        referred_no,
                        self.day(day),
                        self.day(referrer_joined),
                        self.day(referred_joined),
                    ),
                )

    @staticmethod
    def _contradiction(
        referrer_no: str,
        referred_no: str,
        day: datetime.date,
        referrer_joined: datetime.date,
        referred_joined: datetime.date,
    ) -> str:
        """What a referral contradicts in the members' joined dates (status 4)."""
        parts = []
        if referred_joined < referrer_joined:
            parts.append(
                gettext(
                    "member %(referred)s joined on %(referred_on)s, before the referrer "
                    "%(referrer)s joined (%(referrer_on)s)"
                )
                % {
                    "referred": referred_no,
                    "referred_on": referred_joined,
                    "referrer": referrer_no,
                    "referrer_on": referrer_joined,
                }
            )
        refusal = referral_date_refusal(
            occurred_on=day, referred_no=referred_no, joined_on=referred_joined
        )
        if refusal is not None:
            parts.append(f"{column_name('occurred_at')} {refusal}")
        return clauses(parts)

    @staticmethod
    def _circle(referrer_no: str, referred_no: str, through: int) -> str:
        message = gettext(
            "member %(referred)s already referred %(referrer)s, directly or through other "
            "members: referrals cannot go round in a circle"
        ) % {"referred": referred_no, "referrer": referrer_no}
        if through:
            # The space before the bracket is the language's: none before a full-width one.
            message += gettext(" (see line %(line)d)") % {"line": through}
        return message

    def write(self, now: datetime.datetime) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO {referral} (referrer_id, referred_id, occurred_on, created_at) "
                "SELECT referrer_id, referred_id, occurred_on, %s FROM {chk} "
                "WHERE status = -1 ORDER BY line".format(**self.names),
                [now],
            )
            return cursor.rowcount


class _ActivityImporter(_Importer):
    kind = "activities"
    summary_count = ngettext_lazy("%(grouped)s activity", "%(grouped)s activities", "count")
    model = ActivityParticipation
    staged = (
        ("member_no", _TEXT),
        ("activity", _TEXT),
        ("occurred_at", _MOMENT),
        ("occurred_on", _DATE),
    )
    identity = ("member_no", "activity", "occurred_at")

    def columns(self) -> dict[str, Converter]:
        return {
            "member_no": member_no_value,
            "activity": activity_value,
            "occurred_at": _happened(self.latest),
        }

    def parse(self, values: list, problems: list[str]) -> tuple:
        member_no, activity, occurred_at = values
        day = occurred_at.astimezone(self.tz).date() if occurred_at is not None else None
        return (member_no, activity, occurred_at, day)

    def classify(self) -> str:
        # The identity is the whole row: a stored one always holds the same data.
        return """
        CREATE {work} TABLE {chk} AS
        SELECT s.line, s.problem, s.member_no, s.activity, s.occurred_at, s.occurred_on,
            d.first_line, m.id AS member_id, CASE
            WHEN s.problem IS NOT NULL OR d.first_line IS NOT NULL THEN 1
            WHEN m.id IS NULL THEN 2
            WHEN EXISTS (SELECT 1 FROM {activity} a WHERE a.member_id = m.id
                AND a.activity = s.activity AND a.occurred_at = s.occurred_at) THEN 0
            ELSE -1 END AS status
        FROM {stg} s
        LEFT JOIN {dup} d ON d.line = s.line
        LEFT JOIN {member} m ON m.member_no = s.member_no
        """

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        rows = self.query(
            "SELECT line, status, problem, first_line, member_no, activity, occurred_at "
            "FROM {chk} WHERE status > 0 ORDER BY line"
        )
        for line, status, problem, first, member_no, activity, occurred_at in rows:
            if status == 2:
                yield line, _unknown(member_no)
                continue
            repeated = first and gettext(
                'activity "%(activity)s" of member %(no)s at %(at)s appears again '
                "(first on line %(line)d)"
            ) % {
                "activity": activity,
                "no": member_no,
                "at": _shown(self.moment(occurred_at)),
                "line": first,
            }
            yield line, self.problems(problem, repeated)

    def write(self, now: datetime.datetime) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO {activity} (member_id, activity, occurred_at, occurred_on, "
                "created_at) SELECT member_id, activity, occurred_at, occurred_on, %s "
                "FROM {chk} WHERE status = -1 ORDER BY line".format(**self.names),
                [now],
            )
            return cursor.rowcount


class _BlacklistImporter(_Importer):
    kind = "blacklist"
    summary_count = ngettext_lazy(
        "%(grouped)s blacklist entry", "%(grouped)s blacklist entries", "count"
    )
    model = BlacklistEntry
    staged = (("member_no", _TEXT), ("reason", _TEXT), ("occurred_at", _MOMENT))
    # A member has at most one open entry, so a member twice in one file is a mistake.
    identity = ("member_no",)

    def columns(self) -> dict[str, Converter]:
        return {
            "member_no": member_no_value,
            "reason": _text(None),
            "occurred_at": _happened(self.latest),
        }

    def parse(self, values: list, problems: list[str]) -> tuple:
        return tuple(values)

    def classify(self) -> str:
        return """
        CREATE {work} TABLE {chk} AS
        SELECT s.line, s.problem, s.member_no, s.reason, s.occurred_at, d.first_line,
            m.id AS member_id, m.status AS previous_status, e.id AS stored_id, CASE
            WHEN s.problem IS NOT NULL OR d.first_line IS NOT NULL THEN 1
            WHEN m.id IS NULL THEN 2
            WHEN e.id IS NULL THEN -1
            WHEN e.reason = s.reason AND e.occurred_at = s.occurred_at THEN 0
            ELSE 3 END AS status
        FROM {stg} s
        LEFT JOIN {dup} d ON d.line = s.line
        LEFT JOIN {member} m ON m.member_no = s.member_no
        LEFT JOIN {blacklist} e ON e.member_id = m.id AND e.lifted_at IS NULL
        """

    def bad_rows(self) -> Iterator[tuple[int, str]]:
        rows = self.query(
            "SELECT c.line, c.status, c.problem, c.first_line, c.member_no, c.reason, "
            "c.occurred_at, e.reason, e.occurred_at FROM {chk} c "
            "LEFT JOIN {blacklist} e ON c.status = 3 AND e.id = c.stored_id "
            "WHERE c.status > 0 ORDER BY c.line"
        )
        for line, status, problem, first, member_no, reason, at, old_reason, old_at in rows:
            if status == 1:
                repeated = first and _DUPLICATE_MEMBER % {"no": member_no, "line": first}
                yield line, self.problems(problem, repeated)
            elif status == 2:
                yield line, _unknown(member_no)
            else:
                yield (
                    line,
                    _BLACKLIST_DIFFERS
                    % {
                        "no": member_no,
                        "stored": self.differs(
                            ("reason", "occurred_at"),
                            (old_reason, self.moment(old_at)),
                            (reason, self.moment(at)),
                        ),
                    },
                )

    def write(self, now: datetime.datetime) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO {blacklist} (member_id, reason, evidence, occurred_at, "
                "previous_status, created_at, lift_reason) SELECT member_id, reason, '', "
                "occurred_at, previous_status, %s, '' FROM {chk} WHERE status = -1 "
                "ORDER BY line".format(**self.names),
                [now],
            )
            count = cursor.rowcount
            cursor.execute(
                "UPDATE {member} SET status = %s WHERE id IN "
                "(SELECT member_id FROM {chk} WHERE status = -1)".format(**self.names),
                [Member.Status.BLACKLISTED],
            )
        return count


_IMPORTERS: dict[str, type[_Importer]] = {
    importer.kind: importer
    for importer in (
        _MemberImporter,
        _TransactionImporter,
        _ReferralImporter,
        _ActivityImporter,
        _BlacklistImporter,
    )
}
KINDS = tuple(_IMPORTERS)
