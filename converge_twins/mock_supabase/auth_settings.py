"""The auth twin's settings: the switches of a Supabase project's Authentication page.

Defaults are a new project's, except ``mailer_autoconfirm``: the twin confirms e-mail addresses
at sign-up (Supabase's "Confirm email" turned off) so a scenario signs up and is signed in, as
most test setups configure their project. Set it to false to get the confirmation e-mail flow.
The names are GoTrue's configuration names without their ``GOTRUE_`` prefix, lower-cased.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

# The OAuth providers GoTrue lists in /settings; the twin has none of them enabled.
OAUTH_PROVIDERS = (
    "apple",
    "azure",
    "bitbucket",
    "discord",
    "facebook",
    "figma",
    "fly",
    "github",
    "gitlab",
    "google",
    "keycloak",
    "kakao",
    "linkedin",
    "linkedin_oidc",
    "notion",
    "slack",
    "slack_oidc",
    "spotify",
    "twitch",
    "twitter",
    "workos",
    "zoom",
)


class SettingsError(ValueError):
    """A settings document the twin cannot use; the message names the field."""


@dataclass(frozen=True)
class AuthSettings:
    site_url: str = "http://localhost:3000"
    uri_allow_list: tuple[str, ...] = ()
    disable_signup: bool = False
    mailer_autoconfirm: bool = True
    sms_autoconfirm: bool = False
    external_email_enabled: bool = True
    external_phone_enabled: bool = False
    external_anonymous_users_enabled: bool = False
    password_min_length: int = 6
    password_required_characters: tuple[str, ...] = ()
    mailer_secure_email_change_enabled: bool = True
    security_update_password_require_reauthentication: bool = False
    mailer_otp_exp: int = 3600
    mailer_otp_length: int = 6
    sms_otp_exp: int = 60
    sms_otp_length: int = 6
    smtp_max_frequency: int = 60
    jwt_exp: int = 3600
    security_refresh_token_rotation_enabled: bool = True
    security_refresh_token_reuse_interval: int = 10
    flow_state_expiry: int = 300

    def updated(self, changes: Mapping[str, Any]) -> AuthSettings:
        """These settings with ``changes`` applied; SettingsError names a bad field."""
        known = {f.name: f for f in fields(self)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                choices = ", ".join(sorted(known))
                raise SettingsError(f"auth.{name}: unknown setting (known: {choices})")
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise SettingsError(f"auth.{name}: expected true or false")
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise SettingsError(f"auth.{name}: expected a non-negative integer")
            elif isinstance(current, tuple):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise SettingsError(f"auth.{name}: expected a list of strings")
                values[name] = tuple(value)
                continue
            elif not isinstance(value, str):
                raise SettingsError(f"auth.{name}: expected a string")
            values[name] = value
        return replace(self, **values)

    def public(self) -> dict[str, Any]:
        """``GET /settings``: what any client may know about the project's auth."""
        external: dict[str, bool] = dict.fromkeys(OAUTH_PROVIDERS, False)
        external.update(
            {
                "anonymous_users": self.external_anonymous_users_enabled,
                "email": self.external_email_enabled,
                "phone": self.external_phone_enabled,
            }
        )
        return {
            "external": external,
            "disable_signup": self.disable_signup,
            "mailer_autoconfirm": self.mailer_autoconfirm,
            "phone_autoconfirm": self.sms_autoconfirm,
            "sms_provider": "twilio",
            "saml_enabled": False,
        }

    def allowed_redirect(self, wanted: str | None) -> str:
        """``redirect_to`` when the project allows it, else the site URL, as GoTrue decides."""
        if wanted and (
            wanted.startswith(self.site_url)
            or any(wanted.startswith(prefix.rstrip("*")) for prefix in self.uri_allow_list)
        ):
            return wanted
        return self.site_url
