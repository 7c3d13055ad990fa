"""System checks on the Klaviyo settings."""

from integrations.checks import klaviyo_settings_check


def test_plain_http_redirect_uri_outside_debug_is_refused(settings):
    settings.DEBUG = False
    settings.KLAVIYO_REDIRECT_URI = "http://partyline.example.com/integrations/klaviyo/callback/"

    assert [message.id for message in klaviyo_settings_check()] == ["integrations.E001"]
