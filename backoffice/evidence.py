"""Files staff attach to a blacklist entry. One is stored when the confirmation page is shown
(the confirming POST carries only a signed token), so the files of pages never confirmed are
deleted later, by the next upload, once their confirmation can no longer be used."""

from __future__ import annotations

import datetime
import uuid
from pathlib import PurePath

from django.core.files.storage import default_storage
from django.utils import timezone

from loyalty.confirm import CONFIRM_MAX_AGE
from members.models import BlacklistEntry

EVIDENCE_DIR = "blacklist-evidence"


def evidence_store(upload) -> str:
    """Store ``upload`` (none: nothing) under this month's folder, with a name nobody can
    guess; returns its storage name. Unconfirmed files are deleted first."""
    unconfirmed_evidence_delete()
    if upload is None:
        return ""
    day = timezone.localdate()
    name = f"{EVIDENCE_DIR}/{day:%Y/%m}/{uuid.uuid4().hex}-{PurePath(upload.name).name}"
    return default_storage.save(name, upload)


def unconfirmed_evidence_delete() -> int:
    """Delete the evidence files, in this month's and last month's folders, that no blacklist
    entry names and whose confirmation page expired a while ago (twice its life: a page
    confirmed at its last moment has committed its entry by then). Returns how many."""
    today = timezone.localdate()
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    expired = timezone.now() - datetime.timedelta(seconds=2 * CONFIRM_MAX_AGE)
    deleted = 0
    for day in (today, last_month):
        folder = f"{EVIDENCE_DIR}/{day:%Y/%m}"
        try:
            _folders, files = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        names = [f"{folder}/{file}" for file in files]
        named = set(
            BlacklistEntry.objects.filter(evidence_file__in=names).values_list(
                "evidence_file", flat=True
            )
        )
        for name in names:
            if name not in named and default_storage.get_modified_time(name) < expired:
                default_storage.delete(name)
                deleted += 1
    return deleted
