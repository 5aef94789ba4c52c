"""The event contract (v1) as data: names, choices and bounds.

The string rules (identifiers, times, trait names, countries) are read from the
JSON Schema the engine generates from its own models; a copy ships in this
package and the engine's tests keep it equal to the engine's. So this client
checks a string exactly as the engine does, without importing the engine.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any, Final, Literal

import orjson

JSON_SCHEMA_PATH = files("upsell_client") / "usage-event.schema.json"
JSON_SCHEMA: Final[dict[str, Any]] = orjson.loads(JSON_SCHEMA_PATH.read_bytes())

_DEFINITIONS = JSON_SCHEMA["$defs"]
_ACCOUNT = _DEFINITIONS["AccountEvent"]["properties"]

IDENTIFIER = re.compile(_DEFINITIONS["Identifier"]["pattern"])
MAX_IDENTIFIER_CHARS: Final[int] = _DEFINITIONS["Identifier"]["maxLength"]
TIMESTAMP = re.compile(_DEFINITIONS["EventTime"]["pattern"])
TRAIT_NAME = re.compile(next(iter(_ACCOUNT["traits"]["patternProperties"])))
COUNTRY = re.compile(_ACCOUNT["country"]["anyOf"][0]["pattern"])

CONTRACT_VERSION: Final = 1
Scale = Literal["nps", "csat", "health_score"]
SubscriptionStatus = Literal["active", "cancelled"]
TicketStatus = Literal["opened", "resolved"]
Severity = Literal["low", "normal", "high", "urgent"]
Response = Literal["shown", "accepted", "dismissed", "declined"]
ContractTerm = Literal["monthly", "annual"]

SCALES: Final = ("nps", "csat", "health_score")
EVENT_TYPES: Final = ("subscription", "usage", "feature_gate", "milestone", *SCALES, "ticket",
                      "churn_signal", "offer_response", "account")
SUBSCRIPTION_STATUSES: Final = ("active", "cancelled")
TICKET_STATUSES: Final = ("opened", "resolved")
SEVERITIES: Final = ("low", "normal", "high", "urgent")
RESPONSES: Final = ("shown", "accepted", "dismissed", "declined")
CONTRACT_TERMS: Final = ("monthly", "annual")
ACCOUNT_FIELDS: Final = ("industry", "employees", "country", "contract_term")

MAX_ADDONS: Final = 100
MAX_TRAITS: Final = 32
MAX_AMOUNT: Final = 1e12  # usage value or delta, from 0
MAX_SCORE: Final = 1e6  # a score, from -MAX_SCORE
MAX_TRAIT_NUMBER: Final = 1e12  # a numeric trait, from -MAX_TRAIT_NUMBER
MAX_EMPLOYEES: Final = 100_000_000
