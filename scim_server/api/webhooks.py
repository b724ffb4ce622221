"""The HTTP side of webhook delivery: one POST per attempt (services/webhooks.py decides the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp


class HttpSender:
    """POSTs with one shared client session; redirects are not followed (a 3xx is a failure)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __call__(self, url: str, headers: Mapping[str, str], body: bytes, seconds: float) -> str | None:
        """None when the receiver answered 2xx; otherwise why not, without the URL or the body."""
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientConnectorError as error:
            return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
        except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as error:
            return type(error).__name__
