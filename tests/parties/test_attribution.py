"""Where signups come from: the campaign (utm_*) of the link people followed and the site that
sent them, read when the form is shown and carried through it, cleaned, kept first-touch,
sent with `Registered for Party`, counted on the party page and in its CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.test import RequestFactory
from django.urls import reverse

from klaviyo_sandbox.models import Event as SandboxEvent
from parties import attribution, embed
from parties.events import events_send
from parties.models import Attendee, Party, PartyEvent, PartyMetric
from tests.support.clock import let_time_pass
from tests.support.signups import FORM, post_signup, signup, signup_url

pytestmark = pytest.mark.django_db

CAMPAIGN = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "halloween"}


@pytest.fixture
def party(make_party) -> Party:
    return make_party(name="Howl-o-ween")


def hidden_values(page) -> dict[str, str]:
    form = page.context["form"]
    return {name: form[name].value() or "" for name in attribution.FIELDS}


# --- The public page --------------------------------------------------------------------------


def test_the_page_carries_its_campaign_through_the_form_to_the_signup(client, party):
    page = client.get(signup_url(party), CAMPAIGN)

    assert hidden_values(page) == {**CAMPAIGN, "referrer_host": ""}
    assert '<input type="hidden" name="utm_source" value="newsletter"' in page.text
    post_signup(client, party, **hidden_values(page))
    attendee = Attendee.objects.get()
    assert (attendee.utm_source, attendee.utm_medium, attendee.utm_campaign) == (
        "newsletter",
        "email",
        "halloween",
    )


def test_the_referring_sites_host_is_kept_never_its_path_or_query(client, party):
    page = client.get(
        signup_url(party),
        headers={"Referer": "https://WWW.Dog-Forum.example:8443/threads/42?user=sarah#top"},
    )

    assert hidden_values(page)["referrer_host"] == "www.dog-forum.example"
    post_signup(client, party, **hidden_values(page))
    assert Attendee.objects.get().referrer_host == "www.dog-forum.example"


@pytest.mark.parametrize(
    "referer", ["http://testserver/p/other/", "https://partyline.example.com/parties/1/"]
)
def test_our_own_pages_refer_nobody(client, party, settings, referer):
    settings.SITE_URL = "https://partyline.example.com"

    page = client.get(signup_url(party), headers={"Referer": referer})

    assert hidden_values(page)["referrer_host"] == ""


def test_the_posts_own_referer_is_not_read(client, party):
    """The POST's Referer is our own page; what counts is what the form carried."""
    post_signup(client, party, HTTP_REFERER="https://elsewhere.example/")

    assert Attendee.objects.get().referrer_host == ""


def test_a_plain_visit_keeps_the_blank_form_shared_between_visitors(client, party):
    fragments = caches["fragments"]
    fragments.clear()
    client.get(signup_url(party), CAMPAIGN)  # a campaign's visit renders its own form

    plain = client.get(signup_url(party))

    assert hidden_values(plain) == dict.fromkeys(attribution.FIELDS, "")
    assert 'name="utm_source" value=' not in plain.text
    # A rush of plain visits is rendered once (templates/public/signup.html).
    form = plain.context["form"]
    wording = form.wording
    key = make_template_fragment_key(
        "public_signup_form", [form.cache_version, wording.marketing, wording.registration]
    )
    assert fragments.get(key) is not None


def test_a_campaigns_visit_after_a_plain_one_is_not_served_the_shared_blank_form(client, party):
    client.get(signup_url(party))  # the blank form is now kept for the next visitor

    page = client.get(signup_url(party), CAMPAIGN)

    assert '<input type="hidden" name="utm_campaign" value="halloween"' in page.text


def test_values_are_cut_to_their_length_and_stripped_of_control_characters(client, party):
    page = client.get(
        signup_url(party),
        {"utm_source": "  news\x00letter\t\n ", "utm_campaign": "x" * 500},
    )

    values = hidden_values(page)
    assert values["utm_source"] == "news letter"
    assert values["utm_campaign"] == "x" * 100


def test_tampered_hidden_fields_are_cleaned_not_refused(client, party):
    response = post_signup(
        client,
        party,
        utm_source="\x00" + "y" * 300,
        utm_medium="e\u200bmail",
        referrer_host="https://evil.example/path?q=1",
    )

    assert response.status_code == 303
    attendee = Attendee.objects.get()
    assert attendee.utm_source == "y" * 100
    assert attendee.utm_medium == "e mail"
    assert attendee.referrer_host == "evil.example"


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("www.example.com", "www.example.com"),
        ("WWW.Example.COM.", "www.example.com"),
        ("https://www.example.com/a/b?c=d", "www.example.com"),
        ("www.example.com:8080", "www.example.com"),
        ("not a host", ""),
        ("<script>", ""),
        ("-bad.example", ""),
        ("a" * 254, ""),
        ("", ""),
    ],
)
def test_a_referring_host_is_a_host_name_or_nothing(value, host):
    assert attribution.clean_host(value) == host


def test_the_service_cleans_whatever_calls_it(party):
    signup(party, utm_source=" a\x07b ", referrer_host="https://x.example/secret-path")

    attendee = Attendee.objects.get()
    assert (attendee.utm_source, attendee.referrer_host) == ("a b", "x.example")


# --- The embedded form ------------------------------------------------------------------------


def embed_page(client, party, query: dict[str, str], **headers: str):
    return client.get(reverse("parties:signup_embed", args=[party.slug]), query, headers=headers)


def test_the_embedded_form_takes_the_campaign_and_site_embed_js_names(client, party):
    page = embed_page(client, party, {**CAMPAIGN, "ref": "www.acme-pets.example"})

    assert hidden_values(page) == {**CAMPAIGN, "referrer_host": "www.acme-pets.example"}
    client.post(
        reverse("parties:signup_embed", args=[party.slug]),
        {**FORM, **hidden_values(page), "form_token": embed.form_token(party)},
    )
    attendee = Attendee.objects.get()
    assert (attendee.utm_campaign, attendee.referrer_host) == ("halloween", "www.acme-pets.example")


def test_a_plain_iframe_is_referred_by_the_page_it_is_in(client, party):
    page = embed_page(client, party, {}, Referer="https://www.acme-pets.example/")

    assert hidden_values(page)["referrer_host"] == "www.acme-pets.example"


def test_the_embedded_form_does_not_credit_our_own_host(client, party):
    page = embed_page(client, party, {"ref": "testserver"})

    assert hidden_values(page)["referrer_host"] == ""


def test_the_public_page_ignores_the_embedded_forms_parameter(client, party):
    page = client.get(signup_url(party), {"ref": "www.acme-pets.example"})

    assert hidden_values(page)["referrer_host"] == ""


# --- First touch ------------------------------------------------------------------------------


def test_signing_up_again_keeps_where_they_first_came_from(party):
    signup(party, "sarah@example.com", **CAMPAIGN)
    signup(
        party,
        "sarah@example.com",
        utm_source="reminder",
        utm_medium="",
        utm_campaign="",
        referrer_host="mail.example",
    )

    attendee = Attendee.objects.get()
    assert (attendee.utm_source, attendee.utm_medium, attendee.utm_campaign) == (
        "newsletter",
        "email",
        "halloween",
    )
    assert attendee.referrer_host == ""


def test_a_first_signup_from_nowhere_takes_the_next_ones_source_whole(party):
    signup(party, "sarah@example.com")
    signup(party, "sarah@example.com", **CAMPAIGN)
    signup(party, "sarah@example.com", utm_source="later")

    attendee = Attendee.objects.get()
    assert (attendee.utm_source, attendee.utm_campaign) == ("newsletter", "halloween")


def test_a_cancelled_registration_signed_up_again_keeps_its_first_source(party):
    from parties import places

    attendee = signup(party, "sarah@example.com", **CAMPAIGN)
    places.attendee_cancel(attendee=attendee, by=places.BY_ATTENDEE)
    signup(party, "sarah@example.com", utm_source="comeback")

    assert Attendee.objects.get().utm_source == "newsletter"


# --- Registered for Party ---------------------------------------------------------------------


def registered_properties(party: Party) -> dict[str, object]:
    return PartyEvent.objects.get(party=party, metric=PartyMetric.REGISTERED).properties


def test_the_registered_event_carries_where_the_signup_came_from(party):
    signup(party, **CAMPAIGN, referrer_host="www.dog-forum.example")

    properties = registered_properties(party)
    assert {name: properties[name] for name in attribution.FIELDS} == {
        **CAMPAIGN,
        "referrer_host": "www.dog-forum.example",
    }


def test_the_registered_event_names_only_what_is_known(party):
    signup(party, utm_source="newsletter")

    properties = registered_properties(party)
    assert properties["utm_source"] == "newsletter"
    for name in ("utm_medium", "utm_campaign", "referrer_host"):
        assert name not in properties


def test_someone_given_a_place_from_the_waitlist_is_registered_with_their_source(make_party):
    from parties import places

    party = make_party(capacity=1)
    first = signup(party, "first@example.com")
    signup(party, "waiting@example.com", **CAMPAIGN)
    places.attendee_cancel(attendee=first, by=places.BY_ATTENDEE)

    promoted = PartyEvent.objects.get(
        metric=PartyMetric.REGISTERED, attendee__email="waiting@example.com"
    )
    assert promoted.properties["from_waitlist"] is True
    assert promoted.properties["utm_campaign"] == "halloween"


def test_other_events_do_not_carry_it(party):
    from parties import places

    attendee = signup(party, **CAMPAIGN)
    places.attendee_cancel(attendee=attendee, by=places.BY_ATTENDEE)

    cancelled = PartyEvent.objects.get(metric=PartyMetric.REGISTRATION_CANCELLED)
    assert "utm_source" not in cancelled.properties


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_the_properties_reach_klaviyo(sandbox_party, settings):
    settings.EVENTS_SEND_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0
    signup(sandbox_party, "sarah@example.com", **CAMPAIGN, referrer_host="www.dog-forum.example")
    signup(sandbox_party, "direct@example.com")

    events_send(connection_id=sandbox_party.connection_id)
    let_time_pass(5)
    events_send(connection_id=sandbox_party.connection_id)

    recorded = {
        event.profile.email: event.properties
        for event in SandboxEvent.objects.using("sandbox")
        .select_related("profile")
        .filter(metric__name="Registered for Party")
    }
    assert recorded["sarah@example.com"]["utm_campaign"] == "halloween"
    assert recorded["sarah@example.com"]["referrer_host"] == "www.dog-forum.example"
    assert "utm_source" not in recorded["direct@example.com"]


# --- The party page and its CSV ---------------------------------------------------------------


def test_the_party_page_counts_signups_by_source(login, owner, make_party, make_attendee):
    party = make_party(owner.organization)
    for number in range(3):
        make_attendee(party, **CAMPAIGN, email=f"news{number}@example.com")
    make_attendee(party, referrer_host="www.dog-forum.example")
    make_attendee(party, utm_source="instagram", utm_medium="social", referrer_host="l.ig.example")
    make_attendee(party)
    make_attendee(party)
    make_attendee(party, referrer_host="gone.example", erased_at="2026-01-01T00:00:00Z")

    page = login(owner).get(reverse("parties:party_detail", args=[party.pk]))

    rows = [(r.source, r.medium, r.campaign, r.signups, r.direct) for r in page.context["sources"]]
    assert rows == [
        ("newsletter", "email", "halloween", 3, False),
        ("", "", "", 2, True),
        ("instagram", "social", "", 1, False),
        ("www.dog-forum.example", "", "", 1, False),
    ]
    section = page.text.split('id="sources"')[1].split("</section>")[0]
    assert "<td>" in section
    assert "Direct" in section
    assert "newsletter" in section


def test_the_sources_are_counted_in_one_query(owner, make_party, make_attendee):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from parties import selectors

    party = make_party(owner.organization)
    for number in range(5):
        make_attendee(party, utm_source=f"source{number}")

    with CaptureQueriesContext(connection) as queries:
        rows = selectors.signup_sources(party=party)

    assert len(rows) == 5
    assert len(queries) == 1


def test_the_csv_has_where_each_signup_came_from(login, owner, make_party, make_attendee):
    party = make_party(owner.organization)
    make_attendee(party, email="a@example.com", **CAMPAIGN, referrer_host="www.dog-forum.example")
    make_attendee(party, email="b@example.com", utm_source="=HYPERLINK(1)")

    response = login(owner).get(reverse("parties:attendees_csv", args=[party.pk]))

    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(text))}
    # After the consent record, before the door's columns.
    assert list(rows["a@example.com"])[-6:-2] == [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "referrer_host",
    ]
    assert rows["a@example.com"]["utm_campaign"] == "halloween"
    assert rows["a@example.com"]["referrer_host"] == "www.dog-forum.example"
    # Anyone can write a campaign's name: a spreadsheet must not run it.
    assert rows["b@example.com"]["utm_source"] == "'=HYPERLINK(1)"


def test_from_request_reads_only_a_get(rf: RequestFactory, settings):
    settings.SITE_URL = "https://partyline.example.com"
    request = rf.get(
        "/p/x/", {"utm_source": "a", "ref": "b.example"}, HTTP_REFERER="https://c.example/"
    )

    assert attribution.from_request(request) == {
        "utm_source": "a",
        "utm_medium": "",
        "utm_campaign": "",
        "referrer_host": "c.example",
    }
    assert attribution.from_request(request, embedding_host=True)["referrer_host"] == "b.example"
