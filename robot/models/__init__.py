"""The robot app's models, one module per part (the robot's switch and reception settings first; the knowledge
base, FAQ, self-service and follow-up each in their own module), all imported here for Django."""

from robot.models.knowledge import KnowledgeEntry, Scenario
from robot.models.reception import (
    DiversionRule,
    RobotSession,
    RobotTurn,
    TurnOutcome,
    UnansweredGroup,
    UnansweredQuestion,
)
from robot.models.recommend import RecommendationRun, RecommendedReply
from robot.models.switch import RobotSettings

__all__ = [
    "DiversionRule",
    "KnowledgeEntry",
    "RecommendationRun",
    "RecommendedReply",
    "RobotSession",
    "RobotSettings",
    "RobotTurn",
    "Scenario",
    "TurnOutcome",
    "UnansweredGroup",
    "UnansweredQuestion",
]

from robot.models.selfservice import *  # noqa: F403  (self-service, issue 16)
