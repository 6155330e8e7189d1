"""Secret-looking values are masked before the diff and the spec leave for the model provider."""

from __future__ import annotations

import pytest

from converge.spec.masking import Masker, entropy, looks_secret

KEYS = {
    "anthropic-key": "sk-ant-api03-" + "Ab3dEf6hIj9kLm2nOp5qRs8t",
    "openai-key": "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "stripe-key": "sk_live_" + "51HxyzAbcdefGhijKlmn",
    "stripe-webhook-secret": "whsec_" + "Ab3dEf6hIj9kLm2nOp5qRs",
    "github-token": "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z0123",
    "aws-access-key": "AKIA" + "ABCDEFGHIJKLMNOP",
    "slack-token": "xoxb-" + "1234567890-abcdefghij",
    "google-api-key": "AIza" + "Sy" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
}


@pytest.mark.parametrize(("kind", "value"), list(KEYS.items()), ids=list(KEYS))
def test_well_known_key_formats_are_masked_with_their_kind(kind: str, value: str) -> None:
    masker = Masker()
    text = masker.mask(f"+client = Client({value!r})\n", "app.py")
    assert value not in text
    assert f"[MASKED {kind}]" in text
    assert masker.masked.as_dict() == {"count": 1, "by_kind": {kind: 1}, "by_file": {"app.py": 1}}


def test_secret_environment_values_are_masked_wherever_they_appear() -> None:
    environ = {"HOLDOUT_PAT": "plain-words-token", "ANTHROPIC_API_KEY": ""}
    masker = Masker.from_environment(environ)
    text = masker.mask("+url = 'https://x:plain-words-token@host' # plain-words-token\n", "a")
    assert "plain-words-token" not in text
    assert masker.masked.by_kind == {"environment-secret": 2}


@pytest.mark.parametrize(
    "line",
    [
        '+API_KEY = "a8f9Kd02LmQz7Xy1"',
        "+    'client_secret': 'Qm9vbGVhbjEyMzQ1Njc4',",
        '+{"db_password": "Zx81kLp02mQa"}',
        "+DB_PASSWORD=Zx81kLp02mQa",
        "+export SIGNING_KEY=Zx81kLp02mQaTT",
        "   auth_token: 9f8e7d6c5b4a3f2e",
    ],
)
def test_literal_values_of_secret_names_are_masked(line: str) -> None:
    masker = Masker()
    text = masker.mask(line + "\n", "config")
    assert "[MASKED assigned-secret]" in text, text
    assert masker.masked.count == 1


@pytest.mark.parametrize(
    "line",
    [
        "+password = user.password_hash",
        "+token = get_token()",
        '+secret = "changeme-please"',
        "+client_secret: ${{ secrets.CLIENT_SECRET }}",
        '+api_key = os.environ["API_KEY"]',
        '+PASSWORD_MIN_LENGTH = "aaaaaaaaaaaa"',
        '+timeout = "30 seconds"',
        '+token_url = "{{api_url}}/token"',
    ],
)
def test_code_placeholders_and_plain_words_are_left_alone(line: str) -> None:
    masker = Masker()
    assert masker.mask(line + "\n", "code") == line + "\n"
    assert masker.masked.count == 0


def test_a_private_key_keeps_the_diff_lines_but_loses_its_body() -> None:
    diff = (
        "+-----BEGIN RSA PRIVATE KEY-----\n"
        "+MIIEowIBAAKCAQEA1234567890abcdefghijklmnop\n"
        "+qrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345\n"
        "+-----END RSA PRIVATE KEY-----\n"
    )
    masker = Masker()
    text = masker.mask(diff, "key.pem")
    assert "MIIE" not in text and "qrst" not in text
    assert text.count("\n") == diff.count("\n"), "line numbers stay as they were"
    assert text.splitlines()[1] == "+[MASKED private-key]"
    assert masker.masked.by_kind == {"private-key": 1}


def test_counts_add_up_by_kind_and_by_file() -> None:
    masker = Masker()
    masker.mask(f"{KEYS['jwt']} {KEYS['jwt']}", "a.py")
    masker.mask(KEYS["stripe-key"], "b.py")
    assert masker.masked.as_dict() == {
        "count": 3,
        "by_kind": {"jwt": 2, "stripe-key": 1},
        "by_file": {"a.py": 2, "b.py": 1},
    }


def test_entropy_tells_random_values_from_repetitive_ones() -> None:
    assert entropy("aaaaaaaa") == 0
    assert entropy("a8f9Kd02LmQz7Xy1") > 3.5
    assert not looks_secret("settings.api_key")
    assert looks_secret("a8f9Kd02LmQz7Xy1")
