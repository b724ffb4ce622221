"""Serve the MongoDB wire protocol on 127.0.0.1 from mongoeco's SQLite engine (run by ``scripts/mongoeco``).

Runs under Python 3.13 in ``.venv-mongoeco``, not in the project's environment. Prints the connection
string (``mongodb://127.0.0.1:P/?directConnection=true``) on standard output once it accepts
connections, then serves, one command at a time (``SerialProxyServer``), until SIGTERM or SIGINT, and
closes the database file. The data lives in
``DIR/scim.sqlite3``, so a server started again on the same directory finds what the last one stored.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from mongoeco.engines import SQLiteEngine  # type: ignore[import-not-found]
from mongoeco.wire import AsyncMongoEcoProxyServer  # type: ignore[import-not-found]


class SerialProxyServer(AsyncMongoEcoProxyServer):  # type: ignore[misc]
    """mongoeco's wire server, executing one command at a time.

    After every write, mongoeco 4.11's SQLite engine dispatches its change-stream outbox synchronously
    on the event loop, through a second SQLite connection that needs the write lock. While another
    command's write holds that lock in an executor thread, the whole server (every connection)
    stops in SQLite's busy wait, seconds at a time: under concurrent writes from a few connections it
    looks hung. One command at a time, the write lock is always free when the dispatch asks for it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._serial = asyncio.Lock()

    async def _dispatch_wire_request(self, header: Any, payload: bytes, *, connection: Any) -> bytes | None:
        async with self._serial:
            dispatch = super()._dispatch_wire_request
            response: bytes | None = await dispatch(header, payload, connection=connection)
            return response


async def serve(data: Path, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = SQLiteEngine(str(data / "scim.sqlite3"))
    async with SerialProxyServer(engine=engine, host="127.0.0.1", port=port) as server:
        print(f"mongodb://127.0.0.1:{server.address.port}/?directConnection=true", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="directory of the database file")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    arguments = parser.parse_args()
    arguments.data.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(arguments.data, arguments.port))


if __name__ == "__main__":
    main()
