"""System checks on the Klaviyo settings: each verdict has an id, names the variable a person
sets and says what to set it to."""

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from integrations import checks

CALLBACK = "/integrations/klaviyo/callback/"


def ids(tag: str, *, deploy: bool = False) -> list[str]:
    return [message.id for message in run_checks(tags=[tag], include_deployment_checks=deploy)]


def test_plain_http_redirect_uri_outside_debug_is_refused(settings):
    settings.DEBUG = False
    settings.KLAVIYO_REDIRECT_URI = f"http://partyline.example.com{CALLBACK}"

    assert ids(checks.REDIRECT_URI) == ["integrations.E001"]


@pytest.mark.parametrize("debug", [True, False])
def test_a_relative_redirect_uri_is_refused_naming_it(settings, debug):
    settings.DEBUG = debug
    settings.KLAVIYO_REDIRECT_URI = "relative/callback"

    [message] = run_checks(tags=[checks.REDIRECT_URI])

    assert message.id == "integrations.E002"
    assert message.msg == "KLAVIYO_REDIRECT_URI=relative/callback is not an absolute URL."
    assert f"KLAVIYO_REDIRECT_URI=https://<your host>{CALLBACK}" in message.hint


def test_an_allowlistable_redirect_uri_passes(settings):
    settings.DEBUG = False
    settings.KLAVIYO_REDIRECT_URI = f"https://partyline.example.com{CALLBACK}"

    assert ids(checks.REDIRECT_URI) == []


def test_the_klaviyo_tag_runs_every_topic(settings):
    settings.DEBUG = False
    settings.KLAVIYO_REDIRECT_URI = "relative/callback"
    settings.KLAVIYO_SCOPES = "accounts:read"
    settings.KLAVIYO_REVISION = "latest"

    assert sorted(ids(checks.KLAVIYO)) == [
        "integrations.E002",
        "integrations.E006",
        "integrations.E007",
    ]


def test_an_aged_revision_gates_deploys_but_never_a_process_start(settings):
    today = timezone.localdate()
    settings.KLAVIYO_REVISION = today.replace(year=today.year - 3, day=1).isoformat()

    # `manage.py check` (run before runserver, migrate or a worker starts) lets time pass...
    assert ids(checks.REVISION) == []
    # ...`check --deploy` and the doctor do not.
    assert ids(checks.REVISION, deploy=True) == ["integrations.E009"]
