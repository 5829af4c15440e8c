"""The notices' part of erasing a member's personal data (PIPL).

``members`` sits below ``notifications`` and cannot reach the outbox, so ``member_erase`` here
is the member's own erasure (``members.privacy.member_erase``: profile, member number, audit
entries) and then the member's notices, in one transaction; the erasure staff run,
``reviews.privacy.member_erase``, adds the member's open review case to it.

The notices were rendered when queued, with the member's name (and whatever else a template
used) in their subject and body; the e-mail and SMS copies still to be sent would go out after
the erasure. Decided for this project (README "Privacy requests"):
- every notice of the member, on every channel and in every state, keeps its kind, channel,
  dates, status history and event key (the statistics and the "one notice per event" rule need
  them), but its subject and body are replaced by a neutral text in the notice's language,
  and so is a failed delivery's error (a backend's message may quote the address);
- e-mail and SMS notices not sent yet (pending or being sent) are marked not sent, with the
  reason, so no later delivery run sends them. The addresses are not stored in the outbox (a
  delivery reads them from the member, which has none any more).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext as _

from members import privacy as member_privacy
from members.models import Member

from .models import ERASED, ERASED_BODY, ERASED_ERROR, ERASED_SUBJECT, Channel, Notification


def _erased_texts(language: str) -> dict[str, str]:
    """The notice's new subject and body, in the notice's own language (what the member reads);
    why it was not sent is stored in English and translated for each staff reader
    (``loyalty.stored_text``)."""
    with translation.override(language):
        return {"subject": _(ERASED_SUBJECT), "body": _(ERASED_BODY)}


def notifications_erase(*, member: Member) -> int:
    """Replace the subject and body of every notice of ``member`` by a neutral text and mark
    their unsent e-mail and SMS notices not sent; returns how many notices were changed.
    Called by ``member_erase`` with the member's row locked (the lock every writer of the
    member's notices takes first), so no notice is queued for the member meanwhile."""
    notices = Notification.objects.filter(member=member)
    changed = 0
    for language in notices.values_list("language", flat=True).distinct().order_by():
        texts = _erased_texts(language)
        in_language = notices.filter(language=language)
        in_language.filter(
            channel__in=[Channel.EMAIL, Channel.SMS],
            status__in=[Notification.Status.PENDING, Notification.Status.SENDING],
        ).update(status=Notification.Status.SKIPPED, last_error=ERASED, next_attempt_at=None)
        # A backend's error may quote the address it was sent to.
        in_language.filter(status=Notification.Status.FAILED).update(last_error=ERASED_ERROR)
        changed += in_language.update(subject=texts["subject"], body=texts["body"])
    return changed


@transaction.atomic
def member_erase(*, member: Member, reason: str, actor, linked_audit: Q | None = None) -> Member:
    """Erase the member's personal data everywhere it is held below the pages: the member's
    own (``members.privacy.member_erase``, audited there with the reason) and their notices.
    Refused, with nothing changed, as the members' erasure refuses it."""
    member = member_privacy.member_erase(
        member=member, reason=reason, actor=actor, linked_audit=linked_audit
    )
    notifications_erase(member=member)
    return member
