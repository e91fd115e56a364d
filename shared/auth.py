"""Users and their API tokens. A token is shown once; only its SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass

import asyncpg

TOKEN_PREFIX = "jv_"
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UserError(ValueError):
    """A user command cannot be carried out; the message says why."""


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    name: str


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_user_name(name: str) -> None:
    if not USER_NAME.match(name):
        raise UserError(
            f"invalid user name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )


async def _insert_token(conn: asyncpg.Connection, user_id: uuid.UUID) -> str:
    token = new_token()
    await conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, prefix) VALUES ($1, $2, $3)",
        user_id,
        hash_token(token),
        token[:10],
    )
    return token


async def create_user(pool: asyncpg.Pool, name: str) -> tuple[User, str]:
    """Create a user and its first token; returns the user and the token (shown once)."""
    check_user_name(name)
    async with pool.acquire() as conn, conn.transaction():
        try:
            user_id = await conn.fetchval("INSERT INTO users (name) VALUES ($1) RETURNING id", name)
        except asyncpg.UniqueViolationError:
            raise UserError(f"user {name!r} already exists") from None
        token = await _insert_token(conn, user_id)
    return User(user_id, name), token


async def issue_token(pool: asyncpg.Pool, name: str, *, revoke_others: bool = False) -> str:
    """A new token for an existing user; optionally revoke every earlier one."""
    async with pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval("SELECT id FROM users WHERE name = $1", name)
        if user_id is None:
            raise UserError(f"no user named {name!r}")
        if revoke_others:
            await conn.execute(
                "UPDATE api_tokens SET revoked_at = now()"
                " WHERE user_id = $1 AND revoked_at IS NULL",
                user_id,
            )
        return await _insert_token(conn, user_id)


@dataclass(frozen=True)
class Credential:
    """A valid token: whose it is, and which one it is (limits count per token)."""

    user: User
    token_id: uuid.UUID


async def check_token(pool: asyncpg.Pool, token: str) -> Credential | None:
    """The user a valid, unrevoked token belongs to, and the token's id."""
    if not token.isascii():
        # Never issued (tokens are ASCII), and header bytes that were not UTF-8 arrive as
        # surrogate escapes that hashing cannot encode: a bad token, not a server error.
        return None
    row = await pool.fetchrow(
        "SELECT u.id, u.name, t.id AS token_id FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        hash_token(token),
    )
    return Credential(User(row["id"], row["name"]), row["token_id"]) if row else None


async def user_for_token(pool: asyncpg.Pool, token: str) -> User | None:
    """The user a valid, unrevoked token belongs to."""
    credential = await check_token(pool, token)
    return credential.user if credential else None


async def count_users(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM users"))
