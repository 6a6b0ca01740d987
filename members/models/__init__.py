"""The members app's models, one module per area; everything is importable from here."""

from .levels import GrowthLog, LevelChangeLog, MemberLevel
from .member import Member, MemberToken, SubscribeMessage
from .points import PointsLedger, PointsLot, PointsSpendPart
from .referral import InviteCode, Referral
from .signin import SignIn, SignInRule
from .tags import MemberTag, Tag
from .task_cards import TaskCard, TaskCompletion

__all__ = ["Member", "MemberToken", "SubscribeMessage"]
__all__ += ["InviteCode", "MemberTag", "Referral", "Tag"]
__all__ += ["GrowthLog", "LevelChangeLog", "MemberLevel", "PointsLedger", "PointsLot"]
__all__ += ["PointsSpendPart", "SignIn", "SignInRule", "TaskCard", "TaskCompletion"]
