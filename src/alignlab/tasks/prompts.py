"""The user's own prompts, for the online methods (PPO, GRPO, RLOO, ...), which need prompts and a
reward but no preference pairs.

``task.dataset`` names one local file:

* JSONL (``.jsonl``): one JSON object per line with a ``prompt`` string (other fields are ignored;
  blank lines are allowed);
* text (``.txt``): one prompt per line, blank lines ignored (a prompt keeps its spaces; JSONL is
  the format for prompts of several lines);
* parquet (``.parquet``): a ``prompt`` column of strings.

The prompts are split as the hub tasks split theirs: duplicates dropped, shuffled once with
``task.split_seed``, the first ``num_test_prompts`` held out for evaluation and the next
``num_train_prompts`` used for training. With ``task.chat_template`` auto (for a tokenizer that has
a chat template) or always, each prompt is rendered as one user turn through the policy's chat
template, ready for generation; never keeps the raw text.

The task has no gold reward of its own: ``task.reward`` names one (``module:function``, ``vader``,
...), as for the user's preference file.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from alignlab.config import TaskConfig
from alignlab.errors import ConfigError, DataError
from alignlab.log import logger
from alignlab.tasks.hub import log_skipped, require_chat_template, split_prompts
from alignlab.tasks.task import PromptSplit, Task

PROMPT_FORMATS = (".jsonl", ".txt", ".parquet")
PROMPT_FIELD = "prompt"
SKIP_DUPLICATE = "duplicate prompt"

# A task whose raw prompts are at least this share CJK characters (of those not blank) is Chinese.
CJK_SHARE_ZH = 0.3


# --------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------


def prompt_value(value: object, where: str) -> str:
    """``value`` as a prompt: a string that is not blank, else a DataError naming ``where``."""
    if value is None:
        raise DataError(f"{where}: field '{PROMPT_FIELD}' is missing (null)")
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{PROMPT_FIELD}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field '{PROMPT_FIELD}' is empty")
    return value


def _read_jsonl(path: Path) -> list[str]:
    prompts = []
    with path.open(encoding="utf-8-sig") as fh:  # a BOM (Windows editors) is not text
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{where}: expected a JSON object with a '{PROMPT_FIELD}' string, got {type(record).__name__}"
                )
            if PROMPT_FIELD not in record:
                raise DataError(f"{where}: missing field '{PROMPT_FIELD}'")
            prompts.append(prompt_value(record[PROMPT_FIELD], where))
    return prompts


def _read_text(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig") as fh:  # a BOM (Windows editors) is not text
        return [line.rstrip("\r\n") for line in fh if line.strip()]


def _read_parquet(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        if PROMPT_FIELD not in schema.names:
            columns = ", ".join(schema.names) or "none"
            raise DataError(f"{path}: no '{PROMPT_FIELD}' column (columns: {columns})")
        values = pq.read_table(path, columns=[PROMPT_FIELD]).column(PROMPT_FIELD).to_pylist()
    except DataError:
        raise
    except Exception as err:  # pyarrow raises several types for one malformed file
        raise DataError(f"{path}: cannot read parquet: {err}") from None
    return [prompt_value(value, f"{path} row {number}") for number, value in enumerate(values, start=1)]


READERS = {".jsonl": _read_jsonl, ".txt": _read_text, ".parquet": _read_parquet}


def read_prompts(path: str | Path) -> list[str]:
    """The prompts of a JSONL, text or parquet file, in file order (duplicates kept); every
    problem is a DataError naming the file, and the line or row where there is one."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataError(
            f"{path}: unsupported file type for task 'prompts'; expected one of {', '.join(PROMPT_FORMATS)}"
        )
    if not path.is_file():
        raise DataError(f"{path}: prompts file not found" if not path.exists() else f"{path}: not a file")
    try:
        prompts = READERS[suffix](path)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not prompts:
        raise DataError(f"{path}: no prompts (the file is empty)")
    return prompts


# --------------------------------------------------------------------------------------------
# Chat template and language
# --------------------------------------------------------------------------------------------


def uses_chat_template(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None, task: str = "prompts") -> bool:
    """Whether prompts go through the chat template: always; never; auto when the tokenizer has one.
    ``always`` without a usable template is a ConfigError."""
    if config.chat_template == "never":
        return False
    if config.chat_template == "auto" and (tokenizer is None or tokenizer.chat_template is None):
        return False
    require_chat_template(tokenizer, task)
    return True


def render_prompts(
    prompts: list[str], config: TaskConfig, tokenizer: PreTrainedTokenizerBase, source: str
) -> list[str]:
    """Each prompt as a single user turn, rendered by the chat template for generation."""
    from jinja2 import TemplateError  # present: require_chat_template checked

    rendered = []
    for prompt in prompts:
        try:
            rendered.append(
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}],
                    tokenize=False,
                    add_generation_prompt=True,
                    **config.chat_template_kwargs,
                )
            )
        except TemplateError as err:
            raise DataError(f"{source}: the tokenizer's chat template rejects prompt {prompt[:60]!r}: {err}") from None
    return rendered


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FA1F
    )


def prompt_language(prompts: list[str]) -> str:
    """'zh' for prompts mostly in Chinese characters, else 'en' (the languages alignlab reports in)."""
    chars = [char for prompt in prompts for char in prompt if not char.isspace()]
    cjk = sum(_is_cjk(char) for char in chars)
    return "zh" if chars and cjk >= CJK_SHARE_ZH * len(chars) else "en"


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


def prompts_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """The user's prompts, split into training and held-out prompts with ``split_seed``. No gold
    reward unless ``task.reward`` names one; no preference pairs (the offline methods sample
    them from the base policy, as for the default task)."""
    if config.dataset is None:
        raise ConfigError("task.dataset: task 'prompts' needs the path of a prompts file (JSONL, text or parquet)")
    source = str(Path(config.dataset).expanduser())
    prompts = read_prompts(source)
    if config.max_examples:
        prompts = prompts[: config.max_examples]
    distinct = list(dict.fromkeys(prompts))
    log_skipped(source, Counter({SKIP_DUPLICATE: len(prompts) - len(distinct)}), len(prompts))
    random.Random(config.split_seed).shuffle(distinct)
    split = split_prompts(distinct, config, source)
    language = prompt_language(split.train + split.test)
    if uses_chat_template(config, tokenizer):
        assert tokenizer is not None  # uses_chat_template checked
        split = PromptSplit(*(render_prompts(part, config, tokenizer, source) for part in split))
    logger.info(
        "prompts: %d training, %d validation and %d test prompts (from %s)",
        len(split.train),
        len(split.validation),
        len(split.test),
        source,
    )
    return Task(
        name="prompts",
        train_prompts=split.train,
        test_prompts=split.test,
        validation_prompts=split.validation,
        reward=None,
        language=language,
    )
