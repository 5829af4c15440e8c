"""``manage.py <command> --help`` prints for every command of the project, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.utils import translation

PROJECT = Path(settings.BASE_DIR)


def _project_commands() -> list[tuple[str, str]]:
    commands = []
    for name, app in sorted(get_commands().items()):
        module = __import__(app, fromlist=["__file__"])
        if PROJECT in Path(module.__file__).parents and "site-packages" not in module.__file__:
            commands.append((name, app))
    return commands


def test_the_project_has_its_commands():
    names = {name for name, _ in _project_commands()}

    assert {"import_csv", "recompute_tiers", "export_tiers", "nominate_reviews"} <= names


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize(("name", "app"), _project_commands())
def test_help_prints_for_every_command(name, app, language, capsys):
    command = load_command_class(app, name)

    with translation.override(language), pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", name, "--help"])

    assert exited.value.code == 0
    assert f"usage: manage.py {name}" in capsys.readouterr().out


# How import_csv's description names each kind it accepts, in each language.
IMPORT_KINDS_NAMED = {
    "en": {
        "members": "members",
        "transactions": "transactions",
        "referrals": "referrals",
        "activities": "activities",
        "blacklist": "blacklist entries",
        "legacy_tiers": "legacy tiers",
    },
    "zh-hans": {
        "members": "会员",
        "transactions": "交易",
        "referrals": "推荐",
        "activities": "活动参与",
        "blacklist": "黑名单记录",
        "legacy_tiers": "原有等级",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_import_csv_help_names_every_kind_the_command_accepts(language, capsys):
    command = load_command_class(dict(_project_commands())["import_csv"], "import_csv")
    accepted = next(
        a for a in command.create_parser("manage.py", "import_csv")._actions if a.dest == "kind"
    )

    with translation.override(language), pytest.raises(SystemExit):
        command.run_from_argv(["manage.py", "import_csv", "--help"])

    description = " ".join(capsys.readouterr().out.split())
    named = IMPORT_KINDS_NAMED[language]
    assert set(accepted.choices) == set(named)
    for kind in accepted.choices:
        assert named[kind] in description, kind


@pytest.mark.parametrize(
    ("name", "app"),
    [
        (name, app)
        for name, app in _project_commands()
        if name not in ("benchmark", "seed_demo")  # developers' tools, in English
    ],
)
def test_operators_commands_describe_themselves_in_chinese(name, app, capsys):
    command = load_command_class(app, name)

    with translation.override("zh-hans"), pytest.raises(SystemExit):
        command.run_from_argv(["manage.py", name, "--help"])

    out = capsys.readouterr().out
    description, options = out.split("\n\n")[1], out.split("\n\n")[2]
    assert any("\u4e00" <= char <= "\u9fff" for char in description), description
    # Its own options (listed after -h, before Django's --version) are described in Chinese.
    own = re.split(r"\n(?=  -)", options.split("  --version")[0])[2:]
    assert all(any("\u4e00" <= char <= "\u9fff" for char in text) for text in own), own
