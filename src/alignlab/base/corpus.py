"""A generated corpus of short English movie reviews, for pretraining alignlab's tiny base model.

Reviews come from a small probabilistic grammar: a sentiment-neutral opening ("I went to see The
Copper Meridian with my dad last Friday, and"), then one to three more sentences drawn from a set
of shapes (aspect statements, contrasts, comparisons, personal context, rhetorical questions,
lists, verdicts, recommendations), each with a polarity. The mix of tones is calibrated so that
VADER calls about as many reviews positive as negative, with many strongly positive, strongly
negative and mixed ones.

This module writes the sentences and puts reviews together; ``review_grammar.py`` holds the
vocabulary and the clauses, and ``data/reviews.yaml`` the word lists and whole sentences.

The sentiment task uses review prefixes as prompts, as in the DPO paper's IMDb experiment: the
policy continues the prefix and VADER scores the continuation. No word that an opening can contain
is in VADER's lexicon, so a prefix cut inside the opening scores exactly 0 (``split_prompt``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from alignlab.base.corpus_data import load_data
from alignlab.base.corpus_stats import corpus_stats
from alignlab.base.review_grammar import (
    ASPECTS,
    CRITICISM,
    CRITICISM_NOUNS,
    DECADES,
    OCCASIONS,
    OCCUPATIONS,
    OPENERS,
    ORDINALS,
    PLACES,
    PLOTS,
    PRAISE,
    PRAISE_NOUNS,
    SCENES,
    SCREENINGS,
    SOURCES,
    TRAITS,
    WHEN,
    WHERE,
    Film,
    a_modified,
    article,
    aspect_clause,
    be,
    cap,
    clause,
    contrast_clause,
    degree_word,
    expectation,
    fitting_adjective,
    new_film,
    person,
    verb_phrase,
)
from alignlab.base.review_prompts import OPENING_WORDS, split_prompt

__all__ = ["MAX_WORDS", "MIN_WORDS", "OPENING_WORDS", "corpus_stats", "generate_reviews", "split_prompt"]

MIN_WORDS = 12
MAX_WORDS = 60

# Whole sentences by shape: {"positive": (...), "negative": (...)}, or a plain tuple.
_SENTENCES = {
    key: {tone: tuple(lines) for tone, lines in value.items()} if isinstance(value, dict) else tuple(value)
    for key, value in load_data("reviews")["sentences"].items()
}


def _line(r: random.Random, shape: str, polarity: int) -> str:
    """One of a shape's whole sentences of the given polarity, its {fields} not yet filled."""
    return r.choice(_SENTENCES[shape]["positive" if polarity > 0 else "negative"])


# Body sentences: each takes (rng, film, polarity) and returns a finished sentence.


def _aspect_sentence(r: random.Random, film: Film, polarity: int) -> str:
    end = "!" if polarity > 0 and r.random() < 0.15 else "."
    return cap(aspect_clause(r, film, polarity, r.choice(ASPECTS))) + end


def _contrast_sentence(r: random.Random, film: Film, polarity: int) -> str:
    return cap(contrast_clause(r, film, polarity)) + "."


def _concession(r: random.Random, film: Film, polarity: int) -> str:
    """Grant the film a flaw (or a merit) in general, then turn to ``polarity``."""
    concession = "It is not perfect, but" if polarity > 0 else "It has its moments, but"
    return f"{concession} {clause(r, film, polarity, mixed=False)}."


def _actor_sentence(r: random.Random, film: Film, polarity: int) -> str:
    adjective = r.choice(PRAISE if polarity > 0 else CRITICISM)
    shape = r.randrange(3)
    if shape == 0:
        verb = "gave" if film.past else "gives"
        return f"{film.actor} {verb} {a_modified(r, adjective)} performance as {film.character}."
    if shape == 1:
        return f"{film.actor} {be(film, False)} {degree_word(r)}{adjective} as {film.character}."
    if polarity > 0:
        return f"{film.actor} {be(film, False)} never {r.choice(CRITICISM)} as {film.character}."
    return f"{film.actor} {be(film, False, negated=True)} {r.choice(PRAISE)} as {film.character}."


def _scene_sentence(r: random.Random, film: Film, polarity: int) -> str:
    scene = r.choice(SCENES).format(character=film.character)
    if r.random() < 0.5:
        adjective = r.choice(PRAISE if polarity > 0 else CRITICISM)
        return f"{cap(scene)} {be(film, False)} {degree_word(r)}{adjective}."
    return f"{cap(scene)} {_line(r, 'scene_endings', polarity)}"


def _reaction(r: random.Random, film: Film, polarity: int) -> str:
    """How watching it felt, in the first person."""
    return _line(r, "reactions", polarity)


def _comparison(r: random.Random, film: Film, polarity: int) -> str:
    shape = r.randrange(4)
    if polarity > 0:
        if shape == 0:
            how_much = r.choice(("much", "far", "a lot"))
            return f"It is {how_much} better than {film.other}, which I also enjoyed."
        if shape == 1:
            return f"Easily the best {film.genre} I have seen since {film.other}."
        if shape == 2:
            return f"If you liked {film.other}, you will love this one."
        how = r.choice(("better", "with more heart", "with real style"))
        return f"It does everything {film.other} tried to do, and does it {how}."
    if shape == 0:
        return f"It is a {r.choice(('pale', 'cheap', 'tired', 'lazy'))} copy of {film.other}."
    if shape == 1:
        return f"It is nowhere near as {r.choice(PRAISE)} as {film.other}."
    if shape == 2:
        return f"Just watch {film.other} instead."
    return f"Compared to {film.other}, this one feels {degree_word(r)}{r.choice(CRITICISM)}."


def _company(r: random.Random, film: Film, polarity: int) -> str:
    return _line(r, "company", polarity).format(who=f"My {film.companion}", companion=film.companion)


def _question(r: random.Random, film: Film, polarity: int) -> str:
    # The words are drawn before the question is picked, whichever it is, as the corpus was built.
    if polarity > 0:
        praise = r.choice(PRAISE)
        return _line(r, "questions", polarity).format(a_genre=article(film.genre), praise=praise)
    aspect = r.choice(ASPECTS)
    criticism = r.choice(CRITICISM)
    return _line(r, "questions", polarity).format(aspect=aspect[0], genre=film.genre, criticism=criticism)


def _list_sentence(r: random.Random, film: Film, polarity: int) -> str:
    first, second, third = r.sample(ASPECTS, 3)
    if r.random() < 0.5:
        verb = "were" if film.past else "are"
        word = r.choice(PRAISE if polarity > 0 else CRITICISM)
        return f"{cap(first[0])}, {second[0]} and {third[0]} {verb} all {word}."
    # "Clever twist, strong premise and moving cinematography": adjectives before the bare nouns.
    a, b, c = (f"{fitting_adjective(r, aspect, polarity)} {aspect[0][4:]}" for aspect in (first, second, third))
    return f"{cap(a)}, {b} and {c}."


def _verdict(r: random.Random, film: Film, polarity: int) -> str:
    shape = r.randrange(4)
    adjectives, nouns, scores = (
        (PRAISE, PRAISE_NOUNS, (7, 10)) if polarity > 0 else (CRITICISM, CRITICISM_NOUNS, (1, 4))
    )
    if shape == 0:
        return f"Overall, {a_modified(r, r.choice(adjectives))} {film.genre}."
    if shape == 1:
        return f"{film.title} is {article(r.choice(nouns))}."
    if shape == 2:
        return _line(r, "verdicts", polarity)
    return f"I would give it {r.randint(*scores)} out of 10."


def _recommendation(r: random.Random, film: Film, polarity: int) -> str:
    return _line(r, "recommendations", polarity).format(genres=film.genres)


def _fact(r: random.Random, film: Film, polarity: int) -> str:
    """A neutral remark; ``polarity`` is ignored."""
    # Every field is drawn, in this order, before the remark is picked: the corpus was built so.
    fields = {
        "source": r.choice(SOURCES),
        "author": person(r),
        "location": r.choice(PLACES),
        "composer": person(r),
        "ordinal": r.choice(ORDINALS),
        "premiere": r.choice(PLACES),
        "costar": person(r),
        "second_costar": person(r),
        "language": r.choice(_SENTENCES["subtitle_languages"]),
    }
    return r.choice(_SENTENCES["facts"]).format(**fields, actor=film.actor, other=film.other, director=film.director)


def _audience(r: random.Random, film: Film, polarity: int) -> str:
    """Who the film is for."""
    return _line(r, "audiences", polarity).format(director=film.director, genres=film.genres)


_Shape = Callable[[random.Random, Film, int], str]
_Table = tuple[tuple[_Shape, float], ...]  # (shape, weight) pairs

# Shapes for the sentences between the first and the last, and for the last one. Questions and
# neutral remarks make weak endings, so a review never closes on one.
_MIDDLE: _Table = (
    (_aspect_sentence, 5.0),
    (_actor_sentence, 2.0),
    (_scene_sentence, 1.5),
    (_reaction, 1.0),
    (_comparison, 1.5),
    (_company, 1.5),
    (_audience, 1.0),
    (_question, 1.0),
    (_list_sentence, 1.0),
    (_fact, 1.0),
)
_FINAL: _Table = (
    (_aspect_sentence, 2.0),
    (_actor_sentence, 1.0),
    (_scene_sentence, 1.0),
    (_reaction, 1.0),
    (_comparison, 1.0),
    (_company, 1.0),
    (_audience, 1.0),
    (_verdict, 2.5),
    (_recommendation, 2.5),
)
# Sentences that turn against what came before ("Although ..., ...").
_TURNS: _Table = ((_contrast_sentence, 4.0), (_concession, 1.0))
# Two verdicts or two "It has its moments" in one review read like a glitch; these may repeat.
_REPEATABLE = (_aspect_sentence, _contrast_sentence)

# A review is positive (1), negative (-1) or mixed (0). A mixed one turns at least once ("but",
# "although") and may land on either side. Weights were tuned until VADER splits the corpus about
# evenly between positive and negative.
_TONES = (1, -1, 0)
_TONE_WEIGHTS = (0.25, 0.47, 0.28)


def _opening(r: random.Random) -> tuple[Film, str, str]:
    """The review's film, its opening text, and how the first sentence goes on."""
    template, kind, tense = r.choice(OPENERS)
    film = new_film(r, past=tense == "past" or (tense == "any" and r.random() < 0.5))
    origin, destination = r.sample(PLACES, 2)
    # Every field is drawn, in this order, whether the template uses it or not.
    text = template.format(
        title=film.title,
        companion=film.companion,
        when=r.choice(WHEN),
        where=r.choice(WHERE).format(place=r.choice(PLACES)),
        occasion=r.choice(OCCASIONS),
        genre=film.genre,
        genres=film.genres,
        a_genre=article(film.genre),
        director=film.director,
        author=person(r),
        actor=film.actor,
        character=film.character,
        a_trait=article(r.choice(TRAITS)),
        occupation=r.choice(OCCUPATIONS),
        a_occupation=article(r.choice(OCCUPATIONS)),
        plot=r.choice(PLOTS).format(place=origin, destination=destination),
        place=r.choice(PLACES),
        decade=r.choice(DECADES),
        ordinal=r.choice(ORDINALS),
        screening=r.choice(SCREENINGS),
        source=r.choice(SOURCES),
    )
    return film, text, kind


def _pick_shape(r: random.Random, table: _Table, used: list[_Shape]) -> _Shape:
    shapes, weights = zip(*table)
    while True:
        shape = r.choices(shapes, weights)[0]
        if shape in _REPEATABLE or shape not in used:
            return shape


_CONTINUATIONS = {"clause": clause, "vp": verb_phrase, "expect": expectation}


def _review(r: random.Random) -> str:
    """One review: a neutral opening, then sentences that follow the review's tone."""
    tone = r.choices(_TONES, _TONE_WEIGHTS)[0]
    lean = tone or r.choice((1, -1))  # where a mixed review lands in the end
    film, opening, kind = _opening(r)
    num_body = r.choices((0, 1, 2, 3), (1.0, 3.0, 3.0, 2.0))[0]
    used: list[_Shape] = []
    if kind == "stop":
        sentences = [opening]
        num_body = max(num_body, 1)
        turned = False
    else:
        # A mixed review with nothing after its first sentence must turn inside it.
        turned = tone == 0 and (num_body == 0 or r.random() < 0.5)
        sentences = [f"{opening} {_CONTINUATIONS[kind](r, film, lean, turned)}."]
    for i in range(num_body):
        is_final = i == num_body - 1
        # Mixed reviews turn often and at least once, the others now and then; every review ends
        # on its lean.
        turn = (tone == 0 and is_final and not turned) or r.random() < (0.45 if tone == 0 else 0.1)
        turned = turned or turn
        polarity = lean if (tone or is_final) else r.choice((1, -1))
        table = _TURNS if turn else _FINAL if is_final else _MIDDLE
        sentence = ""
        while not sentence or sentence in sentences:
            shape = _pick_shape(r, table, used)
            sentence = shape(r, film, polarity)
        used.append(shape)
        sentences.append(sentence)
    return " ".join(sentences)


def generate_reviews(num_reviews: int, seed: int) -> list[str]:
    """``num_reviews`` distinct reviews, the same list for the same ``seed``.

    Each review has 1 to 4 sentences and ``MIN_WORDS`` to ``MAX_WORDS`` words, and begins with a
    sentiment-neutral opening (see ``split_prompt``). A shorter corpus is a prefix of a longer one
    with the same seed.
    """
    r = random.Random(seed)
    reviews: list[str] = []
    seen: set[str] = set()  # membership only, so set order never reaches the output
    while len(reviews) < num_reviews:
        review = _review(r)
        if review in seen or not MIN_WORDS <= review.count(" ") + 1 <= MAX_WORDS:
            continue
        seen.add(review)
        reviews.append(review)
    return reviews
