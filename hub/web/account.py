"""Placeholder: filled by its page module's work."""

from __future__ import annotations

from starlette.routing import BaseRoute

from hub.web.kit import Web


def routes(web: Web) -> list[BaseRoute]:
    return []
