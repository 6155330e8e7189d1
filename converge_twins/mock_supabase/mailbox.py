"""The messages the auth twin "sends": confirmation, magic link, recovery, invite, change, OTP.

Supabase's own local stack catches mail in Inbucket; the twin keeps every message it would have
sent here, with the one-time code, its hash and the link, so a test reads what a user would
have received: ``GET /_twin/supabase/messages?to=ada@example.com&type=recovery``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SUBJECTS = {
    "signup": "Confirm Your Signup",
    "invite": "You have been invited",
    "magiclink": "Your Magic Link",
    "recovery": "Reset Your Password",
    "email_change_current": "Confirm Email Change",
    "email_change_new": "Confirm Email Change",
    "reauthentication": "Confirm reauthentication",
}


@dataclass(frozen=True)
class Message:
    id: str
    channel: str  # "email" or "sms"
    to: str
    type: str
    subject: str
    otp: str
    token_hash: str
    link: str | None
    redirect_to: str | None
    sent_at: str


class Mailbox:
    def __init__(self) -> None:
        self._messages: list[Message] = []

    def send(self, message: Message) -> None:
        self._messages.append(message)

    def clear(self) -> None:
        self._messages.clear()

    def describe(self, to: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            asdict(message)
            for message in self._messages
            if (to is None or message.to == to.lower().lstrip("+"))
            and (kind is None or message.type == kind)
        ]
