"""Staff roles as Django groups, declared here and synced after every ``migrate``.

Views and API endpoints check model permissions (``members.view_member`` ...), never group
names, so a site can shape its own groups; these are the defaults of domain.md's table.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

VIEW_ALL = [
    "members.view_member",
    "members.view_transaction",
    "members.view_referral",
    "members.view_activityparticipation",
    "members.view_blacklistentry",
    "tiers.view_tier",
    "tiers.view_benefit",
    "tiers.view_tierpolicy",
    "tiers.view_tierchange",
    "tiers.view_downgradewarning",
    "tiers.view_tieroverride",
    "tiers.view_membertier",
    "tiers.view_memberevaluation",
    "reviews.view_reviewcase",
    "reviews.view_vote",
    "reviews.view_committeemember",
    "reviews.view_casetransition",
]

# The jobs page (schedules, runs, failures) and members' notifications.
VIEW_JOBS = [
    "jobs.view_jobrun",
    "jobs.view_recomputechunk",
    "notifications.view_notification",
    "notifications.view_notificationtemplate",
]

# Staff nominate members for special review by hand, edit the proposal until voting starts,
# open the vote and withdraw a case.
NOMINATE = ["reviews.add_reviewcase", "reviews.change_reviewcase"]

ROLES: dict[str, dict] = {
    # Customer operations: look members up, record facts, blacklist, override, convert.
    "ops": {
        "label": _("Customer operations"),
        "permissions": VIEW_ALL
        + [
            "members.view_member_contact",
            "members.add_member",
            "members.change_member",
            "members.add_transaction",
            "members.add_referral",
            "members.add_activityparticipation",
            "members.add_blacklistentry",
            "tiers.add_tieroverride",
            "tiers.change_tieroverride",
            "notifications.resend_notification",
            *NOMINATE,
        ]
        + VIEW_JOBS,
    },
    # Ops leads: everything ops does, plus lifting a blacklist entry and privacy requests.
    "ops_lead": {
        "label": _("Customer operations lead"),
        "permissions": VIEW_ALL
        + [
            "members.view_member_contact",
            "members.add_member",
            "members.change_member",
            "members.add_transaction",
            "members.add_referral",
            "members.add_activityparticipation",
            "members.add_blacklistentry",
            "members.lift_blacklistentry",
            "members.export_member_data",
            "members.erase_member_data",
            "tiers.add_tieroverride",
            "tiers.change_tieroverride",
            "notifications.resend_notification",
            *NOMINATE,
            # Ops leads seat the committee (departments, chair).
            "reviews.add_committeemember",
            "reviews.change_committeemember",
            "reviews.delete_committeemember",
            # Keys for other systems (POS, e-commerce, CRM) to use the REST API.
            "api.view_apikey",
            "api.add_apikey",
            "api.revoke_apikey",
            # A recompute or lifecycle run started now from the jobs page (a missed night).
            "jobs.start_jobrun",
        ]
        + VIEW_JOBS,
    },
    # The committee votes; only members with a seat (reviews.CommitteeMember) may.
    "committee": {
        "label": _("Review committee"),
        "permissions": VIEW_ALL + ["reviews.vote_reviewcase"],
    },
    "policy_owner": {
        "label": _("Policy owner"),
        "permissions": VIEW_ALL
        + [
            "tiers.add_tierpolicy",
            "tiers.change_tierpolicy",
            "tiers.publish_tierpolicy",
            "tiers.change_tier",
            "tiers.add_benefit",
            "tiers.change_benefit",
            "tiers.delete_benefit",
            "notifications.change_notificationtemplate",
        ]
        + VIEW_JOBS,
    },
    # Auditors read everything, the audit log included, and change nothing.
    "auditor": {
        "label": _("Auditor"),
        "permissions": VIEW_ALL + VIEW_JOBS + ["loyalty.view_auditentry", "api.view_apikey"],
    },
}


def sync_roles(**kwargs) -> None:
    """Create the groups and give them exactly their declared permissions. Safe to run often:
    a permission whose app has not migrated yet is picked up on a later run."""
    from django.contrib.auth.models import Group, Permission

    for name, role in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in role["permissions"]:
            app_label, codename = dotted.split(".")
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
