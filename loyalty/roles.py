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
]

ROLES: dict[str, dict] = {
    "ops": {
        "label": _("Customer operations"),
        "permissions": VIEW_ALL
        + [
            "members.add_member",
            "members.change_member",
            "members.add_transaction",
            "members.add_referral",
            "members.add_activityparticipation",
            "members.add_blacklistentry",
        ],
    },
    "committee": {"label": _("Review committee"), "permissions": VIEW_ALL},
    "policy_owner": {
        "label": _("Policy owner"),
        "permissions": VIEW_ALL
        + [
            "tiers.add_tierpolicy",
            "tiers.change_tierpolicy",
            "tiers.change_tier",
            "tiers.add_benefit",
            "tiers.change_benefit",
            "tiers.delete_benefit",
        ],
    },
    "auditor": {"label": _("Auditor"), "permissions": VIEW_ALL + ["loyalty.view_auditentry"]},
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
