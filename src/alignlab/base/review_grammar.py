"""The English review grammar's building blocks: its vocabulary, the film a review is about, and
the clauses that sentences are made of.

The word lists come from ``data/reviews.yaml``; the logic here decides how they combine. Each
function takes the review's ``random.Random`` first and draws from it in a fixed order, so a seed
fixes the corpus: reordering draws, like reordering a list in the data file, changes every review
after the first one affected. ``corpus.py`` builds whole sentences and reviews from these parts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from alignlab.base.corpus_data import load_data

_DATA = load_data("reviews")


def _words(key: str) -> tuple[str, ...]:
    """A word list of the data file, written there as one whitespace-separated string."""
    return tuple(_DATA[key].split())


# Neutral pools: everything an opening can contain, none of it in VADER's lexicon.
FIRST_NAMES = _words("first_names")
SURNAMES = _words("surnames")
TITLE_ADJECTIVES = _words("title_adjectives")
TITLE_NOUNS = _words("title_nouns")
PLACES = _words("places")
TRAITS = _words("traits")
OCCUPATIONS: tuple[str, ...] = tuple(_DATA["occupations"])
PLOTS: tuple[str, ...] = tuple(_DATA["plots"])
COMPANIONS: tuple[str, ...] = tuple(_DATA["companions"])
WHEN: tuple[str, ...] = tuple(_DATA["when"])
WHERE: tuple[str, ...] = tuple(_DATA["where"])
OCCASIONS: tuple[str, ...] = tuple(_DATA["occasions"])
SCREENINGS: tuple[str, ...] = tuple(_DATA["screenings"])
SOURCES: tuple[str, ...] = tuple(_DATA["sources"])
ORDINALS: tuple[str, ...] = tuple(_DATA["ordinals"])
DECADES: tuple[str, ...] = tuple(_DATA["decades"])
GENRES: tuple[tuple[str, str], ...] = tuple(_DATA["genres"].items())  # (singular, plural)
# (template, how the first sentence goes on, tense); see the data file.
OPENERS: tuple[tuple[str, str, str], ...] = tuple((t, kind, tense) for t, kind, tense in _DATA["openers"])

# Evaluative pools.
Aspect = tuple[str, bool, tuple[str, ...], tuple[str, ...]]  # (noun phrase, plural, praise, criticism)
ASPECTS: tuple[Aspect, ...] = tuple(
    (phrase, plural, tuple(praise.split()), tuple(criticism.split()))
    for phrase, plural, praise, criticism in _DATA["aspects"]
)
PRAISE = _words("praise")
CRITICISM = _words("criticism")
INTENSIFIERS: tuple[str, ...] = tuple(_DATA["intensifiers"])
DOWNTONERS: tuple[str, ...] = tuple(_DATA["downtoners"])
ATTRIBUTIVE_DEGREES: tuple[str, ...] = tuple(_DATA["attributive_degrees"])
PRAISE_NOUNS = _words("praise_nouns")
CRITICISM_NOUNS = _words("criticism_nouns")
SCENES: tuple[str, ...] = tuple(_DATA["scenes"])


@dataclass(frozen=True)
class Film:
    """What one review talks about; fixed before its sentences are drawn."""

    title: str
    other: str  # another invented film, for comparisons
    genre: str
    genres: str
    actor: str
    character: str
    director: str
    companion: str
    past: bool  # "the plot was" versus "the plot is"


def article(phrase: str) -> str:
    """``phrase`` with "a" or "an" in front."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def person(r: random.Random) -> str:
    return f"{r.choice(FIRST_NAMES)} {r.choice(SURNAMES)}"


def film_title(r: random.Random) -> str:
    shape = r.randrange(7)
    if shape == 0:
        return f"{r.choice(TITLE_NOUNS)} of {r.choice(PLACES)}"
    if shape == 1:
        return f"{r.choice(FIRST_NAMES)} and the {r.choice(TITLE_NOUNS)}"
    if shape == 2:
        return f"{r.choice(TITLE_ADJECTIVES)} {r.choice(TITLE_NOUNS)}"
    if shape == 3:
        return f"Beyond the {r.choice(TITLE_NOUNS)}"
    if shape == 4:
        return f"Midnight in {r.choice(PLACES)}"
    return f"The {r.choice(TITLE_ADJECTIVES)} {r.choice(TITLE_NOUNS)}"


def new_film(r: random.Random, past: bool) -> Film:
    genre, genres = r.choice(GENRES)
    return Film(
        title=film_title(r),
        other=film_title(r),
        genre=genre,
        genres=genres,
        actor=person(r),
        character=r.choice(FIRST_NAMES),
        director=person(r),
        companion=r.choice(COMPANIONS),
        past=past,
    )


def be(film: Film, plural: bool, negated: bool = False) -> str:
    verb = ("were" if plural else "was") if film.past else ("are" if plural else "is")
    return verb + "n't" if negated else verb


def degree_word(r: random.Random) -> str:
    """An empty, intensifying or downtoning modifier for a predicate, with its trailing space."""
    roll = r.random()
    if roll < 0.45:
        return ""
    if roll < 0.8:
        return r.choice(INTENSIFIERS) + " "
    return r.choice(DOWNTONERS) + " "


def a_modified(r: random.Random, adjective: str) -> str:
    """ "a rather dull", "an utterly charming" or just "a dull"."""
    if r.random() < 0.5:
        return article(adjective)
    return article(f"{r.choice(ATTRIBUTIVE_DEGREES)} {adjective}")


def fitting_adjective(r: random.Random, aspect: Aspect, polarity: int) -> str:
    """An adjective of the given polarity that fits ``aspect``."""
    specific = aspect[2] if polarity > 0 else aspect[3]
    if r.random() < 0.5:
        return r.choice(specific)
    return r.choice(PRAISE if polarity > 0 else CRITICISM)


def aspect_clause(r: random.Random, film: Film, polarity: int, aspect: Aspect) -> str:
    """ "the score was haunting", or a denied opposite: "the pacing was never sluggish"."""
    phrase, plural = aspect[0], aspect[1]
    if r.random() < 0.7:
        return f"{phrase} {be(film, plural)} {degree_word(r)}{fitting_adjective(r, aspect, polarity)}"
    opposite = fitting_adjective(r, aspect, -polarity)
    shape = r.randrange(4 if polarity < 0 else 3)
    if polarity > 0:
        if shape == 0:
            return f"{phrase} {be(film, plural, negated=True)} {opposite} at all"
        if shape == 1:
            return f"{phrase} {be(film, plural)} never {opposite}"
        return f"{phrase} {be(film, plural)} not {opposite} in the slightest"
    if shape == 0:
        degree = r.choice(("very ", "particularly ", ""))
        return f"{phrase} {be(film, plural)} not {degree}{opposite}"
    if shape == 1:
        return f"{phrase} {be(film, plural, negated=True)} {opposite}"
    if shape == 2:
        return f"{phrase} {be(film, plural)} hardly {opposite}"
    return f"{phrase} {be(film, plural)} not nearly as {opposite} as the trailer suggested"


_DISLIKES = (
    "did not enjoy it",
    "could not wait for it to end",
    "did not care for it",
    "was bored within minutes",
    "regretted it",
    "hated it",
)


def film_clause(r: random.Random, film: Film, polarity: int) -> str:
    """A clause about the film as a whole."""
    it_was = "it was" if film.past else "it is"
    shape = r.randrange(5)
    if polarity > 0:
        if shape == 0:
            return f"{it_was} {a_modified(r, r.choice(PRAISE))} {film.genre}"
        if shape == 1:
            how = r.choice(("more than I expected", "a lot", "from start to finish", "immensely"))
            return f"I {r.choice(('enjoyed', 'loved', 'liked', 'admired'))} it {how}"
        if shape == 2:
            return f"{it_was} {article(r.choice(PRAISE_NOUNS))}"
        if shape == 3:
            return f"{it_was} not {r.choice(CRITICISM)} at all"
        return f"{it_was} never {r.choice(('dull', 'boring', 'tedious', 'predictable'))}"
    if shape == 0:
        return f"{it_was} {a_modified(r, r.choice(CRITICISM))} {film.genre}"
    if shape == 1:
        return "I " + r.choice(_DISLIKES)
    if shape == 2:
        degree = r.choice(("complete ", "total ", ""))
        return f"{it_was} {article(degree + r.choice(CRITICISM_NOUNS))}"
    if shape == 3:
        merit = r.choice(("good", "fun", "funny", "entertaining", "interesting"))
        return f"{it_was} not {merit} at all"
    return f"{it_was} hardly worth the {r.choice(('ticket', 'time', 'effort', 'hype'))}"


def contrast_clause(r: random.Random, film: Film, polarity: int) -> str:
    """A mixed clause that ends up on ``polarity``: concede the opposite, then turn."""
    first, second = r.sample(ASPECTS, 2)
    conceded = aspect_clause(r, film, -polarity, first)
    if r.random() < 0.7:
        main = aspect_clause(r, film, polarity, second)
    else:
        main = film_clause(r, film, polarity)
    shape = r.randrange(4)
    if shape == 0:
        return f"{conceded}, but {main}"
    if shape == 1:
        return f"although {conceded}, {main}"
    if shape == 2:
        return f"even though {conceded}, {main}"
    return f"{conceded}; however, {main}"


def clause(r: random.Random, film: Film, polarity: int, mixed: bool) -> str:
    """An independent clause of the given polarity, lower-case, without final punctuation."""
    if mixed:
        return contrast_clause(r, film, polarity)
    roll = r.random()
    if roll < 0.55:
        return aspect_clause(r, film, polarity, r.choice(ASPECTS))
    if roll < 0.65:
        return "frankly, " + aspect_clause(r, film, polarity, r.choice(ASPECTS))
    return film_clause(r, film, polarity)


def verb_phrase(r: random.Random, film: Film, polarity: int, mixed: bool) -> str:
    """What follows an opening that ends in "I"."""
    if mixed:
        return "have to say that " + contrast_clause(r, film, polarity)
    aspect = r.choice(ASPECTS)
    shape = r.randrange(5)
    if shape == 0:
        feeling = r.choice(
            ("impressed", "moved", "charmed", "delighted", "won over")
            if polarity > 0
            else ("disappointed", "bored", "annoyed", "underwhelmed", "let down")
        )
        return f"was {degree_word(r)}{feeling} by {aspect[0]}"
    if shape == 1:
        return f"found {aspect[0]} {degree_word(r)}{fitting_adjective(r, aspect, polarity)}"
    if shape == 2:
        if polarity > 0:
            return "enjoyed it " + r.choice(("more than I expected", "a great deal", "far more than I thought I would"))
        return r.choice(("did not enjoy it at all", "came away disappointed", "was bored for most of it"))
    if shape == 3:
        adjective = r.choice(PRAISE if polarity > 0 else CRITICISM)
        return f"think it is {a_modified(r, adjective)} {film.genre}"
    return "have to say that " + clause(r, film, polarity, mixed=False)


_HIGH_HOPES = ("a lot", "great things", "a lot from {director}", "a modern classic", "something special")
_LOW_HOPES = ("very little", "a dud", "another forgettable {genre}", "nothing special", "a cheap knockoff")


def expectation(r: random.Random, film: Film, polarity: int, mixed: bool) -> str:
    """What follows "I expected": a high or low expectation, then met or confounded."""
    high = r.random() < 0.5
    hopes = _HIGH_HOPES if high else _LOW_HOPES
    hope = r.choice(hopes).format(director=film.director, genre=film.genre)
    if high == (polarity > 0):
        if high and not mixed and r.random() < 0.4:
            outcome = r.choice(("delivered", "did not disappoint", "lived up to it"))
            return f"{hope}, and it {outcome}"
        return f"{hope}, and {clause(r, film, polarity, mixed)}"
    return f"{hope}, but {clause(r, film, polarity, mixed)}"
