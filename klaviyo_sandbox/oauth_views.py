"""OAuth endpoints: the consent page (authorize), the token endpoint and revocation."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from klaviyo_sandbox import oauth
from klaviyo_sandbox.endpoint import (
    TokenResponse,
    call_log_record,
    oauth_endpoint,
    oauth_error_response,
)
from klaviyo_sandbox.forms import ConsentForm
from klaviyo_sandbox.oauth import AuthorizeError, TokenError
from klaviyo_sandbox.seed import sandbox_seed

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def _redirect_with(uri: str, params: dict[str, str]) -> HttpResponseRedirect:
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return HttpResponseRedirect(urlunsplit(parts._replace(query=query)))


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """Klaviyo's consent screen. Every parameter is checked again on POST: hidden fields are
    the browser's to change."""
    started = time.monotonic()
    response = _authorize(request)
    call_log_record(
        request, operation="authorize", status=response.status_code, started=started, account_id=""
    )
    return response


def _authorize(request: HttpRequest) -> HttpResponse:
    params = request.GET if request.method == "GET" else request.POST
    try:
        auth = oauth.authorize_request_parse(params)
    except AuthorizeError as error:
        return render(
            request, "klaviyo_sandbox/authorize_error.html", {"problem": str(error)}, status=400
        )
    sandbox_seed()
    form = ConsentForm(
        request.POST if request.method == "POST" else None,
        # The product's hint when it reconnects an account: preselect it (Klaviyo itself
        # ignores the parameter, as RFC 6749 section 3.1 says of unrecognized ones).
        initial={"account": params.get("account_hint") or None},
    )
    if request.method == "POST":
        if request.POST.get("decision") == "deny":
            return _redirect_with(
                auth.redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": oauth.DENIED_DESCRIPTION,
                    "state": auth.state,
                },
            )
        if form.is_valid():
            code = oauth.authorization_code_issue(
                request=auth, account=form.cleaned_data["account"]
            )
            return _redirect_with(auth.redirect_uri, {"code": code, "state": auth.state})
    context = {
        "auth": auth,
        "form": form,
        "app_name": oauth.APP_NAME,
        "scopes": [(scope, oauth.SCOPE_DESCRIPTIONS.get(scope, scope)) for scope in auth.scopes],
        "oauth_params": {
            "response_type": "code",
            "client_id": auth.client_id,
            "redirect_uri": auth.redirect_uri,
            "scope": auth.scope,
            "state": auth.state,
            "code_challenge_method": auth.code_challenge_method,
            "code_challenge": auth.code_challenge,
        },
    }
    return render(
        request, "klaviyo_sandbox/authorize.html", context, status=400 if form.is_bound else 200
    )


def _form_encoded(request: HttpRequest) -> None:
    if request.content_type != FORM_MEDIA_TYPE:
        raise TokenError("invalid_request", f"The request body must be {FORM_MEDIA_TYPE}.")


@oauth_endpoint
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    try:
        _form_encoded(request)
        client_id = oauth.client_authenticate(request.headers.get("Authorization", ""))
        grant_type = request.POST.get("grant_type", "")
        if grant_type == "authorization_code":
            issued = oauth.token_exchange_code(
                client_id=client_id,
                code=request.POST.get("code", ""),
                code_verifier=request.POST.get("code_verifier", ""),
                redirect_uri=request.POST.get("redirect_uri", ""),
            )
        elif grant_type == "refresh_token":
            issued = oauth.token_refresh(
                client_id=client_id, refresh_token=request.POST.get("refresh_token", "")
            )
        elif not grant_type:
            raise TokenError("invalid_request", "grant_type is required.")
        else:
            raise TokenError("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")
    except TokenError as error:
        return oauth_error_response(error.error, error.description, error.status, error.retry_after)
    return TokenResponse(issued.as_response(), account_id=issued.installation.account_id)


@oauth_endpoint
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    try:
        _form_encoded(request)
        client_id = oauth.client_authenticate(request.headers.get("Authorization", ""))
        oauth.token_revoke(client_id=client_id, token=request.POST.get("token", ""))
    except TokenError as error:
        return oauth_error_response(error.error, error.description, error.status)
    return JsonResponse({})
