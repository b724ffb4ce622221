"""Webhook delivery of change events, signed per Standard Webhooks, at least once, in order.

Each webhook of an organization (``services/organizations.py``) follows the organization's event feed
(``services/events.py``) with its own cursor kept in the store (``webhook_deliveries``): a restart
resumes where the last delivery ended, and a new webhook starts at the events written after it
appeared. Events are delivered one at a time in commit order, so a resource's events (and all
others) arrive in the order they were written; an event is re-sent until the receiver answers 2xx,
with exponential backoff and jitter, for up to ``webhook_retry_hours`` from its first failure, and
is then given up: logged at ERROR (without the secret, or the URL's query) and counted, and the
next event follows. Only the process holding a webhook's lease (claimed with ``find_one_and_update``,
renewed on each delivery, expiring on its own if the process dies) delivers to it.

Delivery runs in the background, from the store: a SCIM request only writes its event, so it is
never slowed down or failed by a receiver.

Signing (https://www.standardwebhooks.com): headers ``webhook-id`` (the event id, the same on every
attempt, for the receiver's deduplication), ``webhook-timestamp`` (Unix seconds of the attempt) and
``webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">``, keyed with the
base64-decoded part of the secret after ``whsec_``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from scim_server.services.events import EventFeed, render_event
from scim_server.services.organizations import OrganizationsRegistry, Webhook
from scim_server.storage.audit import DeliveryStateStore

logger = logging.getLogger("scim_server.webhooks")

# POSTs ``body`` with ``headers`` to ``url`` within ``timeout`` seconds: None when the receiver
# answered 2xx, otherwise a short reason for logs ("HTTP 503", "timeout", "connection refused").
Sender = Callable[[str, Mapping[str, str], bytes, float], Awaitable[str | None]]
# (organization, outcome): "delivered", "failed" (an attempt; it will be retried) or "abandoned".
Observer = Callable[[str, str], None]

MAX_BACKOFF_SECONDS = 3600.0
BATCH = 100


def sign(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value of one message (Standard Webhooks, symmetric ``v1``)."""
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def backoff_seconds(base: float, attempts: int, draw: float) -> float:
    """The wait after the ``attempts``-th failure: ``base`` doubled per further failure, at most an
    hour, scaled by ``0.5 + draw / 2`` (jitter, ``draw`` in [0, 1)) so that retries spread out."""
    delay: float = min(MAX_BACKOFF_SECONDS, base * 2.0 ** min(attempts - 1, 32))
    return delay * (0.5 + draw / 2)


def _ignore(org_id: str, outcome: str) -> None:
    return None


class WebhookDispatcher:
    """Delivers every organization's events to its webhooks; see the module docstring."""

    def __init__(
        self,
        state: DeliveryStateStore,
        feed: EventFeed,
        organizations: OrganizationsRegistry,
        send: Sender,
        *,
        retry_hours: float,
        backoff_seconds: float,
        timeout_seconds: float,
        observe: Observer = _ignore,
        now: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._state = state
        self._feed = feed
        self._organizations = organizations
        self._send = send
        self._retry_seconds = retry_hours * 3600
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._lease = timeout_seconds + 30
        self._observe = observe
        self._now = now
        self._draw = draw
        self.owner = f"{os.getpid()}-{secrets.token_hex(6)}"

    async def run(self, poll_seconds: float) -> None:
        """Deliver pending events every ``poll_seconds`` until cancelled; errors are logged."""
        while True:
            try:
                await self.deliver_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("webhook delivery pass failed; retrying in the next pass")
            await asyncio.sleep(poll_seconds)

    async def deliver_pending(self) -> int:
        """One pass over every configured webhook this process can claim; events delivered."""
        delivered = 0
        for org_id, config in self._organizations.current.with_webhooks():
            for webhook in config.webhooks:
                delivered += await self._deliver(org_id, webhook)
        return delivered

    async def _deliver(self, org_id: str, webhook: Webhook) -> int:
        key = f"{org_id}:{webhook.id}"
        now = self._now()
        state = await self._state.claim(
            key, self.owner, now, now + self._lease, start_after=await self._feed.head(org_id)
        )
        if state is None:
            return 0
        delivered = 0
        try:
            attempts: int = state.get("attempts", 0)
            first_failure: float | None = state.get("firstFailure")
            for doc in await self._feed.after(org_id, state["after"], BATCH):
                event = render_event(doc)
                reason = await self._post(webhook, event)
                now = self._now()
                if reason is None:
                    self._observe(org_id, "delivered")
                    delivered += 1
                    attempts, first_failure = 0, None
                elif now - (first_failure if first_failure is not None else now) >= self._retry_seconds:
                    self._observe(org_id, "abandoned")
                    logger.error(
                        "webhook delivery given up: event %s (%s %s) of organization %s to %s after %d "
                        "attempts over %g hours: %s",
                        event["id"],
                        event["type"],
                        event["resource"]["id"],
                        org_id,
                        webhook.display_url,
                        attempts + 1,
                        self._retry_seconds / 3600,
                        reason,
                    )
                    attempts, first_failure = 0, None
                else:
                    self._observe(org_id, "failed")
                    attempts += 1
                    first_failure = now if first_failure is None else first_failure
                    delay = backoff_seconds(self._backoff, attempts, self._draw())
                    logger.info(
                        "webhook delivery failed: event %s of organization %s to %s, attempt %d: %s; "
                        "retrying in %.1f s",
                        event["id"],
                        org_id,
                        webhook.display_url,
                        attempts,
                        reason,
                        delay,
                    )
                    await self._state.update(
                        key,
                        self.owner,
                        {"attempts": attempts, "firstFailure": first_failure, "nextAttempt": now + delay},
                    )
                    break
                # Delivered or given up: the cursor moves past the event, and the lease is renewed.
                moved = await self._state.update(
                    key,
                    self.owner,
                    {
                        "after": doc["seq"],
                        "attempts": 0,
                        "firstFailure": None,
                        "nextAttempt": now,
                        "leaseUntil": now + self._lease,
                    },
                )
                if not moved:  # the lease was lost to another process, which continues from here
                    return delivered
        finally:
            await self._release(key)
        return delivered

    async def _release(self, key: str) -> None:
        """Give the webhook's lease up, even when the pass is cancelled (a shutdown) meanwhile: a
        lease left held would keep every other process from delivering until it expires."""
        released = {"leaseUntil": 0.0, "owner": None}
        release = asyncio.ensure_future(self._state.update(key, self.owner, released))
        try:
            await asyncio.shield(release)
        except asyncio.CancelledError:
            await release
            raise

    async def _post(self, webhook: Webhook, event: Mapping[str, Any]) -> str | None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        timestamp = str(int(self._now()))
        headers = {
            "content-type": "application/json",
            "webhook-id": str(event["id"]),
            "webhook-timestamp": timestamp,
            "webhook-signature": sign(webhook.key, str(event["id"]), timestamp, body),
        }
        try:
            return await self._send(webhook.url, headers, body, self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a sender bug must not stop the other webhooks
            return type(error).__name__
