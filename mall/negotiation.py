"""Content negotiation with a short way for what the mini-program sends.

DRF parses the Accept header and matches it against every renderer on each request; our API
renders JSON only, and its clients accept anything or JSON. Those requests get the first
renderer at once; any other Accept header, a ?format= or a format suffix is negotiated as before.
"""

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Accept headers that the first renderer answers as it is (DRF picks the same for them).
_ANY_ACCEPT = frozenset({"", "*/*"})


class ShortcutContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        if renderers and format_suffix is None:
            first = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", "")
            if (accept in _ANY_ACCEPT or accept == first.media_type) and (
                self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            ):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
