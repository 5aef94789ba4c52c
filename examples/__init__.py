"""The sample rules and events, installed as the data-only package `upsell_examples`
(see pyproject.toml), so that `upsell demo` finds them in any install."""
