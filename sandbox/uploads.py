"""Project uploads (GitLab's lib/api/markdown_uploads.rb, `POST /projects/:id/uploads`): a file sent as
multipart form data, kept under a random secret, answered with the Markdown that embeds it."""

from __future__ import annotations

import os
import secrets
from typing import Any

from .errors import bad_request
from .store import GUEST


def upload(store, project: dict[str, Any], user: dict[str, Any], file) -> dict[str, Any]:
    if file is None:
        raise bad_request("file is missing")
    store.require(store.level(project["id"], user) >= GUEST)
    name = os.path.basename(file.filename or "file")
    secret = secrets.token_hex(16)
    url = f"/uploads/{secret}/{name}"
    uploads = store.uploads
    uid = len(uploads) + 1
    uploads.append({"id": uid, "project_id": project["id"], "url": url, "content": file.read(),
                    "uploaded_by": user["id"], "created_at": store.clock()})
    alt = os.path.splitext(name)[0]
    return {"id": uid, "alt": alt, "url": url, "full_path": f"/{project['path_with_namespace']}{url}",
            "markdown": f"![{alt}]({url})"}
