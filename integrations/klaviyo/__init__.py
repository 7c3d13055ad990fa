"""The Klaviyo client, HTTP only: configuration, OAuth 2.0 + PKCE, and the REST API.

Nothing here touches the database or a request; `integrations.tokens` and the services are the
only callers. Import from the module that does the job: `config`, `errors`, `pkce`, `oauth`,
`client` (the operations), `records` (what they return), `bodies`, `filters`, `transport`,
`ratelimits`, `redaction`, `revision`.
"""
