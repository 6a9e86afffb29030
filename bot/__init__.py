"""incident-bot: runs the Support Incident Response Framework inside GitLab issues."""

__version__ = "0.1.0"
