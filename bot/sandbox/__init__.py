"""A stateful stand-in for the GitLab REST v4 API and its webhooks, served over real HTTP."""

from .server import Sandbox
from .store import DEVELOPER, GUEST, MAINTAINER, OWNER, REPORTER

__all__ = ["Sandbox", "GUEST", "REPORTER", "DEVELOPER", "MAINTAINER", "OWNER"]
