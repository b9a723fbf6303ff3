"""How a text becomes words, the same way for training texts and for texts given later (a
prediction): lower case, aclImdb's `<br />` line breaks dropped, and every character that is
not a letter or a digit a separator, except an apostrophe inside a word (`don't`, `everyone's`
stay one word, as Keras' IMDB word index has them; quotes written `''Conan''` lose theirs).

A change of these rules changes the ids of every text: bump TOKENIZER_VERSION, which keys the
prepared caches (fidle_runs.data.text.prepare), so they are rebuilt."""

import re

TOKENIZER_VERSION = 1
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# Letters and digits (any script; not `_`), possibly joined by single apostrophes.
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})


def tokenize(text: str) -> list[str]:
    """The words of `text`, in order."""
    return WORD.findall(LINE_BREAK.sub(" ", text.lower().translate(APOSTROPHES)))
