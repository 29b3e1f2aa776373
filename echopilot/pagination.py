from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` (at most 200). The view renders ``paginate()`` with its page serializer."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate(self, queryset, request, view=None) -> dict:
        """The requested page of ``queryset``: its rows (``results``), ``count`` and the ``next`` and ``previous`` links."""
        results = self.paginate_queryset(queryset, request, view=view)
        return {
            "count": self.page.paginator.count,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": results,
        }
