"""System checks on the Klaviyo settings: each verdict has an id, names the variable a person
sets and says what to set it to."""

import pytest
from django.core.checks import run_checks
from django.utils import timezone

from integrations import checks
from integrations.klaviyo.config import DEFAULT_SCOPES, EVENT_SCOPES, LIST_SCOPES

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
        "integrations.W006",
    ]


def test_the_default_scopes_pass_and_are_what_the_settings_request_unless_told(settings):
    # config/settings.py spells the default out for `KLAVIYO_SCOPES` unset: the same one.
    assert tuple(settings.KLAVIYO_SCOPES.split()) == DEFAULT_SCOPES
    assert ids(checks.SCOPES) == []
    del settings.KLAVIYO_SCOPES

    assert ids(checks.SCOPES) == []


def test_scopes_lacking_a_list_scope_are_an_error_naming_only_those(settings):
    settings.KLAVIYO_SCOPES = " ".join(scope for scope in DEFAULT_SCOPES if scope != "lists:write")

    [message] = run_checks(tags=[checks.SCOPES])

    assert message.id == "integrations.E006"
    assert message.msg == "KLAVIYO_SCOPES lacks lists:write, which Partyline needs."
    assert f"KLAVIYO_SCOPES={' '.join(DEFAULT_SCOPES)!r}" in message.hint


def test_scopes_lacking_event_scopes_only_warn_that_events_cannot_be_sent(settings):
    settings.KLAVIYO_SCOPES = " ".join([*LIST_SCOPES, "events:read"])

    [message] = run_checks(tags=[checks.SCOPES])

    assert message.id == "integrations.W006"
    assert message.is_serious() is False
    assert message.msg.startswith(
        "KLAVIYO_SCOPES lacks events:write, metrics:read, flows:read, so Partyline cannot send "
        "lifecycle events"
    )
    assert f"KLAVIYO_SCOPES={' '.join(DEFAULT_SCOPES)!r}" in message.hint


def test_scopes_lacking_both_groups_say_each(settings):
    settings.KLAVIYO_SCOPES = " ".join(LIST_SCOPES[:-1])

    messages = run_checks(tags=[checks.SCOPES])

    assert [message.id for message in messages] == ["integrations.E006", "integrations.W006"]
    assert "subscriptions:write" in messages[0].msg
    assert ", ".join(EVENT_SCOPES) in messages[1].msg


def test_an_aged_revision_gates_deploys_but_never_a_process_start(settings):
    today = timezone.localdate()
    settings.KLAVIYO_REVISION = today.replace(year=today.year - 3, day=1).isoformat()

    # `manage.py check` (run before runserver, migrate or a worker starts) lets time pass...
    assert ids(checks.REVISION) == []
    # ...`check --deploy` and the doctor do not.
    assert ids(checks.REVISION, deploy=True) == ["integrations.E009"]
