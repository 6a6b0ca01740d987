from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from mall.errors import (
    BirthdayLocked,
    PhoneCodeInvalid,
    ProfileInvalid,
    WechatLoginFailed,
    WechatUnavailable,
)
from mall.openapi import errors
from members import services
from members.profile import member_profile_update

from .serializers import (
    LoginInputSerializer,
    LoginOutputSerializer,
    MemberOutputSerializer,
    MeUpdateInputSerializer,
    PhoneBindInputSerializer,
    PhoneBindOutputSerializer,
)
from .serializers_points import MeOutputSerializer
from .views_points import me_data


class AuthLoginApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["auth"],
        summary="WeChat login",
        request=LoginInputSerializer,
        responses={
            200: LoginOutputSerializer,
            **errors("invalid", WechatLoginFailed, WechatUnavailable),
        },
    )
    def post(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member, token = services.member_login(
            code=data.validated_data["code"], inviter=data.validated_data.get("inviter", "")
        )
        return Response({"token": token, "member": MemberOutputSerializer(member).data})


class AuthPhoneApi(APIView):
    @extend_schema(
        tags=["auth"],
        summary="Bind the phone number",
        request=PhoneBindInputSerializer,
        responses={
            200: PhoneBindOutputSerializer,
            **errors("invalid", "not_authenticated", PhoneCodeInvalid, WechatUnavailable),
        },
    )
    def post(self, request: Request) -> Response:
        data = PhoneBindInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        phone = services.member_phone_bind(member=request.user, code=data.validated_data["code"])
        return Response({"phone": phone})


class MeApi(APIView):
    @extend_schema(
        tags=["members"],
        summary="The member",
        responses={200: MeOutputSerializer, **errors("not_authenticated")},
    )
    def get(self, request: Request) -> Response:
        return Response(me_data(request.user))

    @extend_schema(
        tags=["members"],
        summary="Update my profile (nickname, avatar, birthday once)",
        request=MeUpdateInputSerializer,
        responses={
            200: MeOutputSerializer,
            **errors("invalid", "not_authenticated", BirthdayLocked, ProfileInvalid),
        },
    )
    def patch(self, request: Request) -> Response:
        data = MeUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = member_profile_update(member_id=request.user.pk, **data.validated_data)
        return Response(me_data(member))
