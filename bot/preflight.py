"""What `serve`, `worker` and `cadence` check before they start. A setup that cannot work is refused in
one line, instead of failing every delivery later (a redirecting GITLAB_URL reads fine and loses every
write; a template that cannot render was retried as if GitLab were down, and no reply ever appeared)."""

from __future__ import annotations

import logging
import re

from .config import Config
from .gitlab import GitLab, GitLabRefused, RetryableGitLabError
from .render import Renderer
from .template_check import template_problems

log = logging.getLogger("incident_bot")

_API = re.compile(r"/api/v4/?$")


def url_problem(url: str | None) -> str | None:
    if not url:
        return "GITLAB_URL is not set: give GitLab's address, e.g. https://gitlab.example.com"
    if not url.startswith(("http://", "https://")):
        return f"GITLAB_URL {url} has no scheme: give it as https://{url}"
    if _API.search(url):
        return f"GITLAB_URL {url} ends in /api/v4: give GitLab's address without it ({_API.sub('', url)})"
    return None


def gitlab_problem(url: str, token: str | None) -> str | None:
    """GET /user as the bot: a refused token or a redirect is a refusal. GitLab not answering is not:
    the queue retries until it does (and `cadence` reports it)."""
    gitlab = GitLab(url, token)
    try:
        me = gitlab.current_user()
    except GitLabRefused as exc:
        return (f"GitLab at {url} refused the token at GET /user ({exc}): set GITLAB_TOKEN to a valid token "
                "of the bot user, with the api scope")
    except RetryableGitLabError as exc:
        log.warning("GitLab at %s did not answer GET /user at start: %s", url, exc)
        return None
    if me.get("moved_to"):
        base = re.sub(r"/api/v4/user$", "", me["moved_to"].split("?")[0])
        return (f"GITLAB_URL {url} redirects to {base}: reads would work but every write would fail; "
                f"set GITLAB_URL={base}")
    scopes = gitlab.token_scopes()
    if scopes is not None and "api" not in scopes:  # read_api reads GET /user fine, and every write fails
        return (f"the token's scopes are {', '.join(scopes) or 'none'}: the bot writes notes and issues and "
                "needs the api scope")
    return None


def start_problem(cfg: Config) -> str | None:
    """The first reason this setup cannot run, or None."""
    problem = url_problem(cfg.gitlab_url)
    if problem:
        return problem
    if not cfg.gitlab_token:
        return "GITLAB_TOKEN is not set (the bot user's token with the api scope)"
    problems = template_problems(Renderer(cfg.templates_dir))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"template {problems[0]}{more}"
    return gitlab_problem(cfg.gitlab_url, cfg.gitlab_token)
