"""How the report writes counts and long names in its sentences, tables and figures."""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 run`, `2 runs`, `0 cells`; `nouns` where the plural is not noun + s (classes)."""
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


def shorten(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut at a word where one is near and marked `…`:
    `Right-of-way at the…`."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space >= width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def class_label(class_id: int, name: str, width: int | None = None) -> str:
    """`14 Stop`, or just `7` where the class's name is its id (MNIST's digits)."""
    name = shorten(name, width) if width else name
    return name if name == str(class_id) else f"{class_id} {name}"
