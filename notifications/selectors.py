from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db.models import QuerySet

from members.models import Member

from .models import Channel, Notification


def member_messages(member: Member) -> QuerySet[Notification]:
    """The member's in-app messages, newest first (the member pages list these)."""
    return Notification.objects.filter(member=member, channel=Channel.IN_APP).order_by(
        "-created_at", "-id"
    )


def member_notifications(member: Member) -> QuerySet[Notification]:
    """Every notice queued for the member on every channel, newest first (staff view)."""
    return Notification.objects.filter(member=member).order_by("-created_at", "-id")


def failed_notifications() -> QuerySet[Notification]:
    return (
        Notification.objects.filter(status=Notification.Status.FAILED)
        .select_related("member")
        .order_by("-created_at", "-id")
    )


def in_app_delivered(
    kind: str, member_ids: Iterable[int]
) -> dict[tuple[int, str], datetime.datetime]:
    """When the in-app message of each event of ``kind`` reached these members, by (member id,
    event key, i.e. ``dedupe_key``): an in-app message is delivered by being stored. One query
    over the members' id range, so no list of ids, however many (one range of a recompute)."""
    wanted = set(member_ids)
    if not wanted:
        return {}
    rows = Notification.objects.filter(
        kind=kind,
        channel=Channel.IN_APP,
        member_id__gte=min(wanted),
        member_id__lte=max(wanted),
        sent_at__isnull=False,
    ).values_list("member_id", "dedupe_key", "sent_at")
    return {(member_id, key): sent_at for member_id, key, sent_at in rows if member_id in wanted}
