"""Production settings: `check --deploy` clean, secure cookies, HSTS, CSP."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def production_env() -> dict:
    # The test process sets DJANGO_ALLOW_ASYNC_UNSAFE for Playwright; a deployment never does.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "newsroom.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "news.example.com",
        "NEWSROOM_VAR_DIR": "/tmp/newsroom-test-var/production",
    }


def test_check_deploy_is_clean():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=production_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_requires_a_secret_key():
    env = production_env()
    env.pop("SECRET_KEY")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.test import Client
c = Client(HTTP_HOST="news.example.com")
plain = c.get("/healthz?live=1")
secure = c.get("/healthz?live=1", secure=True)
print(json.dumps({
    "redirect": [plain.status_code, plain.headers.get("Location")],
    "headers": dict(secure.headers),
    "cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY],
    "debug": settings.DEBUG,
}))
"""


def test_production_headers_and_cookies():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=production_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["redirect"] == [301, "https://news.example.com/healthz?live=1"]
    headers = seen["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "object-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert seen["cookies"] == [True, True, True]
    assert seen["debug"] is False
