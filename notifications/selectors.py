from __future__ import annotations

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
