"""Serve the MongoDB wire protocol on 127.0.0.1 from mongoeco's SQLite engine (run by ``scripts/mongoeco``).

Runs under Python 3.13 in ``.venv-mongoeco``, not in the project's environment. Prints the connection
string (``mongodb://127.0.0.1:P/?directConnection=true``) on standard output once it accepts
connections, then serves until SIGTERM or SIGINT, and closes the database file. The data lives in
``DIR/scim.sqlite3``, so a server started again on the same directory finds what the last one stored.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from mongoeco.engines import SQLiteEngine  # type: ignore[import-not-found]
from mongoeco.wire import AsyncMongoEcoProxyServer  # type: ignore[import-not-found]


async def serve(data: Path, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = SQLiteEngine(str(data / "scim.sqlite3"))
    async with AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=port) as server:
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
