"""Texts as a user has them (`--text` strings, text files: one text per file, UTF-8) -> rows of
token ids, through the run's tokeniser and kept vocabulary and cut or padded to its maxlen as
its training texts were."""

from collections.abc import Callable
from pathlib import Path

import torch

from fidle_runs.core.errors import UserError
from fidle_runs.data.inputs import InputRequest, Inputs

SHOWN = 48  # characters of a text that name it in the output


def read_texts(request: InputRequest, encode: Callable[[list[str]], torch.Tensor]) -> Inputs:
    texts, labels = [], []
    for i, text in enumerate(request.texts, start=1):
        texts.append(_not_empty(text, f"--text number {i}"))
        labels.append(_short(text))
    for path in map(Path, request.paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read text file {path} ({type(e).__name__}: {e}): give "
                            "UTF-8 text files, one text each, or --text \"...\"") from None
        texts.append(_not_empty(text, str(path)))
        labels.append(path.name)
    if not texts:
        raise UserError("no text given: pass --text \"a wonderful, moving film\" or text files")
    return Inputs(encode(texts), labels)


def _not_empty(text: str, what: str) -> str:
    if not text.strip():
        raise UserError(f"{what} is empty: give the text to classify")
    return text


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SHOWN else flat[: SHOWN - 3] + "..."
