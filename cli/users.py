"""`jarvis users create NAME`, `jarvis users token NAME [--revoke]`: the token is the last line."""

from __future__ import annotations

import argparse
import sys

from shared.auth import UserError, create_user, issue_token
from shared.config import Settings
from shared.db import create_pool


async def run_users(settings: Settings, args: argparse.Namespace) -> int:
    assert settings.database_url
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        if args.users_command == "create":
            user, token = await create_user(pool, args.name)
            print(f"created user {user.name} ({user.id}); its API token, shown only once:")
        else:
            token = await issue_token(pool, args.name, revoke_others=args.revoke)
            revoked = " (older tokens revoked)" if args.revoke else ""
            print(f"new API token for {args.name}{revoked}, shown only once:")
        print(token)
        return 0
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
