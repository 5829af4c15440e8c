"""What each audit action means, in words staff read: the log stores the stable code
(``tier.override.manual``), the pages show its label and the code beside it."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviews.models import ReviewCase

# Actions a member takes on the member pages, recorded without a staff actor.
MEMBER_ACTIONS = frozenset({"portal.password_set"})


def actor_label(entry) -> str:
    """Who did it: the staff user, the member (on the member pages), or the system."""
    if entry.actor_id is not None:
        return entry.actor.get_username()
    return str(_("the member") if entry.action in MEMBER_ACTIONS else _("system"))


ACTION_LABELS = {
    "member.create": _("member registered"),
    "member.update": _("member details changed"),
    "member.convert": _("converted to a full member"),
    "member.reevaluate": _("evaluated now"),
    "member.blacklist": _("put on the blacklist"),
    "member.blacklist_lift": _("blacklist entry lifted"),
    "member.privacy_export": _("personal data exported"),
    "member.privacy_erase": _("personal data erased"),
    "transaction.purchase": _("purchase recorded"),
    "transaction.refund": _("refund recorded"),
    "referral.create": _("referral recorded"),
    "activity.create": _("activity recorded"),
    "tier.override": _("tier overrides"),
    "tier.override.manual": _("tier override set"),
    "tier.override.committee": _("exceptional upgrade granted"),
    "tier.override.end": _("tier override ended"),
    "tier.rename": _("tier renamed"),
    "policy.draft.create": _("policy draft created"),
    "policy.draft.update": _("policy draft edited"),
    "policy.publish": _("policy published"),
    "benefit.create": _("benefit added"),
    "benefit.update": _("benefit changed"),
    "benefit.delete": _("benefit removed"),
    "review.case.nominated": _("nominated for special review"),
    "review.case.update": _("review case edited"),
    "review.case.vote": _("committee vote cast"),
    "review.committee.set": _("committee member appointed"),
    "review.committee.remove": _("committee member removed"),
    "notification.resend": _("notification resent"),
    "notification.template.update": _("notification template edited"),
    "api_key.create": _("API key created"),
    "api_key.revoke": _("API key revoked"),
    "login.locked_out": _("staff sign-in locked out"),
    "portal.account_locked": _("member sign-in locked"),
    "portal.password_set": _("member password set"),
    "job.start": _("job run started"),
    "admin.add": _("added in the admin"),
    "admin.change": _("changed in the admin"),
    "admin.delete": _("deleted in the admin"),
}

# Offered as suggestions in the action filter; a family ("tier.override") finds its members.
FILTER_SUGGESTIONS = [
    "member.blacklist",
    "member.blacklist_lift",
    "member.convert",
    "member.create",
    "member.reevaluate",
    "member.update",
    "tier.override",
    "tier.override.manual",
    "tier.override.committee",
    "tier.override.end",
    "transaction.purchase",
    "transaction.refund",
    "referral.create",
    "activity.create",
    "policy.publish",
    "review.case.vote",
    "admin.change",
]


def action_label(action: str) -> str:
    """The label of ``action``; a case's move to a state is named by the state; an unknown
    action (none yet) by nothing, the code alone then says what it is."""
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    family, _dot, state = action.rpartition(".")
    if family == "review.case" and state in ReviewCase.State.values:
        return str(_("review case: %(state)s") % {"state": ReviewCase.State(state).label})
    return ""
