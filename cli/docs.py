"""`jarvis docs add PATH... | list | remove ID`: the local knowledge base that `web_search`
searches when JARVIS_SEARCH=local (the default). Documents added here are shared by every user."""

from __future__ import annotations

import argparse
import sys

from shared.config import Settings
from shared.db import create_pool
from shared.documents import DocumentError, add_paths, list_documents, remove_document


async def run_docs(settings: Settings, args: argparse.Namespace) -> int:
    assert settings.database_url
    pool = await create_pool(settings.database_url, max_size=2)
    try:
        if args.docs_command == "add":
            try:
                added = await add_paths(pool, args.paths)
            except DocumentError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
            for doc in added:
                parts = f" in {len(doc.ids)} parts" if len(doc.ids) > 1 else ""
                print(f"added {doc.source}: {doc.title!r} ({doc.chars} characters{parts})")
            print(f"{len(added)} document(s) added")
            return 0
        if args.docs_command == "list":
            for info in await list_documents(pool):
                print(f"{info.id}  {info.chars:>8}  {info.title}  [{info.source or '-'}]")
            return 0
        if await remove_document(pool, args.id):
            print(f"removed {args.id}")
            return 0
        print(f"error: no document {args.id}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
