"""The one exception type for mistakes a user can fix (bad config, missing or corrupt data)."""


class UserError(Exception):
    """A problem with the user's input; its message names the culprit and the fix, in one line."""
