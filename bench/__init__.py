"""`jarvis bench`: the pipeline's throughput and latency measured against its own primitives.

One run starts its own embedded PostgreSQL and Redis in a temporary directory, real service
processes, and measures (bench/run.py):

- the primitives: Redis XADD+XREAD round trips, arq no-op jobs and two-hop chains with the worker
  settings Jarvis uses, single-row INSERT+COMMIT through asyncpg (bench/primitives.py);
- the gateway alone: POST /v1/chats/{id}/messages at 50 concurrent clients (bench/gateway.py);
- end to end: tasks per second with 1, 2 and 4 executors, latency percentiles at low load and at
  80% of the maximum, and how a task's cost grows with its steps (bench/pipeline.py);
- the WebSocket feed: 100, 1,000 and 5,000 sockets on one gateway process (bench/feed.py).

Results go to bench/results/<date>.json with a table on the terminal (bench/report.py).
"""
