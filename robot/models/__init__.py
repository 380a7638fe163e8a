"""The robot app's models, one module per part (the robot's switch and reception settings first; the knowledge
base, FAQ, self-service and follow-up each in their own module), all imported here for Django."""

from robot.models.switch import RobotSettings

__all__ = ["RobotSettings"]

from robot.models.selfservice import *  # noqa: F403  (self-service, issue 16)
