"""Password hashing: argon2id, with a dummy check that keeps unknown accounts as slow as known ones.

The default cost is argon2's RFC 9106 "low memory" profile (64 MiB, 3 passes, 4 lanes). A
stored hash made with other parameters still verifies; :meth:`Passwords.needs_rehash` says
when to replace it after a successful sign-in.

Hashing is CPU-bound (tens of milliseconds by design): async callers run it in a thread.
"""

from __future__ import annotations

import secrets
import threading
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from synthral.errors import InputInvalid

__all__ = [
    "DEFAULT_MEMORY_KIB",
    "DEFAULT_PARALLELISM",
    "DEFAULT_TIME_COST",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Passwords",
    "check_password_policy",
]

DEFAULT_TIME_COST: Final = 3
DEFAULT_MEMORY_KIB: Final = 64 * 1024
DEFAULT_PARALLELISM: Final = 4
MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024


def check_password_policy(password: str) -> None:
    """Refuse a password that is too short, too long, or one character repeated.

    Raises:
        InputInvalid: Naming the rule it breaks.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputInvalid(
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a few unrelated words make a good one)",
            details={"field": "password"},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputInvalid(
            f"the password has {len(password)} characters; use at most {MAX_PASSWORD_LENGTH}",
            details={"field": "password"},
        )
    if len(set(password)) == 1:
        raise InputInvalid(
            "the password is one character repeated; choose one with different characters",
            details={"field": "password"},
        )


class Passwords:
    """Hashes and verifies passwords with argon2id.

    Args:
        time_cost: Passes over the memory.
        memory_kib: Memory per hash, in KiB.
        parallelism: Lanes (threads) per hash.
    """

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_kib: int = DEFAULT_MEMORY_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, hash_len=32, salt_len=16, type=Type.ID
        )
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        """The PHC string (``$argon2id$v=19$m=...``) of ``password`` under a fresh salt."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; a malformed hash matches nothing."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, for an account that does not exist.

        Sign-in answers an unknown email as slowly as a wrong password, so the time taken does
        not tell whether an account exists.
        """
        self.verify(self._dummy(), password)

    def _dummy(self) -> str:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self.hash(secrets.token_urlsafe(24))
            return self._dummy_hash
