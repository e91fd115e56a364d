"""The conversation so far, bounded, as the agents receive it."""

from __future__ import annotations

from pydantic_ai.messages import ModelRequest, ModelResponse

from shared.agents.conversation import (
    ChatMessage,
    bound_history,
    load_chat_history,
    to_model_history,
)


def test_bound_history_keeps_the_most_recent_messages_within_both_bounds():
    messages = [ChatMessage("user" if i % 2 == 0 else "assistant", f"m{i}" * 10) for i in range(10)]
    kept = bound_history(messages, max_messages=4, max_chars=1000)
    assert [m.content for m in kept] == [f"m{i}" * 10 for i in range(6, 10)]
    kept = bound_history(messages, max_messages=10, max_chars=45)
    assert [m.content[-2:] for m in kept] == ["m7", "m8", "m9"]
    assert sum(len(m.content) for m in kept) <= 45
    assert kept[0].content.startswith("…")
    assert bound_history(messages, max_messages=0, max_chars=1000) == []


def test_history_becomes_requests_and_responses():
    history = to_model_history([ChatMessage("user", "hi"), ChatMessage("assistant", "hello")])
    assert isinstance(history[0], ModelRequest)
    assert isinstance(history[1], ModelResponse)
    assert history[1].parts[0].content == "hello"


async def test_load_chat_history_stops_before_the_tasks_own_message(db_pool):
    user = await db_pool.fetchval("INSERT INTO users (name) VALUES ('u') RETURNING id")
    chat = await db_pool.fetchval("INSERT INTO chats (user_id) VALUES ($1) RETURNING id", user)
    tasks = []
    for n in range(3):
        task = await db_pool.fetchval(
            "INSERT INTO tasks (chat_id, user_id) VALUES ($1, $2) RETURNING id", chat, user
        )
        tasks.append(task)
        for offset, role in enumerate(("user", "assistant")):
            await db_pool.execute(
                "INSERT INTO messages (chat_id, task_id, role, content, created_at)"
                " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
                chat,
                task,
                role,
                f"{role} {n}",
                n * 10 + offset,
            )
    history = await load_chat_history(db_pool, chat, before_task_id=tasks[2])
    assert [(m.role, m.content) for m in history] == [
        ("user", "user 0"),
        ("assistant", "assistant 0"),
        ("user", "user 1"),
        ("assistant", "assistant 1"),
    ]
    everything = await load_chat_history(db_pool, chat)
    assert len(everything) == 6
