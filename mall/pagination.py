"""The API's one page-number pagination: {"count", "next", "previous", "results"}, `?page=` and
`?page_size=` (at most 50). Each list picks its default page size where it builds its paginator.
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 50


class PagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def __init__(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.page_size = page_size
