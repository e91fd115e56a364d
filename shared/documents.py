"""The local knowledge base that web_search's `local` provider searches: adding, listing and
removing documents (used by `jarvis docs ...` and the first `jarvis up`).

Markdown and plain text are stored as they are; HTML is turned into text with the standard
library's html.parser. Adding a file again replaces it (documents are keyed by their absolute
path, `source`). A text longer than the 200,000 characters a row may hold is stored as parts
whose sources end in `#part-N`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from uuid import UUID

import asyncpg

MAX_BODY_CHARS = 200_000
MAX_TITLE_CHARS = 500
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES
_NO_OWNER = "00000000-0000-0000-0000-000000000000"


class DocumentError(Exception):
    """A path cannot be added; the message says which and why."""


@dataclass(frozen=True)
class AddedDocument:
    source: str
    title: str
    ids: list[UUID]  # one per part
    chars: int


@dataclass(frozen=True)
class DocumentInfo:
    id: UUID
    title: str
    source: str | None
    chars: int
    user_id: UUID | None
    created_at: datetime


_BLOCK_TAGS = """
address article aside blockquote br dd div dl dt fieldset figcaption figure footer form h1 h2 h3
h4 h5 h6 header hr li main nav ol p pre section table td th tr ul
"""


class _HtmlText(HTMLParser):
    """Text of an HTML page: block elements become line breaks; scripts and styles are dropped."""

    BLOCKS = frozenset(_BLOCK_TAGS.split())
    SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.first_heading = ""
        self._skipping = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_seen = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self._skipping += 1
        self._in_title = self._in_title or tag == "title"
        self._in_h1 = self._in_h1 or tag == "h1"
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED and self._skipping:
            self._skipping -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
            self._h1_seen = True
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._skipping:
            return
        if self._in_h1 and not self._h1_seen:
            self.first_heading += data
        self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML document."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join(parser.title.split()) or " ".join(parser.first_heading.split())
    return title, text


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; other control characters are noise in a search index.
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text.replace("\r\n", "\n"))


def read_document(path: Path) -> tuple[str, str]:
    """(title, body) of a Markdown, text or HTML file."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        title, body = html_to_text(raw)
    else:
        body = raw
        title = ""
        if suffix in MARKDOWN_SUFFIXES and (match := re.search(r"^#\s+(.+)$", raw, re.M)):
            title = match[1].strip().strip("#").strip()
    title = " ".join(_clean(title).split()) or path.stem
    return title[:MAX_TITLE_CHARS], _clean(body).strip()


def split_body(body: str, limit: int = MAX_BODY_CHARS) -> list[str]:
    """Parts of at most `limit` characters, cut at paragraph or line breaks where possible."""
    parts: list[str] = []
    while len(body) > limit:
        cut = max(body.rfind("\n\n", 0, limit), body.rfind("\n", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(body[:cut].strip() or body[:limit])
        body = body[cut:].strip()
    if body:
        parts.append(body)
    return parts


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to add: each named file, and every supported file under each named folder."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
                raise DocumentError(f"{path}: unsupported file type (supported: {supported})")
            files.append(path)
        else:
            raise DocumentError(f"{path}: no such file or folder")
    return list(dict.fromkeys(p.resolve() for p in files))


async def _store(
    conn: asyncpg.Connection, source: str, title: str, body: str, user_id: UUID | None
) -> list[UUID]:
    parts = split_body(body)
    if len(parts) == 1:
        rows = [(source, title, parts[0])]
    else:
        count = len(parts)
        rows = [
            (f"{source}#part-{n}", f"{title[: MAX_TITLE_CHARS - 20]} (part {n}/{count})", part)
            for n, part in enumerate(parts, 1)
        ]
    ids = []
    for row_source, row_title, row_body in rows:
        ids.append(
            await conn.fetchval(
                f"""
                INSERT INTO documents (user_id, title, body, source) VALUES ($1, $2, $3, $4)
                ON CONFLICT (coalesce(user_id, '{_NO_OWNER}'::uuid), source)
                    WHERE source IS NOT NULL
                DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body
                RETURNING id
                """,
                user_id,
                row_title,
                row_body,
                row_source,
            )
        )
    # Parts left over from a longer earlier version of the same file.
    await conn.execute(
        f"""
        DELETE FROM documents
        WHERE coalesce(user_id, '{_NO_OWNER}'::uuid) = coalesce($1::uuid, '{_NO_OWNER}'::uuid)
          AND (source = $2 OR starts_with(source, $2 || '#part-'))
          AND NOT (id = ANY($3::uuid[]))
        """,
        user_id,
        source,
        ids,
    )
    return ids


async def add_paths(
    pool: asyncpg.Pool, paths: list[Path], *, user_id: UUID | None = None
) -> list[AddedDocument]:
    """Add (or replace) every file at `paths`; folders are searched recursively.

    Documents without an owner (`user_id` None) are shared with every user. Empty files are
    skipped. Raises DocumentError, before anything is stored, for a missing path or an
    unsupported named file.
    """
    added: list[AddedDocument] = []
    for path in await asyncio.to_thread(expand_paths, paths):
        title, body = await asyncio.to_thread(read_document, path)
        if not body:
            continue
        async with pool.acquire() as conn, conn.transaction():
            ids = await _store(conn, str(path), title, body, user_id)
        added.append(AddedDocument(source=str(path), title=title, ids=ids, chars=len(body)))
    return added


async def list_documents(pool: asyncpg.Pool) -> list[DocumentInfo]:
    rows = await pool.fetch(
        """
        SELECT id, title, source, char_length(body) AS chars, user_id, created_at
        FROM documents ORDER BY source NULLS LAST, created_at, id
        """
    )
    return [DocumentInfo(**dict(row)) for row in rows]


async def remove_document(pool: asyncpg.Pool, document_id: UUID | str) -> bool:
    """Remove one document by id; False when there is no such document."""
    try:
        key = document_id if isinstance(document_id, UUID) else UUID(str(document_id))
    except ValueError:
        return False
    return await pool.fetchval("DELETE FROM documents WHERE id = $1 RETURNING true", key) is True


async def load_initial_documents(pool: asyncpg.Pool, project_root: Path) -> int:
    """On an empty knowledge base, add the project's README.md and docs/; the number added."""
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM documents)"):
        return 0
    candidates = (project_root / "README.md", project_root / "docs")
    paths = [path for path in candidates if await asyncio.to_thread(path.exists)]
    return len(await add_paths(pool, paths)) if paths else 0
