"""export_tiers as spreadsheets and pipes meet it; recompute_tiers --as-of parsed strictly."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import os
import resource
import signal
import stat

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from loyalty.spreadsheet import csv_safe
from members.tests.factories import MemberFactory
from tiers.models import MemberEvaluation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t1", "'\t1"),
        ("\r1", "'\r1"),
        ("M001", "M001"),
        (12, "12"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_escaped(value, written):
    assert csv_safe(value) == written


def test_an_exported_formula_cell_reads_back_escaped(tmp_path):
    MemberFactory(member_no="=cmd|' /C calc'!A0")
    path = tmp_path / "tiers.csv"

    call_command("export_tiers", "--output", str(path), "--excel", stderr=io.StringIO())

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["member_no"] == "'=cmd|' /C calc'!A0"


def test_export_refuses_to_overwrite_a_file_without_force(tmp_path):
    path = tmp_path / "tiers.csv"
    path.write_text("keep me")

    with pytest.raises(CommandError, match="already exists: choose another file or add --force"):
        call_command("export_tiers", "--output", str(path), stderr=io.StringIO())
    assert path.read_text() == "keep me"

    call_command("export_tiers", "--output", str(path), "--force", stderr=io.StringIO())
    assert path.read_text().startswith("member_no,")


@contextlib.contextmanager
def files_up_to_2_kb():
    """Files of this process stop growing at 2 KB (a full disk, for the export): writing past
    it fails with EFBIG instead of killing the process (SIGXFSZ ignored)."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def test_an_export_that_fails_half_way_leaves_the_earlier_file_as_it_was(tmp_path):
    MemberFactory.create_batch(100)
    path = tmp_path / "tiers.csv"
    path.write_text("yesterday's export")

    with pytest.raises(CommandError) as raised, files_up_to_2_kb():
        call_command("export_tiers", "--output", str(path), "--force", stderr=io.StringIO())

    assert str(raised.value) == f"{path} cannot be written: File too large; nothing was changed"
    assert path.read_text() == "yesterday's export"
    assert [p.name for p in tmp_path.iterdir()] == ["tiers.csv"]  # no part file left


def test_an_export_keeps_the_earlier_files_mode_and_writes_through_a_link(tmp_path):
    MemberFactory(member_no="E1")
    target = tmp_path / "exports" / "tiers.csv"
    target.parent.mkdir()
    target.write_text("yesterday's export")
    target.chmod(0o644)
    link = tmp_path / "latest.csv"
    link.symlink_to(target)

    call_command("export_tiers", "--output", str(link), "--force", stderr=io.StringIO())

    assert link.is_symlink() and link.resolve() == target
    assert target.read_text().startswith("member_no,") and "E1" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    # A new file gets the mode new files get here, not a temporary file's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    fresh = tmp_path / "fresh.csv"
    call_command("export_tiers", "--output", str(fresh), stderr=io.StringIO())
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "fresh.csv", "latest.csv"]


def test_export_to_a_missing_directory_is_one_line(tmp_path):
    with pytest.raises(CommandError) as raised:
        call_command("export_tiers", "--output", str(tmp_path / "nowhere" / "t.csv"))

    assert str(raised.value) == f"{tmp_path / 'nowhere'} is not a directory: nothing was written"


@pytest.mark.parametrize("name", ["tiers.xlsx", "tiers.XLS", "tiers.ods"])
def test_export_refuses_a_workbook_name_for_csv_and_writes_nothing(tmp_path, name):
    with pytest.raises(CommandError) as raised:
        call_command("export_tiers", "--output", str(tmp_path / name), "--excel")

    assert "writes CSV, not an Excel workbook; name the file .csv" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("as_of", ["2026-13-01", "20260630", "0001-01-01", "2026-W02-6"])
def test_recompute_refuses_an_as_of_date_with_one_clear_line(as_of):
    with pytest.raises(CommandError) as raised:
        call_command("recompute_tiers", "--as-of", as_of, stdout=io.StringIO())

    assert str(raised.value).startswith(f'--as-of "{as_of}" ')
    assert "\n" not in str(raised.value)


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError


def test_export_into_a_closed_pipe_stops_quietly():
    MemberFactory(member_no="P1")
    err = io.StringIO()

    call_command("export_tiers", stdout=_ClosedPipe(), stderr=err)

    assert err.getvalue() == ""


def test_recompute_refuses_an_as_of_date_after_today_and_evaluates_nobody():
    MemberFactory(member_no="F1")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)

    with pytest.raises(CommandError) as raised:
        call_command("recompute_tiers", "--as-of", str(tomorrow), stdout=io.StringIO())

    assert str(raised.value).startswith(f'--as-of "{tomorrow}" is after today')
    assert raised.value.returncode != 0
    assert not MemberEvaluation.objects.exists()


def test_recompute_refuses_a_future_as_of_date_in_chinese_too():
    with translation.override("zh-hans"), pytest.raises(CommandError) as raised:
        call_command("recompute_tiers", "--as-of", "2099-01-01", stdout=io.StringIO())

    assert str(raised.value).startswith("--as-of“2099-01-01”晚于今天")


def test_recompute_accepts_today_as_the_as_of_date():
    MemberFactory(member_no="T1")

    call_command(
        "recompute_tiers",
        "--as-of",
        str(timezone.localdate()),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )

    assert MemberEvaluation.objects.get().evaluated_on == timezone.localdate()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--chunk-size", "0"), ("--chunk-size", "-5"), ("--workers", "0"), ("--workers", "-1")],
)
def test_recompute_refuses_a_chunk_size_or_worker_count_below_one(option, value):
    MemberFactory(member_no="C1")

    with pytest.raises(CommandError) as raised:
        call_command("recompute_tiers", option, value, stdout=io.StringIO())

    assert str(raised.value) == f"{option} {value}: give a whole number of at least 1"
    assert not MemberEvaluation.objects.exists()
