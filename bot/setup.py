"""`incident-bot check` (read-only) and `incident-bot setup`: what the bot needs from a GitLab project,
checked, and made so where the bot may. One line per problem, each with its fix.

Needs: a token GitLab accepts; a GITLAB_URL that does not redirect (a redirected write loses its token);
the bot user at Reporter or above (Developer recommended: below it the bot cannot assign or close); every
label the bot uses (bot/label_spec.py); and, when the bot may read hooks (Maintainer), a hook at the bot's
URL sending issues, confidential issues, note and confidential note events, not disabled by GitLab.
`setup` creates missing labels (never changes one that exists), creates or fixes the hook with the secret
from INCIDENT_BOT_WEBHOOK_SECRET, and re-enables a disabled one with GitLab's test event (a 2xx answer
from the running bot re-enables it). A second run writes nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .config import Config, ConfigError, load_config
from .gitlab import GitLab, GitLabRefused, RetryableGitLabError
from .hooks import EVENTS, HookStatus, judge
from .label_spec import LabelSpec, bot_labels

REPORTER, DEVELOPER = 20, 30
EVENT_NAMES = {"issues_events": "Issues events", "confidential_issues_events": "Confidential issues events",
               "note_events": "Comments", "confidential_note_events": "Confidential comments"}


@dataclass
class Findings:
    project: str
    project_id: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_labels: list[LabelSpec] = field(default_factory=list)
    hook: HookStatus | None = None
    hooks_readable: bool = False
    hook_settings: dict | None = None


def inspect(gl: GitLab, cfg: Config, project: str, url: str | None) -> Findings:
    """Everything `check` reports, read-only. Raises RetryableGitLabError when GitLab cannot be reached."""
    f = Findings(project)
    try:
        me = gl.current_user()
    except GitLabRefused as exc:
        f.problems.append(f"GitLab refuses the token ({exc.status}): create a personal access token with the "
                          "`api` scope for the bot user and set GITLAB_TOKEN")
        return f
    target = gl.redirect_target()
    if target:
        f.problems.append(f"GITLAB_URL {cfg.gitlab_url} redirects to {target}: set GITLAB_URL to the address "
                          "it redirects to")
    try:
        f.project_id = gl.project(project)["id"]
    except GitLabRefused:
        f.problems.append(f"project {project} not found: check the path, and add @{me['username']} to it")
        return f
    level = gl.access_level(f.project_id, me["id"])
    if level is None or level < REPORTER:
        f.problems.append(f"@{me['username']} has {'no' if level is None else 'Guest'} access to {project}: "
                          "add it as a member with the Developer role (Reporter at least)")
    elif level < DEVELOPER:
        f.notes.append(f"@{me['username']} is a Reporter: Developer is recommended")
    have = set(gl.label_names(f.project_id))
    f.missing_labels = [spec for spec in bot_labels(cfg) if spec.name not in have]
    for spec in f.missing_labels:
        f.problems.append(f"label `{spec.name}` is missing: run `incident-bot setup --project {project}`")
    try:
        f.hook = judge(project, gl.project_hooks(f.project_id), url)
        f.hooks_readable = True
    except GitLabRefused as exc:
        if exc.status not in (403, 404):
            raise
        f.notes.append("hooks not checked: reading them needs Maintainer; /healthz reports the time since "
                       "the last webhook instead")
        return f
    fix = f"run `incident-bot setup --project {project} --webhook-url {url or 'URL'}`"
    if not f.hook.found:
        f.problems.append(f"no project hook {'points at ' + url if url else 'sends the bot its events'}: {fix}")
    else:
        for event in f.hook.missing_events:
            f.problems.append(f"the hook {f.hook.url} does not send {EVENT_NAMES[event]}: {fix}")
        if f.hook.disabled:
            f.problems.append(f"GitLab disabled the hook {f.hook.url} ({f.hook.alert_status}"
                              f"{', until ' + f.hook.disabled_until if f.hook.disabled_until else ''}): "
                              f"events are dropped meanwhile; {fix}")
    return f


def maintainer_steps(project: str, url: str) -> list[str]:
    events = ", ".join(EVENT_NAMES[e] for e in EVENTS)
    return [f"A Maintainer of {project} must, in Settings > Webhooks:",
            f"  add (or edit) a webhook with URL {url},",
            "  Secret token: the value of INCIDENT_BOT_WEBHOOK_SECRET,",
            f"  Trigger: {events} (and nothing else is needed),",
            "  and, if it shows as disabled, select Test > Issues events once the bot runs, to re-enable it.",
            "Or give the bot user the Maintainer role and run `incident-bot setup` again."]


def apply_setup(gl: GitLab, cfg: Config, project: str, url: str | None, *, dry_run: bool) -> tuple[list[str], int]:
    """What setup did (or would do), and its exit code."""
    f = inspect(gl, cfg, project, url)
    if f.project_id is None or any(p.startswith(("GitLab refuses", "GITLAB_URL")) for p in f.problems):
        return f.problems, 1
    done: list[str] = []
    code = 0
    verb = "would create" if dry_run else "created"
    for spec in f.missing_labels:
        if not dry_run:
            try:
                gl.create_label(f.project_id, spec.name, spec.color, spec.description)
            except GitLabRefused as exc:
                done.append(f"cannot create label `{spec.name}` ({exc.status}): give the bot user Reporter or above")
                code = 1
                continue
        done.append(f"{verb} label `{spec.name}` ({spec.color})")
    if url is None:
        if not f.hooks_readable or not f.hook or not f.hook.found:
            done.append("hook not set up: pass --webhook-url URL (the address GitLab reaches the bot at)")
        return done, code
    if not f.hooks_readable:
        return done + maintainer_steps(project, url), 1
    settings = {e: True for e in EVENTS}
    hook = f.hook
    if not hook.found:
        if not cfg.webhook_secret:
            return done + ["INCIDENT_BOT_WEBHOOK_SECRET is not set: set it, then run setup again"], 1
        if not dry_run:
            gl.save_hook(f.project_id, None, {"url": url, "token": cfg.webhook_secret, "push_events": False,
                                              "enable_ssl_verification": True, **settings})
        done.append(f"{'would create' if dry_run else 'created'} the hook {url}")
        return done, code
    if hook.missing_events:
        if not dry_run:
            gl.save_hook(f.project_id, hook.hook_id, {e: True for e in hook.missing_events})
        done.append(f"{'would turn on' if dry_run else 'turned on'} "
                    + ", ".join(EVENT_NAMES[e] for e in hook.missing_events) + f" on the hook {url}")
    if hook.disabled:
        if dry_run:
            done.append(f"would re-enable the hook {url} (GitLab's test event to the running bot)")
        else:
            try:
                gl.test_hook(f.project_id, hook.hook_id, "issues_events")
                done.append(f"re-enabled the hook {url}")
            except GitLabRefused as exc:
                done.append(f"could not re-enable the hook {url} ({exc}): start the bot at that URL, then run "
                            "setup again")
                code = 1
    return done, code


def _load(args) -> tuple[Config | None, int]:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"incident-bot {args.command}: invalid configuration: {exc}", file=sys.stderr)
        return None, 2
    if not cfg.gitlab_token:
        print(f"incident-bot {args.command}: GITLAB_TOKEN is not set (the bot user's token with the api scope)",
              file=sys.stderr)
        return None, 2
    return cfg, 0


def _each(args, work) -> int:
    cfg, code = _load(args)
    if cfg is None:
        return code
    projects = args.project or cfg.projects
    if not projects:
        print(f"incident-bot {args.command}: no projects: pass --project or set `projects` in the config",
              file=sys.stderr)
        return 2
    gl = GitLab(cfg.gitlab_url, cfg.gitlab_token)
    worst = 0
    for project in projects:
        try:
            worst = max(worst, work(gl, cfg, str(project)))
        except RetryableGitLabError as exc:
            print(f"{project}: GitLab at {cfg.gitlab_url} cannot be reached: {exc}", file=sys.stderr)
            worst = max(worst, 1)
    return worst


def run_check(args) -> int:
    def check(gl: GitLab, cfg: Config, project: str) -> int:
        f = inspect(gl, cfg, project, args.webhook_url or cfg.data["sync"]["webhook_url"])
        for line in f.problems:
            print(f"{project}: {line}")
        for line in f.notes:
            print(f"{project}: note: {line}")
        if not f.problems:
            print(f"{project}: ok")
        return 1 if f.problems else 0
    return _each(args, check)


def run_setup(args) -> int:
    def setup(gl: GitLab, cfg: Config, project: str) -> int:
        lines, code = apply_setup(gl, cfg, project, args.webhook_url or cfg.data["sync"]["webhook_url"],
                                  dry_run=args.dry_run)
        for line in lines or ["nothing to do: labels and hook are as the bot needs them"]:
            print(f"{project}: {line}")
        return code
    return _each(args, setup)
