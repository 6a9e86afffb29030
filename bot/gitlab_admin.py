"""GitLab project administration for `check`, `setup`, sync and the report: uploads, the project, labels,
hooks. A part of the GitLab adapter (mixed into bot/gitlab.py's GitLab, whose client and error
translation it uses); no other module talks to GitLab."""

from __future__ import annotations

import gitlab

from .gitlab_errors import MalformedResponse
from .gitlab_http import NO_WAIT


class ProjectAdmin:
    """Needs `self.gl` (a python-gitlab client), `self.timeout` and `self._translate()`: see GitLab."""

    def upload(self, project: str | int, filename: str, content: bytes) -> dict:
        """GitLab's project uploads API (POST /projects/:id/uploads): {"url", "full_path", "markdown", ...};
        `markdown` embeds the file in an issue of that project."""
        with self._translate():
            data = self.gl.http_post(f"/projects/{gitlab.utils.EncodedId(project)}/uploads",
                                     files={"file": (filename, content)}, **NO_WAIT)
        if not isinstance(data, dict) or not isinstance(data.get("markdown"), str):
            raise MalformedResponse("GitLab answered an upload without its markdown")
        return data

    # -- project administration: labels and hooks (`check`, `setup`, hook health) -----------------------
    def project(self, project: str | int) -> dict:
        """{"id", "path_with_namespace"} of a project given by id or path."""
        with self._translate():
            data = self.gl.http_get(f"/projects/{gitlab.utils.EncodedId(project)}", **NO_WAIT)
        return {"id": data["id"], "path_with_namespace": data.get("path_with_namespace")}

    def redirect_target(self) -> str | None:
        """Where GitLab's API answers from when GITLAB_URL redirects (http -> https, an old host), else None:
        python-gitlab would drop the token on a redirected write."""
        with self._translate():
            resp = self.gl.session.get(f"{self.gl.api_url}/version", headers=self.gl.headers,
                                       allow_redirects=False, timeout=self.timeout)
        return resp.headers.get("Location", "?") if 300 <= resp.status_code < 400 else None

    def label_names(self, project_id: int | str) -> list[str]:
        with self._translate():
            data = self.gl.http_list(f"/projects/{gitlab.utils.EncodedId(project_id)}/labels", query_data={"per_page": 100},
                                     get_all=True, **NO_WAIT)
        return [label["name"] for label in data]

    def create_label(self, project_id: int | str, name: str, color: str, description: str) -> None:
        with self._translate():
            self.gl.http_post(f"/projects/{gitlab.utils.EncodedId(project_id)}/labels",
                              post_data={"name": name, "color": color, "description": description}, **NO_WAIT)

    def project_hooks(self, project_id: int | str) -> list[dict]:
        """The project's hooks as GitLab shows them (needs Maintainer: GitLabRefused 403 below)."""
        with self._translate():
            return list(self.gl.http_list(f"/projects/{gitlab.utils.EncodedId(project_id)}/hooks", query_data={"per_page": 100},
                                          get_all=True, **NO_WAIT))

    def save_hook(self, project_id: int | str, hook_id: int | None, settings: dict) -> dict:
        """Create the hook (hook_id None) or edit it."""
        with self._translate():
            if hook_id is None:
                return self.gl.http_post(f"/projects/{gitlab.utils.EncodedId(project_id)}/hooks", post_data=settings, **NO_WAIT)
            return self.gl.http_put(f"/projects/{gitlab.utils.EncodedId(project_id)}/hooks/{hook_id}", post_data=settings, **NO_WAIT)

    def test_hook(self, project_id: int | str, hook_id: int, trigger: str) -> None:
        """Send GitLab's test event: a 2xx answer from the bot re-enables a disabled hook."""
        with self._translate():
            self.gl.http_post(f"/projects/{gitlab.utils.EncodedId(project_id)}/hooks/{hook_id}/test/{trigger}", **NO_WAIT)
