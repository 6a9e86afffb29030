"""`incident-bot report`: the framework's measures over a period, read back from what the bot recorded.

collect (GitLab reads) -> figures (one incident) -> summary (the period) -> tabular / document / charts
(the formats) -> post (the report issue). See run.py for the command.
"""
