"""The fast path for live readers: each event appended to its task's and its chat's Redis stream.

A task stream's entry ids are "{seq}-0", so an event can never be added twice and a reader
resumes from the seq it last saw. Streams are trimmed by length and expire when idle; whatever
a reader cannot find there it reads from PostgreSQL (shared/event_log.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.events import TaskEvent
from shared.logging import get_logger
from shared.redis_keys import RedisKeys

log = get_logger(__name__)

TASK_STREAM_MAXLEN = 1_000
CHAT_STREAM_MAXLEN = 10_000
STREAM_TTL_SECONDS = 24 * 3600


def stream_fields(event: TaskEvent) -> dict[str, str]:
    return {"event": json.dumps(event.to_json(), separators=(",", ":"))}


def event_from_fields(fields: dict[bytes, bytes]) -> TaskEvent:
    return TaskEvent.model_validate_json(fields[b"event"])


async def publish_events(redis: Redis, keys: RedisKeys, events: Iterable[TaskEvent]) -> bool:
    """Append events to their streams; False if Redis could not take them (PostgreSQL has them)."""
    pipe = redis.pipeline(transaction=False)
    count = 0
    for event in events:
        fields = stream_fields(event)
        task_stream = keys.task_stream(event.task_id)
        chat_stream = keys.chat_stream(event.chat_id)
        pipe.xadd(task_stream, fields, id=f"{event.seq}-0", maxlen=TASK_STREAM_MAXLEN)
        pipe.xadd(chat_stream, fields, maxlen=CHAT_STREAM_MAXLEN, approximate=True)
        pipe.expire(task_stream, STREAM_TTL_SECONDS)
        pipe.expire(chat_stream, STREAM_TTL_SECONDS)
        count += 1
    if not count:
        return True
    try:
        results = await pipe.execute(raise_on_error=False)
    except (RedisError, OSError) as error:
        log.warning("events not streamed; readers will find them in PostgreSQL", error=str(error))
        return False
    # An XADD refused as "equal or smaller ID" means the event is already in its stream.
    failures = [r for r in results if isinstance(r, Exception) and "equal or smaller" not in str(r)]
    if failures:
        log.warning("some events not streamed", error=str(failures[0]))
    return not failures
