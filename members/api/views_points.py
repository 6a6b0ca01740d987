"""Shopper APIs of levels, points, sign-in (签到) and task cards (任务卡)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import AlreadySignedIn, SignInMakeupUnavailable
from mall.openapi import errors
from mall.pagination import PagePagination
from members.levels import member_level_progress
from members.models import Member
from members.points import points_ledger_for_member, points_pending_for_member
from members.signin import signin_calendar, signin_do
from members.task_cards import task_list_for_member

from .serializers_points import (
    MeOutputSerializer,
    PointsLedgerListOutputSerializer,
    PointsLedgerOutputSerializer,
    SignInCalendarOutputSerializer,
    SignInCalendarQuerySerializer,
    SignInInputSerializer,
    SignInOutputSerializer,
    TaskCardListOutputSerializer,
    TaskCardOutputSerializer,
)


def me_data(member: Member) -> dict:
    """The /me answer: the member, their level, the next level and the gap, pending points."""
    return MeOutputSerializer(
        member,
        context={
            "progress": member_level_progress(member=member),
            "points_pending": points_pending_for_member(member_id=member.pk),
        },
    ).data


class SignInApi(APIView):
    @extend_schema(
        tags=["points"],
        summary="Sign in for today (签到), or make up a missed day (补签) when allowed",
        request=SignInInputSerializer,
        responses={
            200: SignInOutputSerializer,
            **errors("invalid", "not_authenticated", AlreadySignedIn, SignInMakeupUnavailable),
        },
    )
    def post(self, request: Request) -> Response:
        data = SignInInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sign_in = signin_do(member_id=request.user.pk, makeup_date=data.validated_data.get("date"))
        balance = Member.objects.values_list("points_balance", flat=True).get(pk=request.user.pk)
        return Response(
            SignInOutputSerializer(
                {
                    "date": sign_in.date,
                    "streak": sign_in.streak,
                    "points": sign_in.points,
                    "is_makeup": sign_in.is_makeup,
                    "points_balance": balance,
                }
            ).data
        )


class SignInCalendarApi(APIView):
    @extend_schema(
        tags=["points"],
        summary="Sign-in calendar of a month: days signed, streak, today's reward",
        parameters=[OpenApiParameter("month", str, description="YYYY-MM, default this month")],
        responses={200: SignInCalendarOutputSerializer, **errors("invalid", "not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        query = SignInCalendarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        month = query.validated_data.get("month") or timezone.localdate().strftime("%Y-%m")
        year, month_no = (int(part) for part in month.split("-"))
        result = signin_calendar(member_id=request.user.pk, year=year, month=month_no)
        return Response(SignInCalendarOutputSerializer(result).data)


class TaskCardListApi(APIView):
    @extend_schema(
        tags=["points"],
        summary="My task cards (任务卡), done or not",
        responses={200: TaskCardListOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        # A short list the merchant defines (five kinds): one page holds them all.
        results = TaskCardOutputSerializer(
            task_list_for_member(member_id=request.user.pk), many=True
        ).data
        return Response({"count": len(results), "next": None, "previous": None, "results": results})


class PointsLedgerListApi(APIView):
    @extend_schema(
        tags=["points"],
        summary="My points ledger (积分明细), newest first",
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: PointsLedgerListOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        paginator = PagePagination()
        page = paginator.paginate_queryset(
            points_ledger_for_member(member_id=request.user.pk), request, view=self
        )
        return paginator.get_paginated_response(PointsLedgerOutputSerializer(page, many=True).data)
