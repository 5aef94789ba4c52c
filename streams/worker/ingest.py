"""HTTP ingest for product apps that do not speak Kafka, and the response
endpoint for in-app messaging.

`POST /v1/events` takes one JSON event, a JSON array of events, or NDJSON (one
event per line), checks each with the engine's decoder, produces the valid ones
to the events topic on their account's partition (the engine's partitioner),
and answers 202 only once the broker has acknowledged them (acks=all). Invalid
events are refused with their line and the engine's reason, never sent.

`POST /v1/offers/{offer_id}/response` turns {"account_id", "response",
"occurred_at"?} into an `offer_response` event with a derived id
(schemas/offer_responses.py).

The same handlers run on the worker's web server (faust, aiohttp under it) and
as `upsell ingest` (a plain aiohttp app). Ingest is off until
UPSELL_INGEST_TOKEN is set; every request must carry it as a bearer token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

import faust
import mode
import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from schemas.events import InvalidEvent
from schemas.offer_responses import offer_response_event
from streams.runtime.errors import TopicLayoutError
from streams.runtime.routing import home_partition
from streams.runtime.settings import TopicSettings
from streams.runtime.topics import ensure_topics
from streams.worker.config import IngestSettings
from streams.worker.ingest_body import BodyError, check_events, is_json, is_ndjson, json_items, ndjson_items

log = logging.getLogger(__name__)

EVENTS_PATH = "/v1/events"
OFFER_RESPONSE_PATH = "/v1/offers/{offer_id}/response"
Handler = Callable[[web.Request], Awaitable[web.Response]]
#: A shorter token is refused, so that an empty or truncated value cannot open ingest.
MIN_TOKEN_CHARS = 8
#: The longest wait between two tries to reach Kafka at start.
MAX_CONNECT_BACKOFF_S = 30.0


class EventIngest:
    """Checks posted events and produces the valid ones. `start()` before serving."""

    def __init__(self, settings: IngestSettings, bootstrap_servers: str, topics: TopicSettings,
                 client_options: dict[str, Any]) -> None:
        if settings.token is None or len(settings.token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"UPSELL_INGEST_TOKEN must have at least {MIN_TOKEN_CHARS} "
                             "characters; use a long random one (`openssl rand -hex 32`)")
        self._token = settings.token.get_secret_value().encode()
        self._settings = settings
        self._bootstrap_servers = bootstrap_servers
        self._topics = topics
        self._client_options = client_options
        self._producer: AIOKafkaProducer | None = None
        self._partitions = 0  # the events topic's, read from the broker at start

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connect to Kafka, retrying with backoff while it cannot be reached; the
        endpoints answer 503 until then (run it as a task: it returns once connected)."""
        delay = 1.0
        while True:
            try:
                await self._connect()
                return
            except (KafkaError, OSError) as exc:
                log.warning("ingest: cannot reach Kafka (%s); retrying in %.0f s",
                            type(exc).__name__, delay)
            except TopicLayoutError as exc:  # no retry repairs it: the endpoints stay 503
                log.error("ingest: %s", exc)
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_CONNECT_BACKOFF_S)

    async def _connect(self) -> None:
        # A missing topic would be auto-created with the broker's layout, not the engine's.
        await ensure_topics(self._bootstrap_servers, self._topics, self._client_options)
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap_servers, acks="all",
                                    linger_ms=5, **self._client_options)
        try:
            await producer.start()
            self._partitions = len(await producer.partitions_for(self._topics.events))
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        log.info("ingest: connected; events go to %s (%d partitions)", self._topics.events,
                 self._partitions)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    # -- handlers ----------------------------------------------------------

    async def post_events(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        if is_ndjson(request.content_type):
            split: Callable[[bytes], Iterable[tuple[int, bytes]]] = ndjson_items
        elif is_json(request.content_type):
            split = json_items
        else:
            return _error(415, "send application/json (an event or an array of events) or "
                               "application/x-ndjson (one event per line)")
        body = await self._read_body(request)
        if body is None:
            return self._too_large()
        try:
            checked = check_events(split(body))
        except BodyError as exc:
            return _error(400, str(exc))
        if not checked.accepted and not checked.rejected:
            return _error(400, "the body holds no events")
        failed = await self._send(checked.accepted)
        if failed is not None:
            return failed
        return _json(202 if checked.accepted else 422, checked.summary())

    async def post_offer_response(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        if not is_json(request.content_type):
            return _error(415, "send application/json")
        body = await self._read_body(request)
        if body is None:
            return self._too_large()
        try:
            event, raw = offer_response_event(request.match_info["offer_id"], body,
                                              datetime.now(UTC))
        except InvalidEvent as exc:
            return _error(422, exc.reason)
        failed = await self._send([(event.account_id, raw)])
        if failed is not None:
            return failed
        return _json(202, {"accepted": 1, "event_id": event.event_id})

    # -- steps -------------------------------------------------------------

    def _refuse(self, request: web.Request) -> web.Response | None:
        """401 without the right bearer token (compared in constant time), 503 until started."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 self._token):
            return _error(401, "missing or wrong bearer token",
                          headers={"WWW-Authenticate": 'Bearer realm="upsell"'})
        if self._producer is None:
            return _error(503, "starting: not connected to Kafka yet", headers={"Retry-After": "1"})
        return None

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None past the size limit (read no further than the limit)."""
        limit = self._settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> web.Response:
        return _error(413, f"the body is larger than {self._settings.max_body_bytes} bytes "
                           "(UPSELL_INGEST_MAX_BODY_BYTES): send fewer events per request")

    async def _send(self, events: list[tuple[str, bytes]]) -> web.Response | None:
        """Produce each event to its account's partition and wait for every
        acknowledgement; a 503 if the broker does not acknowledge in time."""
        producer = self._producer
        assert producer is not None  # _refuse answered 503 otherwise
        topic, partitions = self._topics.events, self._partitions
        try:
            async with asyncio.timeout(self._settings.ack_timeout_s):
                deliveries = [
                    await producer.send(topic, raw, key=account.encode(),
                                        partition=home_partition(account, partitions))
                    for account, raw in events
                ]
                await asyncio.gather(*deliveries)
        except (KafkaError, TimeoutError) as exc:
            log.warning("ingest: Kafka did not acknowledge %d events (%s)", len(events),
                        type(exc).__name__)
            return _error(503, "Kafka did not acknowledge the events: send the request again "
                               "(events already delivered are dropped by their event_id)",
                          headers={"Retry-After": "1"})
        return None


async def ingest_off(request: web.Request) -> web.Response:
    """What the ingest paths answer while no token is set."""
    return _error(404, "ingest is off: set UPSELL_INGEST_TOKEN to turn it on")


def ingest_routes(ingest: EventIngest | None) -> list[tuple[str, Handler]]:
    """(path, handler) of each POST endpoint; with no ingest, handlers that answer 404."""
    if ingest is None:
        return [(EVENTS_PATH, ingest_off), (OFFER_RESPONSE_PATH, ingest_off)]
    return [(EVENTS_PATH, ingest.post_events), (OFFER_RESPONSE_PATH, ingest.post_offer_response)]


def make_ingest(settings: IngestSettings, bootstrap_servers: str, topics: TopicSettings,
                client_options: dict[str, Any]) -> EventIngest | None:
    """The ingest, or None while no token is set (ingest off); ValueError for a
    token too short (the message never shows it)."""
    if settings.token is None:
        return None
    return EventIngest(settings, bootstrap_servers, topics, client_options)


# -- on the worker ----------------------------------------------------------

class IngestService(mode.Service):
    """The ingest's producer, connected in the background and stopped with the worker:
    a broker that is down at start delays ingest (503s), not the worker."""

    def __init__(self, ingest: EventIngest, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ingest = ingest

    @mode.Service.task
    async def _connect(self) -> None:
        await self.ingest.start()

    async def on_stop(self) -> None:
        await self.ingest.stop()


def add_ingest(app: faust.App, ingest: EventIngest | None) -> None:
    """Serve the ingest endpoints on the worker's web server."""
    if ingest is not None:
        app.service(IngestService(ingest))  # type: ignore[arg-type]  # an instance works too
    for path, handler in ingest_routes(ingest):
        app.page(path, name=path)(_post_view(handler))


def _post_view(handler: Handler) -> type[View]:
    class PostOnly(View):
        async def post(self, request: Request, **match_info: Any) -> Response:
            # On faust's aiohttp driver, its Request and Response are aiohttp's.
            return cast(Response, await handler(cast(web.Request, request)))

    return PostOnly


# -- standalone: `upsell ingest` -------------------------------------------

_CONNECTING = web.AppKey("connecting", asyncio.Task[None])


def ingest_app(ingest: EventIngest) -> web.Application:
    """An aiohttp app with only the ingest endpoints; starts and stops the producer."""
    app = web.Application()
    for path, handler in ingest_routes(ingest):
        app.router.add_post(path, handler)

    async def start(app: web.Application) -> None:
        app[_CONNECTING] = asyncio.create_task(ingest.start())

    async def stop(app: web.Application) -> None:
        app[_CONNECTING].cancel()
        await ingest.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def run_ingest(ingest: EventIngest, settings: IngestSettings) -> None:
    """Serve until SIGINT/SIGTERM."""
    web.run_app(ingest_app(ingest), host=settings.bind, port=settings.port, print=None,
                access_log=None)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, {"error": message}, headers)
