"""The shopper's social side: the invite code (转介绍) and its mini-program code image."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall import wechat
from mall.errors import WechatUnavailable
from mall.openapi import errors

from ..models import Referral
from ..referral import invite_get_or_create


class InviteOutputSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="my invite code: the invitee's login sends it as inviter"
    )
    scene = serializers.CharField(help_text="the mini-program code's scene (also accepted)")
    page = serializers.CharField(help_text="the page the mini-program code opens")
    invited_count = serializers.IntegerField()
    rewarded_count = serializers.IntegerField()


class MeInviteApi(APIView):
    @extend_schema(
        tags=["members"],
        summary="My invite code",
        responses={200: InviteOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        invite = invite_get_or_create(member=request.user)
        counts = Referral.objects.filter(inviter=request.user).values_list("status", flat=True)
        statuses = list(counts)
        return Response(
            InviteOutputSerializer(
                {
                    "code": invite.code,
                    "scene": invite.scene,
                    "page": invite.page,
                    "invited_count": len(statuses),
                    "rewarded_count": statuses.count(Referral.Status.REWARDED),
                }
            ).data
        )


class MeInviteWxacodeApi(APIView):
    @extend_schema(
        tags=["members"],
        summary="My invite as a mini-program code image (PNG)",
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
            **errors("not_authenticated", WechatUnavailable),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        invite = invite_get_or_create(member=request.user)
        image = wechat.wxa_code_unlimited(scene=invite.scene, page=invite.page)
        response = HttpResponse(image, content_type="image/png")
        response["Cache-Control"] = "private, max-age=86400"
        return response
