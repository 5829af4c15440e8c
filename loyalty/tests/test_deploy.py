"""Production settings: ``check --deploy`` is clean with the documented environment, secure
defaults with DEBUG off, translated error pages that never show a traceback, CSRF everywhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import path

ROOT = Path(settings.BASE_DIR)

# The production environment the README documents (section "Production deployment").
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "loyalty.settings.base",
    "SECRET_KEY": "x7Jq-2mP9vLr4tN8wZc1Hs6Kd3Fg5Ya0Ub7Ie2Oo9Rp4Tl6Mn8Qv1Xw3Ez5Cy-prod",
    "ALLOWED_HOSTS": "tiers.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://tiers.example.com",
    "USE_X_FORWARDED_PROTO": "true",
    "TRUSTED_PROXY_COUNT": "1",
    "LOG_FORMAT": "json",
}


def run_manage(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    # Only what the production environment sets: nothing of this test process's settings.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    clean = {k: v for k, v in os.environ.items() if k in keep}
    clean.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_the_documented_production_environment(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_when_production_turns_debug_on(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env={**PRODUCTION_ENV, "DEBUG": "true"}, tmp_path=tmp_path,
    )  # fmt: skip

    assert result.returncode != 0
    assert "security.W018" in result.stderr


def test_the_web_server_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("shell", "-c", "import loyalty.wsgi", env=env, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_secure_defaults_apply_whenever_debug_is_off(tmp_path):
    names = [
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_AGE",
        "LOG_FORMAT",
    ]
    code = f"from django.conf import settings; print([getattr(settings, n) for n in {names}])"

    result = run_manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(
        [True, True, True, 31536000, ("HTTP_X_FORWARDED_PROTO", "https"), 28800, "json"]
    )


def test_session_lifetime_is_configurable(tmp_path):
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)"

    result = run_manage(
        "shell", "--no-imports", "-c", code,
        env={**PRODUCTION_ENV, "SESSION_COOKIE_AGE": "3600"}, tmp_path=tmp_path,
    )  # fmt: skip

    assert result.stdout.strip() == "3600"


# --- Error pages ---------------------------------------------------------------------------


def crash(request):
    raise RuntimeError("secret internal detail")


urlpatterns = [path("crash/", crash)]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_crash_with_debug_off_shows_the_error_page_and_no_traceback(client, language):
    client.raise_request_exception = False
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    response = client.get("/crash/")

    body = response.content.decode()
    assert response.status_code == 500
    assert f'lang="{language}"' in body
    if language == "en":
        assert "Something went wrong" in body
    assert "secret internal detail" not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body


@pytest.mark.django_db
def test_a_missing_page_is_the_translated_not_found_page(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "There is nothing at this address." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "said"), [("en", "Not a page to open"), ("zh-hans", "此地址不能直接打开")]
)
def test_an_address_that_only_takes_a_form_opened_directly_says_so(client, language, said):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    page = client.get("/my/logout/")  # members sign out by the button (POST)
    api = client.get("/api/v1/transactions/batch/", HTTP_AUTHORIZATION="Api-Key nope")

    assert (page.status_code, page["Allow"]) == (405, "POST")
    assert said in page.content.decode() and 'href="/my/"' in page.content.decode()
    assert api["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_a_request_for_an_unknown_host_gets_the_bad_request_page(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.get("/accounts/login/", HTTP_HOST="evil.example.net")

    assert response.status_code == 400
    assert "Bad request" in response.content.decode()


@pytest.mark.django_db
def test_a_form_posted_without_its_csrf_token_gets_the_translated_expired_form_page(
    django_user_model,
):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.post("/accounts/login/", {"username": "a", "password": "b"})

    assert response.status_code == 403
    assert "The form has expired" in response.content.decode()


def test_no_view_is_exempt_from_csrf_except_the_key_authenticated_api():
    offenders = []
    for source in ROOT.rglob("*.py"):
        relative = source.relative_to(ROOT)
        if relative.parts[0] in (".venv", "api") or source == Path(__file__):
            continue
        if re.search(r"\bcsrf_exempt\b", source.read_text(encoding="utf-8")):
            offenders.append(str(source.relative_to(ROOT)))

    assert offenders == []


def test_every_post_form_in_the_templates_carries_a_csrf_token():
    missing = []
    for template in ROOT.rglob("*.html"):
        relative = template.relative_to(ROOT)
        if relative.parts[0] == ".venv" or "templates" not in relative.parts:
            continue
        text = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", text, re.S | re.I):
            if "{% csrf_token %}" not in form:
                missing.append(str(template.relative_to(ROOT)))

    assert missing == []


# --- Logs ---------------------------------------------------------------------------------


def test_with_log_format_json_every_log_line_on_stdout_is_a_json_object(tmp_path):
    code = (
        "import logging\n"
        "log = logging.getLogger('loyalty.test')\n"
        "log.warning('导入 %s 行', 3, extra={'job': 'import'})\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n    log.exception('failed')\n"
    )

    result = run_manage("shell", "--no-imports", "-c", code, env=PRODUCTION_ENV, tmp_path=tmp_path)

    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert lines[0]["level"] == "WARNING"
    assert lines[0]["logger"] == "loyalty.test"
    assert lines[0]["message"] == "导入 3 行"
    assert lines[0]["job"] == "import"
    assert lines[0]["time"].endswith("+00:00")
    assert lines[1]["message"] == "failed"
    assert "ZeroDivisionError" in lines[1]["exception"]


def test_by_default_logs_are_plain_text_on_stdout(tmp_path):
    code = "import logging; logging.getLogger('loyalty.test').warning('plain')"
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "LOG_FORMAT"}

    result = run_manage("shell", "--no-imports", "-c", code, env=env, tmp_path=tmp_path)

    assert result.stdout.strip().endswith("WARNING loyalty.test plain")
