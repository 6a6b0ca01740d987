"""The in-stack baseline of the benchmarks: a bare DRF view doing exactly one query.

Mounted at /_bench/bare only when settings.BENCH_ENDPOINTS is true (bench/common.py sets it);
every bench/*.py web figure is a ratio to this view served the same way in the same run, beside
its ratio to the truly bare application outside our stack (bench/bare_app.py). The two differ by
what our settings, middleware and authentication cost a one-query view.
"""

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from members.selectors import member_exists


class BareApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    schema = None  # not part of the API

    def get(self, request: Request) -> Response:
        return Response({"ok": True, "member_exists": member_exists(member_id=1)})
