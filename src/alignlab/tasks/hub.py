"""Tasks built from data sets: Anthropic HH-RLHF, UltraFeedback (binarised), IMDb, and the user's
own preference file.

Each reads ``task.dataset`` (a local JSONL/parquet file or directory in the hub data set's schema,
or a hub id) or, by default, the hub data set itself. The preference tasks bring their pairs and
no gold reward; IMDb brings prompts and VADER, and alignlab samples its pairs from the base policy
as for the default task.

Prompts are split once, with ``task.split_seed``: the first ``num_test_prompts`` distinct prompts
of the shuffled data are held out for evaluation, and no training pair has one of them.
"""

from __future__ import annotations

import importlib.util
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import PreTrainedTokenizerBase

from alignlab.config import TaskConfig
from alignlab.data import TEXT_FIELDS, PreferencePair, parse_preference_record, read_preferences
from alignlab.errors import ConfigError, DataError
from alignlab.log import logger
from alignlab.tasks.rewards import VaderSentiment
from alignlab.tasks.task import PromptSplit, Task

if TYPE_CHECKING:
    from datasets import Dataset

HH_RLHF_ID = "Anthropic/hh-rlhf"
ULTRAFEEDBACK_ID = "trl-lib/ultrafeedback_binarized"
IMDB_ID = "stanfordnlp/imdb"

# File endings the local loaders read, and the `datasets` builder for each.
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".jsonl.gz": "json", ".json.gz": "json", ".parquet": "parquet"}

ASSISTANT_TAG = "\n\nAssistant:"
SKIP_EMPTY = "empty prompt or response"
SKIP_PROMPTS_DIFFER = "chosen and rejected do not share the prompt"
SKIP_NO_ASSISTANT = "no final assistant turn"
SKIP_SHORT_REVIEW = "review of fewer than three words"

# A row becomes a record in alignlab's preference format (validated like a JSONL line) or the
# reason it is skipped.
RowParser = Callable[[dict[str, Any], str], dict[str, Any] | str]


# --------------------------------------------------------------------------------------------
# Reading a data set
# --------------------------------------------------------------------------------------------


def local_format(path: Path) -> str | None:
    """The `datasets` builder ('json' or 'parquet') for a data file, by its ending; None if unknown."""
    name = path.name.lower()
    return next((builder for ending, builder in LOCAL_FORMATS.items() if name.endswith(ending)), None)


def load_rows(config: TaskConfig, hub_id: str) -> tuple[Dataset, str]:
    """The configured split of ``config.dataset`` (else of ``hub_id``), cut to ``max_examples``,
    and the source's name for messages."""
    source = config.dataset or hub_id
    rows = _load_split(source, config.split)
    if config.max_examples:
        rows = rows.select(range(min(len(rows), config.max_examples)))
    if len(rows) == 0:
        raise DataError(f"{source}: split '{config.split}' has no rows")
    return rows, source


def _load_split(source: str, split: str) -> Dataset:
    path = Path(source).expanduser()
    if path.exists():
        return _load_local(path, split)
    if local_format(path) is not None:
        raise DataError(f"{path}: file not found")
    return _load_hub(source, split)


def _load_local(path: Path, split: str) -> Dataset:
    import datasets

    if path.is_file():
        builder = local_format(path)
        if builder is None:
            raise DataError(f"{path}: unsupported file type; expected one of {', '.join(LOCAL_FORMATS)}")
        # A single file is the configured split, whatever its name.
        args, kwargs = (builder,), {"data_files": {split: str(path)}}
    else:
        # `datasets` finds the split's files in a directory by name (train.jsonl,
        # data/test-00000-of-00001.parquet, ...) and picks the builder by their ending.
        args, kwargs = (str(path),), {}
    try:
        return datasets.load_dataset(*args, split=split, **kwargs)
    except Exception as err:  # `datasets` and pyarrow raise many types for one malformed file
        raise DataError(f"{path}: cannot read split '{split}': {err}") from None


def _load_hub(hub_id: str, split: str) -> Dataset:
    import datasets

    try:
        return datasets.load_dataset(hub_id, split=split)
    except (ConnectionError, FileNotFoundError) as err:
        raise DataError(
            f"dataset '{hub_id}': not a local file or directory, and the Hugging Face hub is unreachable "
            f"(offline?) or has no cached copy of it: {err}"
        ) from None
    except Exception as err:  # an unknown split, a broken cache, ...: many types, one message
        raise DataError(f"dataset '{hub_id}': cannot read split '{split}': {err}") from None


def require_columns(rows: Dataset, source: str, names: Iterable[str], hub_id: str) -> None:
    """A DataError naming ``source`` unless its rows have the columns of ``hub_id``'s schema."""
    missing = [name for name in names if name not in rows.column_names]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (expected the schema of {hub_id})")


def text_field(row: dict[str, Any], name: str, where: str) -> str:
    """``row[name]``, which must be a string (a DataError naming ``where`` otherwise)."""
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{name}' must be a string, got {type(value).__name__}")
    return value


def messages_field(row: dict[str, Any], name: str, where: str) -> list[dict[str, str]]:
    """``row[name]``, which must be a list of chat messages (a DataError naming ``where`` otherwise)."""
    value = row[name]
    ok = isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
    )
    if not ok:
        raise DataError(f"{where}: field '{name}' must be a list of messages {{'content': str, 'role': str}}")
    return value


# --------------------------------------------------------------------------------------------
# Pairs and the train/eval split
# --------------------------------------------------------------------------------------------


def read_pairs(
    rows: Iterable[dict[str, Any]], source: str, parse: RowParser
) -> tuple[list[PreferencePair], Counter[str]]:
    """The rows' pairs, and how many rows were skipped for each reason. Rows with an empty prompt
    or response are skipped (hub data sets have a few); anything malformed is a DataError."""
    pairs: list[PreferencePair] = []
    skipped: Counter[str] = Counter()
    for number, row in enumerate(rows, start=1):
        where = f"{source} row {number}"
        record = parse(row, where)
        if isinstance(record, str):
            skipped[record] += 1
        elif any(not record[name].strip() for name in TEXT_FIELDS):
            skipped[SKIP_EMPTY] += 1
        else:
            pairs.append(parse_preference_record(record, where))
    return pairs, skipped


def log_skipped(source: str, skipped: Counter[str], total: int) -> None:
    """One warning for all the rows skipped while reading ``source``."""
    if sum(skipped.values()):
        reasons = ", ".join(f"{count} {reason}" for reason, count in skipped.most_common())
        logger.warning("%s: skipped %d of %d rows (%s)", source, sum(skipped.values()), total, reasons)


def split_prompts(prompts: Iterable[str], config: TaskConfig, source: str) -> PromptSplit:
    """Of the distinct prompts in order, the first ``num_test_prompts`` are the test prompts, the
    next ``num_train_prompts`` train and the next ``num_validation_prompts`` validate."""
    distinct = list(dict.fromkeys(prompts))
    n_test, n_train = config.num_test_prompts, config.num_train_prompts
    held_out = distinct[:n_test]
    train = distinct[n_test : n_test + n_train]
    validation = distinct[n_test + n_train : n_test + n_train + config.num_validation_prompts]
    if not train:
        raise DataError(
            f"{source}: only {len(distinct)} distinct prompts, none left for training after holding out "
            f"task.num_test_prompts={config.num_test_prompts}"
        )
    if len(validation) < config.num_validation_prompts:
        raise DataError(
            f"{source}: only {len(distinct)} distinct prompts, {len(validation)} left for "
            f"task.num_validation_prompts={config.num_validation_prompts} after the test and training prompts"
        )
    return PromptSplit(train, validation, held_out)


def preference_task(name: str, pairs: list[PreferencePair], config: TaskConfig, source: str) -> Task:
    """A task of ready-made pairs: shuffled with ``split_seed``, eval prompts held out, and the
    pairs of the training prompts kept (``num_train_prompts`` bounds how many)."""
    order = list(pairs)
    random.Random(config.split_seed).shuffle(order)
    train, validation, held_out = split_prompts((pair.prompt for pair in order), config, source)
    keep = set(train)
    train_pairs = [pair for pair in order if pair.prompt in keep]
    logger.info(
        "%s: %d training pairs over %d prompts, %d held-out prompts (from %s)",
        name,
        len(train_pairs),
        len(train),
        len(held_out),
        source,
    )
    return Task(
        name=name,
        train_prompts=train,
        test_prompts=held_out,
        validation_prompts=validation,
        reward=None,
        preference_pairs=train_pairs,
    )


def hub_preference_task(name: str, config: TaskConfig, hub_id: str, columns: tuple[str, ...], parse: RowParser) -> Task:
    """A preference task read from a data set in ``hub_id``'s schema, one pair per row."""
    rows, source = load_rows(config, hub_id)
    require_columns(rows, source, columns, hub_id)
    pairs, skipped = read_pairs(rows, source, parse)
    log_skipped(source, skipped, len(rows))
    return preference_task(name, pairs, config, source)


# --------------------------------------------------------------------------------------------
# Anthropic HH-RLHF
# --------------------------------------------------------------------------------------------


def split_transcript(chosen: str, rejected: str) -> dict[str, str] | str:
    """Prompt (the shared transcript up to and including the last "\\n\\nAssistant:") and the two
    final answers, or the reason the pair has none."""
    chosen_end, rejected_end = (text.rfind(ASSISTANT_TAG) + len(ASSISTANT_TAG) for text in (chosen, rejected))
    if min(chosen_end, rejected_end) < len(ASSISTANT_TAG):
        return SKIP_NO_ASSISTANT
    prompt = chosen[:chosen_end]
    # Some transcripts part before the final turn; their answers do not answer the same prompt.
    if rejected[:rejected_end] != prompt:
        return SKIP_PROMPTS_DIFFER
    return {"prompt": prompt, "chosen": chosen[chosen_end:].lstrip(), "rejected": rejected[rejected_end:].lstrip()}


def hh_rlhf_record(row: dict[str, Any], where: str) -> dict[str, str] | str:
    """A row of Anthropic/hh-rlhf (two whole transcripts) as a preference record, or a skip reason."""
    return split_transcript(text_field(row, "chosen", where), text_field(row, "rejected", where))


def hh_rlhf_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """Anthropic's helpful-harmless transcripts: prompt = the dialogue up to the last assistant
    turn, responses = the two last answers. No gold reward."""
    return hub_preference_task("hh-rlhf", config, HH_RLHF_ID, ("chosen", "rejected"), hh_rlhf_record)


# --------------------------------------------------------------------------------------------
# UltraFeedback (binarised)
# --------------------------------------------------------------------------------------------


def require_chat_template(tokenizer: PreTrainedTokenizerBase | None, task: str) -> PreTrainedTokenizerBase:
    """The tokenizer, if it can render ``task``'s conversations; else a ConfigError naming the task."""
    if tokenizer is None:
        raise ConfigError(f"task '{task}' formats its prompts with the policy's chat template, but got no tokenizer")
    if tokenizer.chat_template is None:
        raise ConfigError(
            f"task '{task}' formats its prompts with the policy's chat template, but the tokenizer has "
            "none (tokenizer.chat_template is None); use a chat model"
        )
    # transformers renders chat templates with jinja2 but does not install it.
    if importlib.util.find_spec("jinja2") is None:
        raise ConfigError(f"task '{task}' renders chat templates, which needs jinja2: pip install jinja2")
    return tokenizer


def conversation_record(row: dict[str, Any], where: str, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any] | str:
    """The messages before the last assistant turn, as the chat template renders them for
    generation, and the two last assistant answers with their scores."""
    chosen, rejected = messages_field(row, "chosen", where), messages_field(row, "rejected", where)
    if not chosen or not rejected or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        return SKIP_NO_ASSISTANT
    context = chosen[:-1]
    if rejected[:-1] != context:
        return SKIP_PROMPTS_DIFFER
    if not context:
        return SKIP_EMPTY
    from jinja2 import TemplateError  # present: require_chat_template checked

    try:
        prompt = tokenizer.apply_chat_template(context, tokenize=False, add_generation_prompt=True)
    except TemplateError as err:
        raise DataError(f"{where}: the tokenizer's chat template rejects these messages: {err}") from None
    return {
        "prompt": prompt,
        "chosen": chosen[-1]["content"],
        "rejected": rejected[-1]["content"],
        "chosen_reward": row["score_chosen"],
        "rejected_reward": row["score_rejected"],
    }


def ultrafeedback_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """UltraFeedback, binarised: conversational pairs whose prompts are rendered with the
    policy's chat template; the judge's scores are kept as the pairs' rewards. No gold reward."""
    tokenizer = require_chat_template(tokenizer, "ultrafeedback")
    columns = ("chosen", "rejected", "score_chosen", "score_rejected")
    parse = partial(conversation_record, tokenizer=tokenizer)
    return hub_preference_task("ultrafeedback", config, ULTRAFEEDBACK_ID, columns, parse)


# --------------------------------------------------------------------------------------------
# IMDb
# --------------------------------------------------------------------------------------------

_MARKUP = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_review(text: str) -> str:
    """The review without its HTML line breaks, on one line."""
    return " ".join(_MARKUP.sub(" ", text).split())


def review_prefix(review: str, rng: random.Random, min_words: int = 2, max_words: int = 8) -> str | None:
    """The review's first ``min_words`` to ``max_words`` words (uniform, always leaving one word to
    continue), or None for a review too short to cut."""
    words = review.split()
    if len(words) <= min_words:
        return None
    return " ".join(words[: rng.randint(min_words, min(max_words, len(words) - 1))])


def imdb_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """The DPO paper's controlled-sentiment task on real reviews: continue the prefix of an IMDb
    review; the gold reward is VADER. Train and eval prompts come from different reviews of the
    configured split; the pairs are sampled from the base policy."""
    rows, source = load_rows(config, IMDB_ID)
    require_columns(rows, source, ("text",), IMDB_ID)
    texts = (
        text_field(row, "text", f"{source} row {n}") for n, row in enumerate(rows.select_columns(["text"]), start=1)
    )
    # Duplicate reviews are dropped so that no review gives both a train and an eval prompt.
    reviews = list(dict.fromkeys(clean_review(text) for text in texts))
    rng = random.Random(config.split_seed)
    rng.shuffle(reviews)
    prefixes = [review_prefix(review, rng) for review in reviews]
    log_skipped(source, Counter({SKIP_SHORT_REVIEW: prefixes.count(None)}), len(rows))
    train, validation, held_out = split_prompts((p for p in prefixes if p is not None), config, source)
    return Task(
        name="imdb", train_prompts=train, test_prompts=held_out, validation_prompts=validation, reward=VaderSentiment()
    )


# --------------------------------------------------------------------------------------------
# The user's own preference file
# --------------------------------------------------------------------------------------------


def user_pairs(config: TaskConfig) -> tuple[list[PreferencePair], str]:
    """Pairs of ``task.dataset``: a JSONL file read by ``read_preferences``, or a parquet file (or a
    directory, or a hub id) whose rows are validated like JSONL lines."""
    if config.dataset is None:
        raise ConfigError("task.dataset: task 'jsonl' needs the path of a preference file (JSONL or parquet)")
    path = Path(config.dataset).expanduser()
    if path.name.lower().endswith(".jsonl"):
        pairs = read_preferences(path)
        return pairs[: config.max_examples or None], str(path)
    rows, source = load_rows(config, config.dataset)
    return [parse_preference_record(row, f"{source} row {n}") for n, row in enumerate(rows, start=1)], source


def user_preference_task(config: TaskConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> Task:
    """The user's own pairs (prompt/chosen/rejected, optional chosen_reward/rejected_reward). No
    gold reward unless ``task.reward`` names one."""
    pairs, source = user_pairs(config)
    return preference_task("jsonl", pairs, config, source)
