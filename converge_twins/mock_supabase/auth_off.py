"""What GoTrue answers for the features a project has turned off, as the twin's project has.

A new Supabase project has single sign-on (SAML 2.0), the OAuth 2.1 server, custom OAuth
providers, manual identity linking and every external OAuth provider off. GoTrue then answers
their endpoints with the errors below (api.go's ``requireSAMLEnabled``,
``requireOAuthServerEnabled``, ``requireCustomOAuthEnabled``, ``requireManualLinkingEnabled``;
external.go for a provider that is not enabled, and for a callback without its state). The twin
answers the same, after the same authentication, so an app that reaches for one of them sees
what production would until the project turns it on. Turning them on is beyond the twin; the
``id_token`` and ``web3`` grants answer 501 naming themselves.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from converge_twins.mock_supabase.auth import Endpoint, GoTrue, Handler, bad_request
from converge_twins.mock_supabase.auth_admin import GoTrueAdmin
from converge_twins.mock_supabase.auth_errors import AuthError

Refusal = tuple[int, str, str]
SAML_OFF: Refusal = (404, "saml_provider_disabled", "SAML 2.0 is disabled")
OAUTH_SERVER_OFF: Refusal = (404, "feature_disabled", "OAuth server is disabled")
CUSTOM_OAUTH_OFF: Refusal = (404, "feature_disabled", "Custom OAuth providers are disabled")
LINKING_OFF: Refusal = (404, "manual_linking_disabled", "Manual linking is disabled")


class FeaturesOff:
    def __init__(self, auth: GoTrue) -> None:
        self.auth = auth
        self.admin = GoTrueAdmin(auth)

    def refuse(self, refusal: Refusal, who: str) -> Handler:
        """An endpoint that authenticates its caller as GoTrue would, then refuses."""

        async def endpoint(request: Request) -> Response:
            if who == "admin":
                self.admin.require_admin(request)
            elif who == "user":
                self.auth.current(request)
            raise AuthError(*refusal)

        return endpoint

    async def authorize(self, request: Request) -> Response:
        provider = request.query_params.get("provider", "")
        if not provider:
            raise bad_request("Unsupported provider: missing provider")
        raise bad_request("Unsupported provider: provider is not enabled")

    async def callback(self, request: Request) -> Response:
        """A provider's callback without the state the sign-in started with."""
        error = {
            "error": "invalid_request",
            "error_code": "bad_oauth_callback",
            "error_description": "OAuth state parameter missing",
        }
        query = urlencode(error)
        return RedirectResponse(f"{self.auth.settings.site_url}?{query}#{query}", status_code=302)

    def endpoints(self) -> list[Endpoint]:
        saml, oauth, custom = SAML_OFF, OAUTH_SERVER_OFF, CUSTOM_OAUTH_OFF
        return [
            ("/authorize", self.authorize, ["GET"]),
            ("/callback", self.callback, ["GET", "POST"]),
            ("/user/identities/authorize", self.refuse(LINKING_OFF, "user"), ["GET"]),
            ("/user/identities/{identity_id}", self.refuse(LINKING_OFF, "user"), ["DELETE"]),
            ("/sso", self.refuse(saml, "anyone"), ["POST"]),
            ("/saml/metadata", self.refuse(saml, "anyone"), ["GET"]),
            ("/saml/acs", self.refuse(saml, "anyone"), ["POST"]),
            ("/admin/sso/providers", self.refuse(saml, "admin"), ["GET", "POST"]),
            ("/admin/sso/providers/{provider_id}", self.refuse(saml, "admin"),
             ["GET", "PUT", "DELETE"]),
            ("/user/oauth/grants", self.refuse(oauth, "user"), ["GET", "DELETE"]),
            ("/admin/oauth/clients", self.refuse(oauth, "admin"), ["GET", "POST"]),
            ("/admin/oauth/clients/{client_id}", self.refuse(oauth, "admin"),
             ["GET", "PUT", "DELETE"]),
            ("/admin/oauth/clients/{client_id}/regenerate_secret", self.refuse(oauth, "admin"),
             ["POST"]),
            ("/oauth/clients/register", self.refuse(oauth, "anyone"), ["POST"]),
            ("/oauth/token", self.refuse(oauth, "anyone"), ["POST"]),
            ("/oauth/authorize", self.refuse(oauth, "anyone"), ["GET"]),
            ("/oauth/authorizations/{authorization_id}", self.refuse(oauth, "user"), ["GET"]),
            ("/oauth/authorizations/{authorization_id}/consent", self.refuse(oauth, "user"),
             ["POST"]),
            ("/admin/custom-providers", self.refuse(custom, "admin"), ["GET", "POST"]),
            ("/admin/custom-providers/{identifier}", self.refuse(custom, "admin"),
             ["GET", "PUT", "DELETE"]),
        ]  # fmt: skip
