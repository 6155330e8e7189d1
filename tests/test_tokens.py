"""The built-in variables: per-run tier JWTs that the API under test can verify."""

from __future__ import annotations

import time

import jwt
import pytest

from converge.tokens import (
    BUILTIN_VARIABLES,
    DEFAULT_JWT_SECRET,
    TOKEN_TTL,
    builtin_variables,
    jwt_secret_from_env,
    mint_token,
)

SECRET = DEFAULT_JWT_SECRET
NOW = 1_750_000_000


def claims_of(token: str, secret: str = SECRET) -> dict:
    return jwt.decode(
        token, secret, algorithms=["HS256"], audience="authenticated", options={"verify_exp": False}
    )


def test_builtin_variables_are_the_six_names():
    assert {
        "free_user_token",
        "pro_user_token",
        "quality_user_token",
        "enterprise_user_token",
        "admin_token",
        "api_url",
    } == BUILTIN_VARIABLES
    variables = builtin_variables(SECRET, "http://127.0.0.1:8000", "run-1", now=NOW)
    assert set(variables) == BUILTIN_VARIABLES
    assert variables["api_url"] == "http://127.0.0.1:8000"


def test_only_the_named_tokens_are_minted_and_api_url_is_always_there():
    full = builtin_variables(SECRET, "http://127.0.0.1:8000", "run-1", now=NOW)
    some = builtin_variables(
        SECRET, "http://127.0.0.1:8000", "run-1", now=NOW, names={"pro_user_token", "run_id"}
    )

    assert set(some) == {"pro_user_token", "api_url"}
    assert some["pro_user_token"] == full["pro_user_token"]  # the same user as a full mint


@pytest.mark.parametrize(
    ("name", "tier", "role", "label"),
    [
        ("free_user_token", "free", "authenticated", "free"),
        ("pro_user_token", "pro", "authenticated", "pro"),
        ("quality_user_token", "quality", "authenticated", "quality"),
        ("enterprise_user_token", "enterprise", "authenticated", "enterprise"),
        ("admin_token", "enterprise", "service_role", "admin"),
    ],
)
def test_each_token_carries_supabase_shaped_claims(name, tier, role, label):
    token = builtin_variables(SECRET, "http://127.0.0.1:8000", "run-1", now=NOW)[name]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = claims_of(token)
    assert claims["aud"] == "authenticated"
    assert claims["role"] == role
    assert claims["app_metadata"] == {"tier": tier, "provider": "email"}
    assert claims["user_metadata"] == {}
    assert claims["email"] == f"{label}-run-1@converge.test"
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + 3600 * 6


def test_tokens_verify_only_with_their_secret():
    token = builtin_variables(SECRET, "u", "run-1")["free_user_token"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-another-secret-another-secret", algorithms=["HS256"],
                   audience="authenticated")


def test_tokens_are_valid_now_for_at_least_an_hour():
    before = int(time.time())
    token = builtin_variables(SECRET, "u", "run-1")["pro_user_token"]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["iat"] >= before
    assert claims["exp"] - claims["iat"] >= 3600
    assert claims["exp"] >= before + 3600


def test_each_run_gets_its_own_users_and_each_tier_its_own_user():
    first = builtin_variables(SECRET, "u", "run-1", now=NOW)
    second = builtin_variables(SECRET, "u", "run-2", now=NOW)
    names = sorted(BUILTIN_VARIABLES - {"api_url"})
    subs_first = {claims_of(first[n])["sub"] for n in names}
    subs_second = {claims_of(second[n])["sub"] for n in names}
    assert len(subs_first) == len(names)
    assert not subs_first & subs_second
    emails_first = {claims_of(first[n])["email"] for n in names}
    emails_second = {claims_of(second[n])["email"] for n in names}
    assert not emails_first & emails_second


def test_the_same_run_id_names_the_same_users():
    first = builtin_variables(SECRET, "u", "run-1", now=NOW)
    again = builtin_variables(SECRET, "u", "run-1", now=NOW + 5)
    assert claims_of(first["free_user_token"])["sub"] == claims_of(again["free_user_token"])["sub"]


def test_run_ids_become_safe_email_addresses():
    token = builtin_variables(SECRET, "u", "Run 7/Shard:2", now=NOW)["free_user_token"]
    assert claims_of(token)["email"] == "free-run-7-shard-2@converge.test"


def test_mint_token_uses_the_given_claims_and_ttl():
    token = mint_token(SECRET, tier="pro", role="authenticated", sub="abc", email="a@b.c",
                       now=NOW, ttl=60)
    claims = claims_of(token)
    assert (claims["sub"], claims["email"], claims["exp"] - claims["iat"]) == ("abc", "a@b.c", 60)
    assert TOKEN_TTL >= 3600


def test_secret_comes_from_the_environment_when_set(monkeypatch):
    monkeypatch.delenv("CONVERGE_JWT_SECRET", raising=False)
    assert jwt_secret_from_env() == DEFAULT_JWT_SECRET
    monkeypatch.setenv("CONVERGE_JWT_SECRET", "from-the-environment-and-long-enough-32")
    assert jwt_secret_from_env() == "from-the-environment-and-long-enough-32"
    monkeypatch.setenv("CONVERGE_JWT_SECRET", "")
    assert jwt_secret_from_env() == DEFAULT_JWT_SECRET
    monkeypatch.setenv("OTHER_SECRET", "other-secret-other-secret-other-secret")
    assert jwt_secret_from_env("OTHER_SECRET") == "other-secret-other-secret-other-secret"


def test_tokens_minted_with_an_overridden_secret_verify_with_it(monkeypatch):
    monkeypatch.setenv("CONVERGE_JWT_SECRET", "overridden-secret-overridden-secret-123")
    token = builtin_variables(jwt_secret_from_env(), "u", "r", now=NOW)["admin_token"]
    assert claims_of(token, "overridden-secret-overridden-secret-123")["role"] == "service_role"
    with pytest.raises(jwt.InvalidSignatureError):
        claims_of(token, DEFAULT_JWT_SECRET)
