"""The local knowledge base: adding files and folders, replacing, splitting, listing, removing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shared.documents import (
    DocumentError,
    add_paths,
    html_to_text,
    list_documents,
    load_initial_documents,
    remove_document,
    split_body,
)
from tests.fixtures.processes import jarvis_env, run_jarvis

if TYPE_CHECKING:
    from tests.fixtures.servers import TestServers

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HTML = """<!doctype html><html><head><title>Kiwi &amp; friends</title>
<style>body { color: red }</style><script>alert("x")</script></head>
<body><h1>Kiwis</h1><p>Kiwis are <b>flightless</b>.</p><ul><li>brown</li><li>small</li></ul>
</body></html>"""


def test_html_becomes_text_without_scripts_or_styles():
    title, text = html_to_text(HTML)
    assert title == "Kiwi & friends"
    assert text == "Kiwis\n\nKiwis are flightless.\n\nbrown\n\nsmall"


def test_long_texts_are_split_at_paragraphs():
    body = "\n\n".join(f"paragraph {n} " + "x" * 90 for n in range(50))
    parts = split_body(body, limit=1000)
    assert all(len(part) <= 1000 for part in parts)
    assert "\n\n".join(parts) == body
    assert split_body("y" * 2500, limit=1000) == ["y" * 1000, "y" * 1000, "y" * 500]


async def test_files_and_folders_are_added_with_titles(db_pool, tmp_path: Path):
    (tmp_path / "guide.md").write_text("Intro line\n\n# The guide\n\nHow to run Jarvis.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("Plain notes.\x00")
    (tmp_path / "sub" / "page.html").write_text(HTML)
    (tmp_path / "sub" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("# Secret")
    (tmp_path / "empty.md").write_text("  \n")
    added = await add_paths(db_pool, [tmp_path])
    assert sorted(d.title for d in added) == ["Kiwi & friends", "The guide", "notes"]
    listed = await list_documents(db_pool)
    assert sorted(d.source for d in listed) == sorted(
        str((tmp_path / name).resolve()) for name in ("guide.md", "sub/notes.txt", "sub/page.html")
    )
    notes = next(d for d in listed if d.title == "notes")
    assert notes.user_id is None
    body = await db_pool.fetchval("SELECT body FROM documents WHERE id = $1", notes.id)
    assert body == "Plain notes."


async def test_adding_a_file_again_replaces_it(db_pool, tmp_path: Path):
    path = tmp_path / "doc.md"
    path.write_text("# First\n\nold text")
    [first] = await add_paths(db_pool, [path])
    path.write_text("# Second\n\nnew text")
    [second] = await add_paths(db_pool, [path])
    assert second.ids == first.ids
    rows = await db_pool.fetch("SELECT title, body FROM documents")
    assert [(r["title"], r["body"]) for r in rows] == [("Second", "# Second\n\nnew text")]


async def test_long_files_are_stored_in_parts_and_shrink_cleanly(db_pool, tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("\n\n".join("z" * 99_999 for _ in range(5)))
    [added] = await add_paths(db_pool, [path])
    assert len(added.ids) == 3
    sources = [d.source for d in await list_documents(db_pool)]
    assert sources == [f"{path}#part-{n}" for n in (1, 2, 3)]
    titles = {d.title for d in await list_documents(db_pool)}
    assert titles == {"big (part 1/3)", "big (part 2/3)", "big (part 3/3)"}
    path.write_text("short now")
    await add_paths(db_pool, [path])
    assert [(d.source, d.chars) for d in await list_documents(db_pool)] == [(str(path), 9)]


async def test_bad_paths_are_refused_before_anything_is_stored(db_pool, tmp_path: Path):
    good = tmp_path / "good.md"
    good.write_text("# Good")
    (tmp_path / "data.bin").write_bytes(b"\x00")
    with pytest.raises(DocumentError, match="no such file"):
        await add_paths(db_pool, [good, tmp_path / "missing.md"])
    with pytest.raises(DocumentError, match="unsupported file type"):
        await add_paths(db_pool, [good, tmp_path / "data.bin"])
    assert await list_documents(db_pool) == []


async def test_remove_document(db_pool, tmp_path: Path):
    (tmp_path / "a.md").write_text("# A")
    [added] = await add_paths(db_pool, [tmp_path / "a.md"])
    assert await remove_document(db_pool, str(added.ids[0])) is True
    assert await remove_document(db_pool, added.ids[0]) is False
    assert await remove_document(db_pool, uuid.uuid4()) is False
    assert await remove_document(db_pool, "not-a-uuid") is False
    assert await list_documents(db_pool) == []


async def test_initial_documents_load_only_into_an_empty_knowledge_base(db_pool, tmp_path: Path):
    (tmp_path / "README.md").write_text("# Jarvis\n\nAgentic tasks behind a chat.")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "design.md").write_text("# Design\n\nPostgreSQL is the truth.")
    (tmp_path / "other.md").write_text("# Not loaded")
    assert await load_initial_documents(db_pool, tmp_path) == 2
    assert sorted(d.title for d in await list_documents(db_pool)) == ["Design", "Jarvis"]
    assert await load_initial_documents(db_pool, tmp_path) == 0


async def test_the_projects_own_docs_load(db_pool):
    if not (PROJECT_ROOT / "README.md").exists():
        pytest.skip("the project has no README.md yet")
    assert await load_initial_documents(db_pool, PROJECT_ROOT) >= 1


def test_docs_add_list_and_remove_as_commands(
    database_url: str, servers: TestServers, tmp_path: Path
) -> None:
    env = jarvis_env(
        JARVIS_DATABASE_URL=database_url,
        JARVIS_REDIS_URL=servers.redis_url,
        JARVIS_DATA_DIR=str(tmp_path / "data"),
    )
    note = tmp_path / "kiwi.md"
    note.write_text("# Kiwis\n\nKiwis are flightless birds.")
    other = tmp_path / "tui.txt"
    other.write_text("Tui sing at dawn.")
    added = run_jarvis("docs", "add", str(note), str(other), env=env)
    assert added.returncode == 0, added.stderr

    listed = run_jarvis("docs", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[-1].strip("[]"): line.split()[0] for line in listed.stdout.splitlines()}
    assert set(rows) == {str(note), str(other)}, listed.stdout

    removed = run_jarvis("docs", "remove", rows[str(note)], env=env)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"removed {rows[str(note)]}"
    listed = run_jarvis("docs", "list", env=env)
    assert str(note) not in listed.stdout
    assert str(other) in listed.stdout

    again = run_jarvis("docs", "remove", rows[str(note)], env=env)
    assert again.returncode == 1
    assert f"no document {rows[str(note)]}" in again.stderr
    unknown = run_jarvis("docs", "remove", "not-an-id", env=env)
    assert unknown.returncode == 1
