"""The member pages' part of an erasure (``members.signals.member_erased``)."""

from __future__ import annotations

from django.dispatch import receiver

from members.signals import member_erased

from .models import MemberAccount, SignInCode


@receiver(member_erased)
def member_sign_in_erase(sender, *, member, phone: str, **kwargs) -> None:
    """The erased member's account (password hash, last sign-in) and the sign-in code requests
    for the number they had (phone and client address) go: nobody signs in as them again, and
    a session still open finds no member (``selectors.signed_in_member``)."""
    MemberAccount.objects.filter(member=member).delete()
    if phone:
        SignInCode.objects.filter(phone=phone).delete()
