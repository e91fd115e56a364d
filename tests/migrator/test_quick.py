async def test_migrated(db_pool):
    assert await db_pool.fetchval("SELECT count(*) FROM users") == 0
