"""Wire contracts: usage events, offers and the rules file (pydantic v2)."""
