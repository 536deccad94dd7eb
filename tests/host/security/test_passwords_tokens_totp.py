"""Passwords (argon2id), access tokens (JWT), refresh tokens, API keys and TOTP codes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from pydantic import SecretStr

from synthral.errors import AuthenticationFailed, ConfigurationError, DecryptionFailed, InputInvalid
from synthral.security.crypto import KeyRing, generate_key
from synthral.security.passwords import Passwords, check_password_policy
from synthral.security.tokens import (
    AccessTokens,
    api_key_matches,
    api_key_prefix,
    hash_token,
    is_api_key,
    load_signing_key,
    new_api_key,
    new_opaque_token,
)
from synthral.security.totp import (
    TotpState,
    decode_secret,
    generate_secret,
    hotp,
    match_step,
    provisioning_uri,
    time_step,
    totp,
)

KEY = b"signing-key-" * 6  # 72 bytes: long enough for HS512 too
CHEAP = {"time_cost": 1, "memory_kib": 1024, "parallelism": 1}

# -- passwords ------------------------------------------------------------------------------


def test_a_password_hash_is_argon2id_and_verifies_only_its_password() -> None:
    passwords = Passwords(**CHEAP)
    stored = passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert passwords.hash("correct horse battery") != stored  # a fresh salt each time
    assert passwords.verify(stored, "correct horse battery")
    assert not passwords.verify(stored, "correct horse battery!")
    assert not passwords.verify("not-a-hash", "correct horse battery")


def test_a_hash_made_with_other_parameters_needs_a_rehash() -> None:
    weak, strong = Passwords(**CHEAP), Passwords(time_cost=2, memory_kib=2048, parallelism=1)
    old = weak.hash("correct horse battery")
    assert strong.verify(old, "correct horse battery")
    assert strong.needs_rehash(old)
    assert not strong.needs_rehash(strong.hash("correct horse battery"))
    assert strong.needs_rehash("garbage")


def test_the_default_cost_is_the_rfc_9106_low_memory_profile() -> None:
    assert Passwords().hash("correct horse battery").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_the_dummy_check_verifies_against_a_real_hash() -> None:
    passwords = Passwords(**CHEAP)
    passwords.verify_dummy("anything at all")
    dummy = passwords._dummy()
    assert dummy.startswith("$argon2id$") and dummy == passwords._dummy()
    assert not passwords.needs_rehash(dummy)


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short one", "use at least 12"), ("a" * 20, "one character repeated"), ("x1" * 600, "at most 1024")],
)
def test_the_password_policy_names_the_rule_broken(password: str, problem: str) -> None:
    with pytest.raises(InputInvalid, match=problem) as caught:
        check_password_policy(password)
    assert caught.value.details == {"field": "password"}


def test_a_long_enough_password_passes_the_policy() -> None:
    check_password_policy("aaaaaaaaaaab")


# -- access tokens --------------------------------------------------------------------------


def test_an_access_token_carries_the_required_claims() -> None:
    tokens = AccessTokens(KEY)
    token = tokens.issue("user-1")
    claims = jwt.decode(token, KEY, algorithms=["HS256"])
    assert set(claims) == {"sub", "iat", "exp", "jti", "typ", "iss"}
    assert claims["typ"] == "access" and claims["iss"] == "synthral"
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = tokens.decode(token)
    assert decoded.subject == "user-1"
    assert decoded.expires_at - decoded.issued_at == timedelta(minutes=30)
    assert tokens.decode(tokens.issue("user-1")).token_id != decoded.token_id


def test_an_expired_access_token_is_refused() -> None:
    tokens = AccessTokens(KEY, leeway=timedelta(0))
    token = tokens.issue("user-1", now=datetime.now(UTC) - timedelta(minutes=31))
    with pytest.raises(AuthenticationFailed, match="expired; refresh it or sign in again"):
        tokens.decode(token)


def test_the_leeway_tolerates_a_little_clock_skew_and_no_more() -> None:
    lenient = AccessTokens(KEY, leeway=timedelta(seconds=30))
    token = lenient.issue("user-1", now=datetime.now(UTC) - timedelta(minutes=30, seconds=5))
    assert lenient.decode(token).subject == "user-1"
    with pytest.raises(AuthenticationFailed, match="expired"):
        AccessTokens(KEY, leeway=timedelta(0)).decode(token)


def _forge(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)])


def _claims(**overrides: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, object] = {
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "jti": "j",
        "typ": "access",
        "iss": "synthral",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def test_a_token_signed_with_another_key_is_refused() -> None:
    other = AccessTokens(b"another key that is long enough!!")
    with pytest.raises(AuthenticationFailed, match="not valid"):
        AccessTokens(KEY).decode(other.issue("user-1"))


def test_an_unsigned_alg_none_token_is_refused() -> None:
    forged = _forge({"alg": "none", "typ": "JWT"}, _claims())
    with pytest.raises(AuthenticationFailed, match="not valid"):
        AccessTokens(KEY).decode(forged)
    with pytest.raises(AuthenticationFailed, match="not valid"):
        AccessTokens(KEY).decode(forged.rsplit(".", 1)[0])


def test_a_token_of_another_algorithm_is_refused_even_with_the_right_key() -> None:
    token = jwt.encode(_claims(), KEY, algorithm="HS512")
    with pytest.raises(AuthenticationFailed, match="not valid"):
        AccessTokens(KEY).decode(token)


@pytest.mark.parametrize("missing", ["sub", "iat", "exp", "jti", "typ", "iss"])
def test_a_token_missing_a_claim_is_refused(missing: str) -> None:
    token = jwt.encode(_claims(**{missing: None}), KEY, algorithm="HS256")
    with pytest.raises(AuthenticationFailed):
        AccessTokens(KEY).decode(token)


def test_a_token_of_another_issuer_or_type_is_refused() -> None:
    with pytest.raises(AuthenticationFailed, match="not valid"):
        AccessTokens(KEY).decode(jwt.encode(_claims(iss="elsewhere"), KEY, algorithm="HS256"))
    with pytest.raises(AuthenticationFailed, match="not an access token"):
        AccessTokens(KEY).decode(jwt.encode(_claims(typ="refresh"), KEY, algorithm="HS256"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "syn_", "Bearer x"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(AuthenticationFailed):
        AccessTokens(KEY).decode(garbage)


def test_a_short_signing_key_or_a_wide_leeway_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        AccessTokens(b"short")
    with pytest.raises(ConfigurationError, match="between 0 and 30 seconds"):
        AccessTokens(KEY, leeway=timedelta(seconds=31))
    with pytest.raises(ConfigurationError, match="between 0 and 30 seconds"):
        AccessTokens(KEY, leeway=timedelta(seconds=-1))
    with pytest.raises(ConfigurationError, match="must be positive"):
        AccessTokens(KEY, ttl=timedelta(0))


# -- signing key ----------------------------------------------------------------------------


def test_the_signing_key_comes_from_the_environment(tmp_path: Path) -> None:
    secret = "s" * 40
    assert load_signing_key(tmp_path, SecretStr(secret)) == secret.encode()
    assert not (tmp_path / "jwt.key").exists()
    with pytest.raises(ConfigurationError, match="SYNTHRAL_JWT_SECRET is 5 bytes; use at least 32"):
        load_signing_key(tmp_path, SecretStr("short"))


def test_without_the_variable_a_key_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path / "home")
    path = tmp_path / "home" / "jwt.key"
    assert len(key) == 64 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key(tmp_path / "home") == key
    assert [p.name for p in path.parent.iterdir()] == ["jwt.key"]


def test_a_short_key_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "jwt.key").write_bytes(b"tiny")
    with pytest.raises(ConfigurationError, match=r"holds 4 bytes.*Delete the file"):
        load_signing_key(tmp_path)


# -- opaque tokens and API keys -------------------------------------------------------------


def test_opaque_tokens_are_random_and_kept_as_their_sha256() -> None:
    token = new_opaque_token()
    assert len(token) == 43 and token != new_opaque_token()
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()


def test_an_api_key_reads_syn_prefix_secret() -> None:
    made = new_api_key()
    assert re.fullmatch(r"syn_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}", made.key)
    assert made.key.startswith(f"syn_{made.prefix}_")
    assert made.key_hash == hashlib.sha256(made.key.encode()).hexdigest()
    assert is_api_key(made.key) and not is_api_key("eyJhbGciOi")
    assert api_key_prefix(made.key) == made.prefix
    assert api_key_matches(made.key, made.key_hash)
    assert made.key not in repr(made)


def test_an_api_key_with_another_secret_does_not_match() -> None:
    made = new_api_key()
    other = f"syn_{made.prefix}_{new_api_key().key[-43:]}"
    assert api_key_prefix(other) == made.prefix
    assert not api_key_matches(other, made.key_hash)


@pytest.mark.parametrize(
    "key", ["syn_", "syn_abc_def", "syn_" + "a" * 12 + "_" + "b" * 42, "syn_" + "a" * 11 + "!_" + "b" * 43, "x" * 60]
)
def test_a_malformed_api_key_is_refused_with_its_expected_form(key: str) -> None:
    with pytest.raises(AuthenticationFailed, match=r"malformed; an API key reads syn_<12 characters>"):
        api_key_prefix(key)


# -- TOTP -----------------------------------------------------------------------------------

SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC_6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), RFC_6238_VECTORS)
def test_rfc_6238_appendix_b_vectors(at: int, sha1: str, sha256: str, sha512: str) -> None:
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(SEEDS[algorithm], at, digits=8, algorithm=algorithm) == expected


def test_rfc_4226_appendix_d_vectors() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]
    assert [hotp(SEEDS["sha1"], counter) for counter in range(10)] == expected


def test_a_code_matches_its_step_and_the_steps_either_side_only() -> None:
    key, at = SEEDS["sha1"], 1111111111.0
    step = time_step(at)
    for offset in (-1, 0, 1):
        assert match_step(key, hotp(key, step + offset), at=at) == step + offset
    for offset in (-2, 2):
        assert match_step(key, hotp(key, step + offset), at=at) is None


def test_a_code_already_used_is_refused_for_the_rest_of_its_window() -> None:
    key, at = SEEDS["sha1"], 1111111111.0
    step = time_step(at)
    code = hotp(key, step)
    assert match_step(key, code, at=at, after_step=None) == step
    assert match_step(key, code, at=at, after_step=step) is None
    assert match_step(key, code, at=at + 30, after_step=step) is None
    assert match_step(key, hotp(key, step - 1), at=at, after_step=step) is None
    assert match_step(key, hotp(key, step + 1), at=at, after_step=step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5", "١٢٣٤٥٦"])
def test_a_malformed_code_matches_nothing(code: str) -> None:
    assert match_step(SEEDS["sha1"], code) is None


def test_spaces_in_a_code_are_ignored() -> None:
    key, at = SEEDS["sha1"], 59.0
    code = totp(key, at)
    assert match_step(key, f"{code[:3]} {code[3:]}", at=at) == time_step(at)


def test_a_generated_secret_is_160_bits_of_base32() -> None:
    secret = generate_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(decode_secret(secret)) == 20 and secret != generate_secret()
    assert decode_secret(secret.lower()) == decode_secret(secret)


def test_a_secret_that_is_not_base32_is_refused() -> None:
    with pytest.raises(InputInvalid, match="not base32"):
        decode_secret("not base32 at all 1!")


def test_the_provisioning_uri_is_what_authenticator_apps_read() -> None:
    uri = provisioning_uri("JBSWY3DPEHPK3PXP", "ada@example.com")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert parts.path == "/SynthralOS:ada@example.com"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query == {
        "secret": "JBSWY3DPEHPK3PXP",
        "issuer": "SynthralOS",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }


def test_the_totp_state_is_sealed_and_bound_to_its_context() -> None:
    ring = KeyRing.single(generate_key())
    state = TotpState("JBSWY3DPEHPK3PXP", 42)
    blob = state.seal(ring, "totp:u1")
    assert b"JBSWY3DPEHPK3PXP" not in blob
    assert TotpState.open(blob, ring, "totp:u1") == state
    assert "JBSWY3DPEHPK3PXP" not in repr(state)
    with pytest.raises(DecryptionFailed):
        TotpState.open(blob, ring, "totp:u2")


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02\x01a" + b"n" * 30, b"\x01\x10abc"])
def test_a_damaged_totp_state_is_a_decryption_failure(blob: bytes) -> None:
    with pytest.raises(DecryptionFailed, match="damaged; an administrator must reset two-factor"):
        TotpState.open(blob, KeyRing.single(generate_key()), "totp:u1")
