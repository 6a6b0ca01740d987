from rest_framework import serializers

from members.models import Member


class LoginInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=128, help_text="wx.login() code")
    inviter = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="invite code"
    )


class PhoneBindInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=128, help_text="getPhoneNumber button code")


class PhoneBindOutputSerializer(serializers.Serializer):
    phone = serializers.CharField()


class MemberLevelBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    discount_bp = serializers.IntegerField(help_text="basis points paid on goods: 9500 = 95折")


class MemberOutputSerializer(serializers.ModelSerializer):
    level = MemberLevelBriefSerializer(allow_null=True, read_only=True)
    points = serializers.IntegerField(source="points_balance")

    class Meta:
        model = Member
        fields = [
            "id",
            "nickname",
            "avatar_url",
            "phone",
            "birthday",
            "level",
            "growth",
            "points",
            "balance_fen",
            "created_at",
        ]


class MeUpdateInputSerializer(serializers.Serializer):
    nickname = serializers.CharField(max_length=64, required=False)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    birthday = serializers.DateField(required=False, help_text="set once (生日设置后不可修改)")


class LoginOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    member = MemberOutputSerializer()
