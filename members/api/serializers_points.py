"""Serializers of levels, points, sign-in and task cards (unique names for the OpenAPI schema)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .serializers import MemberOutputSerializer


class MemberNextLevelSerializer(serializers.Serializer):
    name = serializers.CharField()
    growth_threshold = serializers.IntegerField()


class MeOutputSerializer(MemberOutputSerializer):
    """The member with their level progress (context: `progress`, a LevelProgress)."""

    next_level = serializers.SerializerMethodField()
    growth_gap = serializers.SerializerMethodField()
    points_pending = serializers.SerializerMethodField(
        help_text="points of paid orders still in their after-sales window (not spendable yet)"
    )

    class Meta(MemberOutputSerializer.Meta):
        fields = [*MemberOutputSerializer.Meta.fields, "next_level", "growth_gap", "points_pending"]

    @extend_schema_field(MemberNextLevelSerializer(allow_null=True))
    def get_next_level(self, member: object) -> dict | None:
        level = self.context["progress"].next_level
        return None if level is None else MemberNextLevelSerializer(level).data

    def get_growth_gap(self, member: object) -> int:
        return self.context["progress"].growth_gap

    def get_points_pending(self, member: object) -> int:
        return self.context["points_pending"]


class SignInInputSerializer(serializers.Serializer):
    date = serializers.DateField(
        required=False, help_text="a missed day to make up (补签), when the shop allows it"
    )


class SignInOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    streak = serializers.IntegerField()
    points = serializers.IntegerField()
    is_makeup = serializers.BooleanField()
    points_balance = serializers.IntegerField()


class SignInCalendarQuerySerializer(serializers.Serializer):
    month = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", required=False, help_text="YYYY-MM")


class SignInCalendarOutputSerializer(serializers.Serializer):
    month = serializers.CharField()
    days = serializers.ListField(child=serializers.DateField())
    streak = serializers.IntegerField(help_text="consecutive days up to today (or yesterday)")
    signed_today = serializers.BooleanField()
    today_points = serializers.IntegerField(help_text="today's reward: got, or to get")
    makeup_enabled = serializers.BooleanField()


class TaskCardOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    points = serializers.IntegerField()
    done = serializers.BooleanField()
    done_at = serializers.DateTimeField(allow_null=True)


class TaskCardListOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = TaskCardOutputSerializer(many=True)


class PointsLedgerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_display = serializers.CharField(source="get_kind_display")
    points = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class PointsLedgerListOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = PointsLedgerOutputSerializer(many=True)
