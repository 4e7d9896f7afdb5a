"""Tortoise's SQLite client, with a connection the event loop's thread may use as well.

Tortoise (through aiosqlite) runs every statement on a thread of its own. ``core.sql`` runs
its short statements and transactions on the event loop's thread instead (see ``core.sql``),
always while holding the client's lock, which every ORM query takes too: the connection is
never used by two threads at once. SQLite itself is built thread-safe; only Python's
same-thread check has to be lifted, and it can only be lifted when the connection is opened.
"""

from __future__ import annotations

import sqlite3

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient


class CanyuSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        if not self._connection:
            self._connection = await aiosqlite.connect(
                self.filename, isolation_level=None, check_same_thread=False
            )
            self._connection._conn.row_factory = sqlite3.Row
            for pragma, val in self.pragmas.items():
                cursor = await self._connection.execute(f"PRAGMA {pragma}={val}")
                await cursor.close()
            await self._post_connect()


#: What Tortoise looks for in an engine module.
client_class = CanyuSqliteClient
