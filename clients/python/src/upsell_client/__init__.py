"""upsell-client: send usage events to the upsell engine from a product app.

    from upsell_client import UpsellProducer, events

    async with UpsellProducer("kafka:9092") as producer:
        await producer.send_and_wait(events.usage_gauge("acme", "seats", 41))
"""

from upsell_client import events
from upsell_client.contract import JSON_SCHEMA_PATH
from upsell_client.errors import InvalidEvent, TopicNotReady
from upsell_client.events import Event, respond
from upsell_client.producer import Delivery, UpsellProducer

__all__ = ["JSON_SCHEMA_PATH", "Delivery", "Event", "InvalidEvent", "TopicNotReady",
           "UpsellProducer", "events", "respond"]
