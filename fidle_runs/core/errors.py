"""The one exception type for mistakes a user can fix (bad config, missing or corrupt data)."""


class UserError(Exception):
    """A problem with the user's input; its message names the culprit and the fix, in one line."""


def one_line(e: BaseException) -> str:
    """`Type: first line of the message`, what a result.json or a sweep summary shows."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
