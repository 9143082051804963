"""A generated corpus of short English movie reviews, for pretraining alignlab's tiny base model.

Reviews come from a small probabilistic grammar: a sentiment-neutral opening ("I went to see The
Copper Meridian with my dad last Friday, and"), then one to three more sentences drawn from a set
of shapes (aspect statements, contrasts, comparisons, personal context, rhetorical questions,
lists, verdicts, recommendations), each with a polarity. The mix of tones is calibrated so that
VADER calls about as many reviews positive as negative, with many strongly positive, strongly
negative and mixed ones.

The sentiment task uses review prefixes as prompts, as in the DPO paper's IMDb experiment: the
policy continues the prefix and VADER scores the continuation. No word that an opening can contain
is in VADER's lexicon, so a prefix cut inside the opening scores exactly 0 (``split_prompt``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

MIN_WORDS = 12
MAX_WORDS = 60

# --------------------------------------------------------------------------------------------
# Neutral pools: everything an opening can contain. Words in VADER's lexicon are left out
# ("lonely", "novel", "thriller", "festival" all score), which the tests check.
# --------------------------------------------------------------------------------------------

_FIRST_NAMES = tuple(
    """
Ada Alma Amos Anton Arlo Astrid Basil Bea Bruno Calla Cora Dario Della Dmitri Edda Edgar Elio
Elsa Emil Enzo Esme Ezra Fay Felix Flora Frieda Gideon Greta Hattie Hugo Ida Ines Ira Ivo Jonah
Juno Kasper Klara Lars Lena Leon Lidia Linus Lotte Lucian Mabel Marek Margo Mateo Maud Milo
Mina Nadia Nell Niko Nora Odile Olek Orla Oscar Otto Pavel Petra Quinn Rafael Rosa Rufus Sabine
Saul Selma Silas Sofia Stellan Tamsin Tess Theo Tobias Ulla Vera Viktor Walt Wren Yara Yusuf Zara
Zeno Agnes Bram Cyrus Dagny Eamon Fenna Gus Hilde Idris Jules Kit Lorcan Magnus Nils Opal Piet
Anouk Bertil Cosima Dorian Elske Florian Gwen Henrik Ilse Jasper Kirsi Leopold Marit Nico Ottilie
Pim Rainer Sunniva Tycho Ursula Valentin Xavier Yvette Zofia Alvar Benedikt Clio Desmond Eero
Freya Gunnar Hedda Ivor Jorun Kai Liesel Mads Noor Oona Perrin Roald Signe Tove Umberto Vito
Wendell Ximena Yorick Zelda Annika Bjorn Caspar Dagmar Ebba Fritz Gisela Harald Inge Joakim
Aurelio Beatrix Cormac Delphine Emeric Fiona Gregor Halvard Isolde Jarek Katya Lucius Mireille
Nikolai Osric Paloma Ragnar Solveig Thaddeus Undine Vesna Wolfgang Yannick Zuzana Ambrose Brigid
Constantin Dunja Evander Fleur Ignatius Jolene Konrad Ludmila Maximilian Niamh Oleander Philippa
""".split()
)

_SURNAMES = tuple(
    """
Abbott Alder Ashby Barlow Beckett Bellamy Blackwood Brandt Calloway Carver Castell Crane Dorsey
Drummond Eckhart Ellery Fenwick Garrity Hale Halloway Harrow Hayes Holt Ingram Jansen Keller
Kessler Lachance Lindqvist Lowell Marsh Morrow Navarro Novak Okafor Orsini Pell Quill Radley
Reyes Rourke Santos Sawyer Strand Sutton Thorne Ulrich Vance Varga Voss Wexler Whitlock Winslow
Yates Zeller Achterberg Brannigan Costa Delacroix Esposito Falk Greer Haddad Ilves Jovanovic
Kowalski Larkin Mbeki Nakamura Ostrowski Pereira Quintero Rasmussen Szabo Takahashi Underhill
Abernathy Bergstrom Cardenas Dunmore Eriksen Gallagher Hollister Ibarra Jessup Kincaid Lindgren
Montague Nygaard Oakes Prescott Quigley Rutherford Sandoval Tremaine Uhlmann Vasquez Whitaker
Yardley Zimmer Albrecht Bouchard Cortez Dahl Engel Fonseca Gutierrez Hargrove Ivanova Juarez
Kovacs Lombardi Moreau Nilsson Oyelaran Petrov Ramirez Solberg Toivonen Urquhart Valdez Wojcik
Ackroyd Blomqvist Castellanos Dragomir Etxeberria Fitzwilliam Grunewald Hauser Iwasaki Jaramillo
Kaminski Lazarescu Mortensen Nkemelu Oliveira Pankhurst Quaresma Rossetti Schuyler Tanaka
Ustinov Vellacott Weatherby Xenakis Yamamoto Zielinski Amundsen Bianchi Chakraborty Donnelly
""".split()
)

_TITLE_ADJECTIVES = tuple(
    """
Silent Distant Hollow Northern Southern Crimson Silver Hidden Last Long Quiet Winding Frozen
Midnight Paper Glass Iron Velvet Copper Scarlet Wandering Sleeping Endless Amber Salt Eastern
Western Seventh Second Little Blue Green Violet Marble Electric Tin Ivory Cobalt Hazel Painted
Sunken Drifting Rusted Vanishing Borrowed Folded Scattered Sudden Outer Inner Narrow Autumn
Evening Morning Twelfth Ninth Yellow Gray Coastal Arctic Brass Granite Cedar Linen Tidal Lunar
Polar Mechanical
""".split()
)

_TITLE_NOUNS = tuple(
    """
Harbor Lighthouse Orchard Winter Summer Echo Compass River Garden Station Tide Frontier Canyon
Meridian Lantern Harvest Signal Mirror Horizon Cathedral Archive Voyage Passage Island Valley
Citadel Comet Orbit Atlas Caravan Circus Ballroom Parade Telegram Postcard Sparrow Falcon Raven
Fox Orchestra Ferry Border Lagoon Quarry Observatory Greenhouse Motel Carousel Tower Bridge
Engine Letter Map Signalman Gambit Kite Typewriter Chandelier Violin Avalanche Monsoon Anchor
Bell Conductor Dynamo Estuary Fjord Glacier Hourglass Inlet Jetty Keystone Labyrinth Nebula
Obelisk Pendulum Prism Reef Satellite Tapestry Tundra Undertow Vessel Windmill Zeppelin Aviary
Boathouse Cellar Embassy Foundry Gondola Hangar Junction Kiln Mansion Nomad Outpost Pavilion
Regatta Sextant Trellis Viaduct Wharf Ember Monolith Cypress Juniper Magnolia Thistle Saffron
Cinnamon Marigold Harpoon Telescope Periscope Metronome Almanac Barometer Canal Dunes Ferris
Gazebo Hammock Icebreaker Jukebox Kaleidoscope Lamplighter Mosaic Nightingale Oasis Palisade
Quilt Rookery Sandcastle Tramway Umbrella Vineyard Waterfall Yacht Zodiac Aqueduct Bluebird
Carnation Dovecote Elevator Footbridge Gramophone Hedgerow Inkwell Juggler Keepsake
""".split()
)

_PLACES = tuple(
    """
Verona Lisbon Tangier Oslo Marseille Havana Kyoto Prague Dublin Montana Nebraska Ohio Cornwall
Tasmania Patagonia Alaska Sicily Bruges Quebec Memphis Tucson Galway Helsinki Budapest Zanzibar
Manila Nairobi Reykjavik Bergen Vermont Savannah Trieste Valencia Krakow Odessa Tbilisi Naples
Seville Hamburg Antwerp Glasgow Boise Duluth Wyoming Maine Oregon Lagos Montreal Porto Gdansk
Bordeaux Lyon Turin Bologna Salzburg Innsbruck Zurich Geneva Ghent Utrecht Aarhus Tallinn Riga
Vilnius Bucharest Belgrade Sarajevo Athens Izmir Beirut Marrakesh Dakar Accra Kampala Lusaka
Durban Perth Hobart Auckland Wellington Lima Quito Bogota Cartagena Oaxaca Halifax Winnipeg
Anchorage Spokane Omaha Albuquerque Pittsburgh Baltimore Tulsa Wichita Kentucky Idaho Utah
Sapporo Osaka Busan Hanoi Jakarta Colombo Kathmandu Tashkent Baku Yerevan Ljubljana Zagreb
Bratislava Dresden Leipzig Rotterdam Copenhagen Stockholm Uppsala Tromso Aberdeen Cardiff Belfast
Inverness Lille Nantes Biarritz Palermo Genoa Florence Granada Cordoba Toledo Faro
""".split()
)

_TRAITS = tuple(
    """
young retired quiet elderly teenage middle-aged former small-town aging newly-married bookish
soft-spoken eccentric left-handed red-haired tall widely-traveled
""".split()
)

_OCCUPATIONS = (
    "detective",
    "nurse",
    "schoolteacher",
    "lighthouse keeper",
    "ferry captain",
    "violinist",
    "beekeeper",
    "cartographer",
    "translator",
    "taxi driver",
    "baker",
    "architect",
    "astronomer",
    "mail carrier",
    "mechanic",
    "chess player",
    "night watchman",
    "journalist",
    "magician",
    "pilot",
    "diver",
    "librarian",
    "chef",
    "tailor",
    "fisherman",
    "farmer",
    "surgeon",
    "botanist",
    "radio host",
    "clockmaker",
    "bus driver",
    "stage actor",
    "photographer",
    "mountain guide",
    "sculptor",
    "typist",
    "locksmith",
    "florist",
    "pianist",
    "ranger",
    "geologist",
    "hotel manager",
    "stunt driver",
    "piano teacher",
    "zookeeper",
    "watchmaker",
    "museum guard",
    "harbor pilot",
    "tax inspector",
    "glassblower",
    "puppeteer",
    "sommelier",
    "weather forecaster",
    "organist",
    "archivist",
    "pharmacist",
    "plumber",
    "blacksmith",
    "tour guide",
    "court stenographer",
    "seamstress",
    "jockey",
    "lumberjack",
    "surveyor",
    "diplomat",
    "ballet dancer",
    "saxophonist",
    "locomotive engineer",
    "janitor",
    "copy editor",
    "sound engineer",
    "crossword editor",
)

_PLOTS = (
    "returns to {place} after twenty years",
    "inherits a lighthouse on a remote island",
    "takes a job at a roadside motel",
    "moves to {place} to open a bakery",
    "offers to drive a neighbor across the country",
    "starts a band with three old classmates",
    "finds a map hidden inside an old piano",
    "trains for a chess tournament in {place}",
    "spends one summer on a fishing boat",
    "tries to finish a manuscript before the winter",
    "takes over the family vineyard",
    "chases a comet across the desert",
    "plans a museum heist in {place}",
    "delivers letters to a mountain village",
    "looks for a brother who vanished in {place}",
    "builds a radio telescope in a barn",
    "swaps houses with a stranger from {place}",
    "runs a ferry between two small islands",
    "goes back to school at the age of sixty",
    "tracks a rare bird through the marshes",
    "tutors the son of a banker",
    "sails single-handed from {place} to {destination}",
    "opens a cinema in a town without roads",
    "investigates a series of break-ins in {place}",
    "joins a traveling circus for one season",
    "rebuilds an old carousel with her father",
    "works the night shift at a hotel in {place}",
    "writes letters to a pen pal in {place}",
    "opens a bookshop in a converted church",
    "drives an ice cream truck through {place}",
    "learns to fly a seaplane",
    "rents a cabin on a frozen lake",
    "coaches a hockey team of retirees",
    "hitchhikes from {place} to {destination}",
    "paints a mural on a water tower",
    "organizes a reunion for her old choir",
    "maps the tunnels under {place}",
    "sells encyclopedias door to door",
    "drives a night bus across {place}",
    "builds a boat in the backyard",
    "moves into a houseboat in {place}",
    "keeps a diary of every train that passes",
    "tours with a marching band",
    "climbs a mountain with his grandfather",
    "records the sounds of a vanishing village",
    "teaches a parrot to recite poetry",
)

_COMPANIONS = tuple(
    """
dad mom sister brother grandmother grandfather wife husband girlfriend boyfriend roommate cousin
uncle aunt neighbor coworker son daughter grandson nephew niece stepmom flatmate granddaughter
stepdad
""".split()
) + ("book club", "film club", "older brother", "little sister", "teenage son")

_WHEN = (
    "last night",
    "last Friday",
    "last weekend",
    "over the break",
    "on a wet Sunday",
    "on a Tuesday night",
    "this afternoon",
    "on opening night",
    "a few weeks ago",
    "over the weekend",
    "yesterday",
    "on Saturday",
    "after work",
    "during a snowstorm",
    "on a slow Monday",
    "late on a Thursday",
    "over spring break",
    "on a snowy evening",
    "the other night",
    "before dinner",
    "on my day off",
    "in the middle of the week",
)

_WHERE = (
    "at the local cinema",
    "on a long flight to {place}",
    "at a drive-in outside {place}",
    "on my laptop",
    "at home",
    "on a train to {place}",
    "in a half-full theater",
    "at an old movie house in {place}",
    "on the couch",
    "at a small theater downtown",
    "in a hotel room in {place}",
    "on a tiny screen on the bus",
)

_OCCASIONS = (
    "movie night",
    "our anniversary",
    "family night",
    "a birthday",
    "a long weekend",
    "our monthly film night",
    "a sleepover",
    "a snowed-in evening",
    "a slow Sunday",
)

_SCREENINGS = (
    "a late screening",
    "an early screening",
    "a midnight screening",
    "the local film society",
    "a preview screening",
    "a matinee",
    "a student screening",
)

_SOURCES = ("book", "comic", "short story", "novella", "memoir", "radio serial")

_ORDINALS = ("second", "third", "fourth", "fifth", "sixth", "first")

_DECADES = ("1920s", "1950s", "1960s", "1970s", "1980s", "1990s")

_GENRES = (
    ("western", "westerns"),
    ("mystery", "mysteries"),
    ("heist movie", "heist movies"),
    ("coming-of-age story", "coming-of-age stories"),
    ("period piece", "period pieces"),
    ("science fiction film", "science fiction films"),
    ("musical", "musicals"),
    ("documentary", "documentaries"),
    ("animated feature", "animated features"),
    ("space opera", "space operas"),
    ("road movie", "road movies"),
    ("courtroom film", "courtroom films"),
    ("spy movie", "spy movies"),
    ("biopic", "biopics"),
    ("sports movie", "sports movies"),
    ("family film", "family films"),
    ("noir", "noirs"),
    ("caper", "capers"),
    ("monster movie", "monster movies"),
    ("chamber piece", "chamber pieces"),
    ("detective story", "detective stories"),
    ("small-town story", "small-town stories"),
)

# An opening template, how the first sentence goes on after it, and its tense. "clause" needs an
# independent clause, "vp" a verb phrase after "I", "expect" the object of "I expected", and
# "stop" is a whole neutral sentence. A past-tense story ("I went to see") keeps the review past;
# "any" lets the review pick.
_OPENERS = (
    ("I went to see {title} with my {companion} {when}, and", "clause", "past"),
    ("I watched {title} {where} {when}, and", "clause", "past"),
    ("My {companion} picked {title} for {occasion}, and", "clause", "past"),
    ("Going into {title}, I expected", "expect", "past"),
    ("Going into this one, I expected", "expect", "past"),
    ("As someone who watches a lot of {genres}, I", "vp", "any"),
    ("As a long-time follower of {director}, I", "vp", "any"),
    ("The story follows {a_trait} {occupation} who {plot}.", "stop", "present"),
    ("The story follows {a_trait} {occupation} who {plot}, and", "clause", "present"),
    ("{title} is {a_genre} about {a_trait} {occupation} who {plot}.", "stop", "present"),
    ("Directed by {director}, {title} is the story of {a_occupation} in {place}.", "stop", "any"),
    ("Set in {place} in the {decade}, {title} follows {a_occupation} who {plot}.", "stop", "any"),
    ("I finally caught up with {title} {when}, and", "clause", "past"),
    ("This is the {ordinal} film by {director} that I have seen, and", "clause", "present"),
    ("Having read the {source} first, I", "vp", "any"),
    ("I rented {title} on a whim {when}, and", "clause", "past"),
    ("{actor} stars as {character}, {a_occupation} who {plot}, and", "clause", "present"),
    ("I saw {title} at {screening} {when}, and", "clause", "past"),
    ("I knew nothing about {title} before my {companion} put it on, and", "clause", "past"),
    ("After hearing about it from my {companion}, I", "vp", "past"),
    ("We watched {title} on {occasion}, and", "clause", "past"),
    ("My {companion} and I went to {title} {when}, and", "clause", "past"),
    ("{title} is the new {genre} from {director}, and", "clause", "present"),
    ("The new {genre} from {director} follows {a_occupation} who {plot}.", "stop", "any"),
    ("I had heard a lot about {title} before going in, and", "clause", "past"),
    ("In {title}, {actor} stars as {a_occupation} who {plot}.", "stop", "any"),
    ("Based on a {source} by {author}, {title} follows {a_occupation} who {plot}.", "stop", "any"),
    ("Going into {title}, I knew only that it was {a_genre}, and", "clause", "past"),
    ("So I finally sat down to watch {title} {when}, and", "clause", "past"),
    ("My {companion} talked about {title} for months, so I gave it a try, and", "clause", "past"),
    ("{title} runs about two hours and stars {actor} as {a_occupation} in {place}.", "stop", "any"),
    ("The trailer for {title} suggested {a_genre} about {a_occupation}, and", "clause", "past"),
)

# --------------------------------------------------------------------------------------------
# Evaluative pools.
# --------------------------------------------------------------------------------------------

# (noun phrase, plural, aspect-specific praise, aspect-specific criticism)
_ASPECTS = tuple(
    (phrase, plural, tuple(pos.split()), tuple(neg.split()))
    for phrase, plural, pos, neg in (
        ("the acting", False, "natural understated committed", "wooden stiff hammy incompetent"),
        ("the performances", True, "natural committed fearless", "wooden stiff hammy lifeless"),
        ("the plot", False, "tight twisty inventive", "convoluted predictable idiotic"),
        ("the story", False, "engrossing heartfelt involving", "predictable thin muddled"),
        ("the script", False, "sharp witty smart", "clumsy lazy dumb"),
        ("the screenplay", False, "sharp witty intelligent", "clumsy lazy stupid"),
        ("the dialogue", False, "sharp witty natural", "clunky stilted corny"),
        ("the score", False, "haunting soaring lovely", "intrusive syrupy repetitive"),
        ("the soundtrack", False, "catchy lovely eclectic", "intrusive grating annoying"),
        ("the music", False, "soaring lovely beautiful", "intrusive syrupy irritating"),
        ("the cinematography", False, "gorgeous luminous striking", "murky drab ugly"),
        ("the camera work", False, "elegant fluid striking", "shaky murky nauseating"),
        ("the editing", False, "crisp tight precise", "choppy sloppy jarring"),
        ("the pacing", False, "brisk assured patient", "sluggish glacial dreary"),
        ("the ending", False, "satisfying moving perfect", "rushed abrupt infuriating"),
        ("the final act", False, "satisfying thrilling moving", "rushed messy ludicrous"),
        ("the opening scene", False, "gripping stunning bold", "confusing slow flat"),
        ("the characters", True, "vivid believable likable", "flat unlikable annoying"),
        ("the villain", False, "menacing memorable chilling", "cartoonish silly toothless"),
        ("the visual effects", True, "seamless dazzling convincing", "cheap dated unconvincing"),
        ("the special effects", True, "seamless dazzling convincing", "cheap dated lame"),
        ("the costumes", True, "gorgeous inventive lavish", "cheap drab garish"),
        ("the set design", False, "gorgeous inventive lavish", "cheap drab garish"),
        ("the production design", False, "gorgeous inventive detailed", "cheap drab shoddy"),
        ("the direction", False, "assured confident elegant", "aimless clumsy heavy-handed"),
        ("the humor", False, "sly warm clever", "forced crude juvenile"),
        ("the jokes", True, "sly clever funny", "forced crude lame"),
        ("the romance", False, "tender sweet believable", "forced syrupy unconvincing"),
        ("the fight scenes", True, "thrilling crisp inventive", "choppy incoherent tedious"),
        ("the action sequences", True, "thrilling crisp inventive", "choppy incoherent tedious"),
        ("the twist", False, "clever surprising earned", "obvious silly stupid"),
        ("the sound design", False, "immersive rich precise", "muddy shrill distracting"),
        ("the lighting", False, "beautiful striking expressive", "flat murky ugly"),
        ("the chemistry between the leads", False, "electric warm easy", "awkward flat forced"),
        ("the first half", False, "gripping absorbing brisk", "slow tedious sluggish"),
        ("the second half", False, "gripping thrilling moving", "slow tedious sluggish"),
        ("the premise", False, "fresh intriguing original", "silly stale tired"),
        ("the world-building", False, "rich immersive detailed", "thin confusing lazy"),
        ("the supporting cast", False, "terrific lively excellent", "wasted bland forgettable"),
        ("the tone", False, "assured consistent confident", "uneven jarring gloomy"),
        ("the lead performance", False, "magnetic fearless luminous", "wooden lifeless grating"),
        ("the cast", False, "terrific talented superb", "uneven bland wasted"),
    )
)

# Adjectives that can describe any aspect or the film itself.
_PRAISE = tuple(
    """
great excellent superb wonderful brilliant fantastic terrific outstanding impressive solid
strong memorable effective flawless masterful remarkable satisfying beautiful lovely charming
delightful moving touching gripping engaging compelling clever fresh inventive original stunning
polished thoughtful enjoyable entertaining smart powerful marvelous exceptional splendid
exquisite sublime riveting captivating absorbing rewarding stylish accomplished magnificent
phenomenal extraordinary breathtaking dazzling ambitious confident graceful inspired
witty luminous soulful tender dynamic rousing nimble lyrical majestic intelligent affecting bold
daring audacious vibrant refreshing irresistible spellbinding unforgettable exhilarating hilarious
sweet warm joyous wise generous humane sensitive meticulous heartwarming funny gorgeous
""".split()
)

_CRITICISM = tuple(
    """
bad terrible awful dreadful dull boring tedious bland flat lifeless clumsy messy sloppy lazy weak
shallow predictable forgettable generic stale tired hollow cheap awkward confusing pointless
pretentious bloated plodding annoying irritating painful horrible mediocre uninspired lackluster
derivative contrived unconvincing silly ridiculous laughable embarrassing disappointing
frustrating underwhelming uneven trite repetitive amateurish ugly lame stupid pathetic lousy poor
dumb joyless charmless dreary miserable ludicrous flawed mindless tiresome unpleasant horrendous
clunky grating tone-deaf ham-fisted listless limp sluggish overlong overwrought melodramatic
cartoonish incoherent nonsensical hackneyed formulaic soulless tacky cheesy corny shoddy slapdash
half-baked muddled unfocused aimless dismal dire woeful insufferable unwatchable excruciating
unbearable grim cynical manipulative smug hokey preachy
""".split()
)

_INTENSIFIERS = (
    "very",
    "really",
    "incredibly",
    "extremely",
    "unusually",
    "genuinely",
    "remarkably",
    "utterly",
    "absolutely",
    "thoroughly",
    "so",
    "quite",
    "exceptionally",
    "completely",
    "deeply",
)
_DOWNTONERS = (
    "somewhat",
    "a bit",
    "slightly",
    "rather",
    "fairly",
    "a little",
    "kind of",
    "mildly",
    "moderately",
    "sort of",
    "a touch",
)
# Modifiers that read well between an article and its adjective ("a rather dull mystery").
_ATTRIBUTIVE_DEGREES = (
    "very",
    "really",
    "incredibly",
    "extremely",
    "unusually",
    "genuinely",
    "remarkably",
    "utterly",
    "thoroughly",
    "exceptionally",
    "somewhat",
    "slightly",
    "rather",
    "fairly",
    "mildly",
)

_PRAISE_NOUNS = ("triumph", "gem", "delight", "treat", "joy", "pleasure", "masterpiece", "surprise")
_CRITICISM_NOUNS = ("mess", "disappointment", "chore", "slog", "letdown", "disaster", "failure")

_SCENES = (
    "the diner scene",
    "the wedding sequence",
    "the chase through the market",
    "the dinner party",
    "the train sequence",
    "the rooftop confrontation",
    "the courtroom scene",
    "the dance number",
    "the long take in the corridor",
    "the flashback to {character}'s childhood",
    "the storm sequence",
    "the scene at the lighthouse",
    "the opening credits",
    "the final shot",
    "the montage in the middle",
    "the argument in the kitchen",
    "the heist itself",
    "the farewell at the station",
    "the snowball fight",
    "the car chase",
    "the boxing match",
    "the hospital scene",
    "the scene in the elevator",
    "the funeral",
    "the karaoke scene",
)

# --------------------------------------------------------------------------------------------
# Grammar.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Film:
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


_Aspect = tuple[str, bool, tuple[str, ...], tuple[str, ...]]


def _article(phrase: str) -> str:
    """``phrase`` with "a" or "an" in front."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _name(r: random.Random) -> str:
    return f"{r.choice(_FIRST_NAMES)} {r.choice(_SURNAMES)}"


def _title(r: random.Random) -> str:
    shape = r.randrange(7)
    if shape == 0:
        return f"{r.choice(_TITLE_NOUNS)} of {r.choice(_PLACES)}"
    if shape == 1:
        return f"{r.choice(_FIRST_NAMES)} and the {r.choice(_TITLE_NOUNS)}"
    if shape == 2:
        return f"{r.choice(_TITLE_ADJECTIVES)} {r.choice(_TITLE_NOUNS)}"
    if shape == 3:
        return f"Beyond the {r.choice(_TITLE_NOUNS)}"
    if shape == 4:
        return f"Midnight in {r.choice(_PLACES)}"
    return f"The {r.choice(_TITLE_ADJECTIVES)} {r.choice(_TITLE_NOUNS)}"


def _film(r: random.Random, past: bool) -> _Film:
    genre, genres = r.choice(_GENRES)
    return _Film(
        title=_title(r),
        other=_title(r),
        genre=genre,
        genres=genres,
        actor=_name(r),
        character=r.choice(_FIRST_NAMES),
        director=_name(r),
        companion=r.choice(_COMPANIONS),
        past=past,
    )


def _be(film: _Film, plural: bool, negated: bool = False) -> str:
    verb = ("were" if plural else "was") if film.past else ("are" if plural else "is")
    return verb + "n't" if negated else verb


def _degree(r: random.Random) -> str:
    """An empty, intensifying or downtoning modifier for a predicate, with its trailing space."""
    roll = r.random()
    if roll < 0.45:
        return ""
    if roll < 0.8:
        return r.choice(_INTENSIFIERS) + " "
    return r.choice(_DOWNTONERS) + " "


def _a_modified(r: random.Random, adjective: str) -> str:
    """ "a rather dull", "an utterly charming" or just "a dull"."""
    if r.random() < 0.5:
        return _article(adjective)
    return _article(f"{r.choice(_ATTRIBUTIVE_DEGREES)} {adjective}")


def _adjective(r: random.Random, aspect: _Aspect, polarity: int) -> str:
    """An adjective of the given polarity that fits ``aspect``."""
    specific = aspect[2] if polarity > 0 else aspect[3]
    if r.random() < 0.5:
        return r.choice(specific)
    return r.choice(_PRAISE if polarity > 0 else _CRITICISM)


def _aspect_clause(r: random.Random, film: _Film, polarity: int, aspect: _Aspect) -> str:
    """ "the score was haunting", or a denied opposite: "the pacing was never sluggish"."""
    phrase, plural = aspect[0], aspect[1]
    if r.random() < 0.7:
        return f"{phrase} {_be(film, plural)} {_degree(r)}{_adjective(r, aspect, polarity)}"
    opposite = _adjective(r, aspect, -polarity)
    shape = r.randrange(4 if polarity < 0 else 3)
    if polarity > 0:
        if shape == 0:
            return f"{phrase} {_be(film, plural, negated=True)} {opposite} at all"
        if shape == 1:
            return f"{phrase} {_be(film, plural)} never {opposite}"
        return f"{phrase} {_be(film, plural)} not {opposite} in the slightest"
    if shape == 0:
        degree = r.choice(("very ", "particularly ", ""))
        return f"{phrase} {_be(film, plural)} not {degree}{opposite}"
    if shape == 1:
        return f"{phrase} {_be(film, plural, negated=True)} {opposite}"
    if shape == 2:
        return f"{phrase} {_be(film, plural)} hardly {opposite}"
    return f"{phrase} {_be(film, plural)} not nearly as {opposite} as the trailer suggested"


def _film_clause(r: random.Random, film: _Film, polarity: int) -> str:
    """A clause about the film as a whole."""
    it_was = "it was" if film.past else "it is"
    shape = r.randrange(5)
    if polarity > 0:
        if shape == 0:
            return f"{it_was} {_a_modified(r, r.choice(_PRAISE))} {film.genre}"
        if shape == 1:
            how = r.choice(("more than I expected", "a lot", "from start to finish", "immensely"))
            return f"I {r.choice(('enjoyed', 'loved', 'liked', 'admired'))} it {how}"
        if shape == 2:
            return f"{it_was} {_article(r.choice(_PRAISE_NOUNS))}"
        if shape == 3:
            return f"{it_was} not {r.choice(_CRITICISM)} at all"
        return f"{it_was} never {r.choice(('dull', 'boring', 'tedious', 'predictable'))}"
    if shape == 0:
        return f"{it_was} {_a_modified(r, r.choice(_CRITICISM))} {film.genre}"
    if shape == 1:
        return "I " + r.choice(
            (
                "did not enjoy it",
                "could not wait for it to end",
                "did not care for it",
                "was bored within minutes",
                "regretted it",
                "hated it",
            )
        )
    if shape == 2:
        degree = r.choice(("complete ", "total ", ""))
        return f"{it_was} {_article(degree + r.choice(_CRITICISM_NOUNS))}"
    if shape == 3:
        merit = r.choice(("good", "fun", "funny", "entertaining", "interesting"))
        return f"{it_was} not {merit} at all"
    return f"{it_was} hardly worth the {r.choice(('ticket', 'time', 'effort', 'hype'))}"


def _contrast_clause(r: random.Random, film: _Film, polarity: int) -> str:
    """A mixed clause that ends up on ``polarity``: concede the opposite, then turn."""
    first, second = r.sample(_ASPECTS, 2)
    conceded = _aspect_clause(r, film, -polarity, first)
    if r.random() < 0.7:
        main = _aspect_clause(r, film, polarity, second)
    else:
        main = _film_clause(r, film, polarity)
    shape = r.randrange(4)
    if shape == 0:
        return f"{conceded}, but {main}"
    if shape == 1:
        return f"although {conceded}, {main}"
    if shape == 2:
        return f"even though {conceded}, {main}"
    return f"{conceded}; however, {main}"


def _clause(r: random.Random, film: _Film, polarity: int, mixed: bool) -> str:
    """An independent clause of the given polarity, lower-case, without final punctuation."""
    if mixed:
        return _contrast_clause(r, film, polarity)
    roll = r.random()
    if roll < 0.55:
        return _aspect_clause(r, film, polarity, r.choice(_ASPECTS))
    if roll < 0.65:
        return "frankly, " + _aspect_clause(r, film, polarity, r.choice(_ASPECTS))
    return _film_clause(r, film, polarity)


def _verb_phrase(r: random.Random, film: _Film, polarity: int, mixed: bool) -> str:
    """What follows an opening that ends in "I"."""
    if mixed:
        return "have to say that " + _contrast_clause(r, film, polarity)
    aspect = r.choice(_ASPECTS)
    shape = r.randrange(5)
    if shape == 0:
        feeling = r.choice(
            ("impressed", "moved", "charmed", "delighted", "won over")
            if polarity > 0
            else ("disappointed", "bored", "annoyed", "underwhelmed", "let down")
        )
        return f"was {_degree(r)}{feeling} by {aspect[0]}"
    if shape == 1:
        return f"found {aspect[0]} {_degree(r)}{_adjective(r, aspect, polarity)}"
    if shape == 2:
        if polarity > 0:
            return "enjoyed it " + r.choice(("more than I expected", "a great deal", "far more than I thought I would"))
        return r.choice(("did not enjoy it at all", "came away disappointed", "was bored for most of it"))
    if shape == 3:
        adjective = r.choice(_PRAISE if polarity > 0 else _CRITICISM)
        return f"think it is {_a_modified(r, adjective)} {film.genre}"
    return "have to say that " + _clause(r, film, polarity, mixed=False)


def _expectation(r: random.Random, film: _Film, polarity: int, mixed: bool) -> str:
    """What follows "I expected": a high or low expectation, then met or confounded."""
    high = r.random() < 0.5
    if high:
        hope = r.choice(
            (
                "a lot",
                "great things",
                f"a lot from {film.director}",
                "a modern classic",
                "something special",
            )
        )
    else:
        hope = r.choice(
            (
                "very little",
                "a dud",
                f"another forgettable {film.genre}",
                "nothing special",
                "a cheap knockoff",
            )
        )
    if high == (polarity > 0):
        if high and not mixed and r.random() < 0.4:
            outcome = r.choice(("delivered", "did not disappoint", "lived up to it"))
            return f"{hope}, and it {outcome}"
        return f"{hope}, and {_clause(r, film, polarity, mixed)}"
    return f"{hope}, but {_clause(r, film, polarity, mixed)}"


# Body sentences: each takes (rng, film, polarity) and returns a finished sentence.


def _aspect_sentence(r: random.Random, film: _Film, polarity: int) -> str:
    end = "!" if polarity > 0 and r.random() < 0.15 else "."
    return _cap(_aspect_clause(r, film, polarity, r.choice(_ASPECTS))) + end


def _contrast_sentence(r: random.Random, film: _Film, polarity: int) -> str:
    return _cap(_contrast_clause(r, film, polarity)) + "."


def _concession(r: random.Random, film: _Film, polarity: int) -> str:
    """Grant the film a flaw (or a merit) in general, then turn to ``polarity``."""
    concession = "It is not perfect, but" if polarity > 0 else "It has its moments, but"
    return f"{concession} {_clause(r, film, polarity, mixed=False)}."


def _actor_sentence(r: random.Random, film: _Film, polarity: int) -> str:
    adjective = r.choice(_PRAISE if polarity > 0 else _CRITICISM)
    shape = r.randrange(3)
    if shape == 0:
        verb = "gave" if film.past else "gives"
        return f"{film.actor} {verb} {_a_modified(r, adjective)} performance as {film.character}."
    if shape == 1:
        return f"{film.actor} {_be(film, False)} {_degree(r)}{adjective} as {film.character}."
    if polarity > 0:
        return f"{film.actor} {_be(film, False)} never {r.choice(_CRITICISM)} as {film.character}."
    return f"{film.actor} {_be(film, False, negated=True)} {r.choice(_PRAISE)} as {film.character}."


def _scene_sentence(r: random.Random, film: _Film, polarity: int) -> str:
    scene = r.choice(_SCENES).format(character=film.character)
    if r.random() < 0.5:
        adjective = r.choice(_PRAISE if polarity > 0 else _CRITICISM)
        return f"{_cap(scene)} {_be(film, False)} {_degree(r)}{adjective}."
    if polarity > 0:
        return _cap(scene) + r.choice(
            (
                " is worth the price of admission on its own.",
                " had me on the edge of my seat.",
                " is one of the best things I have seen all year.",
                " made the whole theater gasp.",
            )
        )
    return _cap(scene) + r.choice(
        (
            " goes on far too long.",
            " makes no sense at all.",
            " is where I gave up on it.",
            " is badly staged and worse edited.",
        )
    )


def _reaction(r: random.Random, film: _Film, polarity: int) -> str:
    """How watching it felt, in the first person."""
    if polarity > 0:
        return r.choice(
            (
                "It made me laugh, cry and think.",
                "I was grinning from ear to ear.",
                "I have not stopped thinking about it since.",
                "The two hours flew by.",
                "I left the theater smiling.",
            )
        )
    return r.choice(
        (
            "I checked my watch every ten minutes.",
            "I nearly walked out.",
            "It felt twice as long as it was.",
            "I was bored out of my mind.",
            "I want those two hours back.",
            "I hated almost every minute of it.",
            "It was a miserable way to spend an evening.",
        )
    )


def _comparison(r: random.Random, film: _Film, polarity: int) -> str:
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
        return f"It is nowhere near as {r.choice(_PRAISE)} as {film.other}."
    if shape == 2:
        return f"Just watch {film.other} instead."
    return f"Compared to {film.other}, this one feels {_degree(r)}{r.choice(_CRITICISM)}."


def _company(r: random.Random, film: _Film, polarity: int) -> str:
    who = f"My {film.companion}"
    if polarity > 0:
        return r.choice(
            (
                f"{who} laughed the whole way through.",
                f"{who} has not stopped talking about it.",
                f"{who} already wants to see it again.",
                "We talked about it all the way home.",
                f"{who} called it the best film of the year.",
            )
        )
    return r.choice(
        (
            f"{who} fell asleep after twenty minutes.",
            f"Halfway through, my {film.companion} asked if we could leave.",
            "We walked out before the end.",
            f"{who} kept checking the time.",
            f"{who} called it a waste of an evening.",
            f"{who} hated it even more than I did.",
        )
    )


def _question(r: random.Random, film: _Film, polarity: int) -> str:
    if polarity > 0:
        return r.choice(
            (
                f"What more could you want from {_article(film.genre)}?",
                f"Who knew {_article(film.genre)} could be this {r.choice(_PRAISE)}?",
                "When was the last time a film made you care this much?",
            )
        )
    aspect = r.choice(_ASPECTS)
    return r.choice(
        (
            f"Who signed off on {aspect[0]}?",
            "Did anyone read the script before filming it?",
            f"Why does every {film.genre} these days feel so {r.choice(_CRITICISM)}?",
        )
    )


def _list_sentence(r: random.Random, film: _Film, polarity: int) -> str:
    first, second, third = r.sample(_ASPECTS, 3)
    if r.random() < 0.5:
        verb = "were" if film.past else "are"
        word = r.choice(_PRAISE if polarity > 0 else _CRITICISM)
        return f"{_cap(first[0])}, {second[0]} and {third[0]} {verb} all {word}."
    # "Clever twist, strong premise and moving cinematography": adjectives before the bare nouns.
    a, b, c = (f"{_adjective(r, aspect, polarity)} {aspect[0][4:]}" for aspect in (first, second, third))
    return f"{_cap(a)}, {b} and {c}."


def _verdict(r: random.Random, film: _Film, polarity: int) -> str:
    shape = r.randrange(4)
    if polarity > 0:
        if shape == 0:
            return f"Overall, {_a_modified(r, r.choice(_PRAISE))} {film.genre}."
        if shape == 1:
            return f"{film.title} is {_article(r.choice(_PRAISE_NOUNS))}."
        if shape == 2:
            return r.choice(
                (
                    "I loved every minute of it.",
                    "A real pleasure from start to finish!",
                    "Not a wasted minute.",
                )
            )
        return f"I would give it {r.randint(7, 10)} out of 10."
    if shape == 0:
        return f"Overall, {_a_modified(r, r.choice(_CRITICISM))} {film.genre}."
    if shape == 1:
        return f"{film.title} is {_article(r.choice(_CRITICISM_NOUNS))}."
    if shape == 2:
        return r.choice(
            (
                "What a waste of two hours.",
                "A complete waste of time.",
                "It is not good, and it is not fun.",
            )
        )
    return f"I would give it {r.randint(1, 4)} out of 10."


def _recommendation(r: random.Random, film: _Film, polarity: int) -> str:
    if polarity > 0:
        return r.choice(
            (
                f"I would recommend it to anyone who enjoys {film.genres}.",
                "Highly recommended!",
                "Definitely worth a watch.",
                "Go see it on the biggest screen you can find!",
                f"Do not miss it, even if {film.genres} are not usually your thing.",
            )
        )
    return r.choice(
        (
            "Spend your evening on something else.",
            "Skip this one.",
            "I cannot recommend it.",
            "Not worth the ticket price.",
            f"Even fans of {film.genres} should give this one a miss.",
        )
    )


def _fact(r: random.Random, film: _Film, polarity: int) -> str:
    """A neutral remark; ``polarity`` is ignored."""
    return r.choice(
        (
            "It runs just under two hours.",
            f"It is based on a {r.choice(_SOURCES)} by {_name(r)}.",
            f"It was shot in {r.choice(_PLACES)} over one summer.",
            f"{film.actor} also appears in {film.other}.",
            f"The music is by {_name(r)}.",
            f"It is {film.director}'s {r.choice(_ORDINALS)} feature.",
            f"It premiered in {r.choice(_PLACES)} last spring.",
            f"The cast also includes {_name(r)} and {_name(r)}.",
            "It was made on a tiny budget.",
            f"It is in {r.choice(('French', 'Portuguese', 'Norwegian', 'Korean'))} with subtitles.",
        )
    )


def _audience(r: random.Random, film: _Film, polarity: int) -> str:
    """Who the film is for."""
    if polarity > 0:
        return r.choice(
            (
                "Kids and grown-ups alike will love it.",
                f"Fans of {film.director} will be thrilled.",
                f"Anyone who grew up on {film.genres} will find plenty to cherish here.",
                "Audiences at my screening applauded at the end.",
            )
        )
    return r.choice(
        (
            f"Even die-hard fans of {film.director} will be bored.",
            "Only the most patient viewers will make it to the end.",
            "Younger viewers will be restless and older ones will be annoyed.",
            "Half the audience at my screening had left by the end.",
        )
    )


_Shape = Callable[[random.Random, _Film, int], str]
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


def _opening(r: random.Random) -> tuple[_Film, str, str]:
    """The review's film, its opening text, and how the first sentence goes on."""
    template, kind, tense = r.choice(_OPENERS)
    film = _film(r, past=tense == "past" or (tense == "any" and r.random() < 0.5))
    origin, destination = r.sample(_PLACES, 2)
    text = template.format(
        title=film.title,
        companion=film.companion,
        when=r.choice(_WHEN),
        where=r.choice(_WHERE).format(place=r.choice(_PLACES)),
        occasion=r.choice(_OCCASIONS),
        genre=film.genre,
        genres=film.genres,
        a_genre=_article(film.genre),
        director=film.director,
        author=_name(r),
        actor=film.actor,
        character=film.character,
        a_trait=_article(r.choice(_TRAITS)),
        occupation=r.choice(_OCCUPATIONS),
        a_occupation=_article(r.choice(_OCCUPATIONS)),
        plot=r.choice(_PLOTS).format(place=origin, destination=destination),
        place=r.choice(_PLACES),
        decade=r.choice(_DECADES),
        ordinal=r.choice(_ORDINALS),
        screening=r.choice(_SCREENINGS),
        source=r.choice(_SOURCES),
    )
    return film, text, kind


def _pick_shape(r: random.Random, table: _Table, used: list[_Shape]) -> _Shape:
    shapes, weights = zip(*table)
    while True:
        shape = r.choices(shapes, weights)[0]
        if shape in _REPEATABLE or shape not in used:
            return shape


_CONTINUATIONS = {"clause": _clause, "vp": _verb_phrase, "expect": _expectation}


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


# --------------------------------------------------------------------------------------------
# Prompts.
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def _tokens(text: str) -> list[str]:
    """Lower-cased alphabetic tokens; "wasn't" and "coming-of-age" are one token each."""
    return _TOKEN.findall(text.lower())


def _opening_vocabulary() -> frozenset[str]:
    pools = (
        _FIRST_NAMES,
        _SURNAMES,
        _TITLE_ADJECTIVES,
        _TITLE_NOUNS,
        _PLACES,
        _TRAITS,
        _OCCUPATIONS,
        _PLOTS,
        _COMPANIONS,
        _WHEN,
        _WHERE,
        _OCCASIONS,
        _SCREENINGS,
        _SOURCES,
        _ORDINALS,
        [genre for pair in _GENRES for genre in pair],
        [template for template, _, _ in _OPENERS],
        ["of and the beyond midnight in a an"],  # words that ``_title`` and ``_article`` add
    )
    phrases = (re.sub(r"{\w+}", " ", phrase) for pool in pools for phrase in pool)
    return frozenset(token for phrase in phrases for token in _tokens(phrase))


# Every word an opening can contain. None is in VADER's lexicon, so any run of them scores 0.
OPENING_WORDS = _opening_vocabulary()


def _neutral_run(words: list[str]) -> int:
    """How many leading words of a review are opening words."""
    for i, word in enumerate(words):
        token = word.strip(".,;:!?").lower()
        if token.endswith("'s"):
            token = token[:-2]
        if token not in OPENING_WORDS:
            return i
    return len(words)


def split_prompt(review: str, rng: random.Random, min_words: int = 2, max_words: int = 8) -> tuple[str, str]:
    """Cut ``review`` into a neutral prompt and its continuation; ``prefix + " " + rest == review``.

    The cut falls after ``k`` words, ``k`` uniform from ``min_words`` up to the least of
    ``max_words`` and the review's leading run of opening words (which VADER scores 0). Where that
    run is shorter than ``min_words`` (never in generated reviews) ``k`` is ``min_words``. The
    continuation always keeps at least one word.
    """
    words = review.split(" ")
    if len(words) < 2:
        raise ValueError(f"cannot split a review of fewer than two words: {review!r}")
    low = min(min_words, len(words) - 1)
    high = max(low, min(max_words, _neutral_run(words), len(words) - 1))
    k = rng.randint(low, high)
    return " ".join(words[:k]), " ".join(words[k:])


# --------------------------------------------------------------------------------------------
# Statistics for the base-model build report.
# --------------------------------------------------------------------------------------------

_NEGATION = re.compile(r"\b(?:not|never|no|nothing|nowhere|hardly|cannot|\w+n't)\b")
_CONTRAST = re.compile(r"\b(?:but|although|though|however|yet|whereas)\b")
_DEGREE = re.compile(r"\b(?:" + "|".join(_INTENSIFIERS + _DOWNTONERS) + r")\b")


def _share(reviews: list[str], pattern: re.Pattern[str]) -> float:
    return sum(1 for text in reviews if pattern.search(text.lower())) / max(len(reviews), 1)


def corpus_stats(reviews: list[str]) -> dict[str, float]:
    """Summary numbers for a corpus, for the base-model build report.

    ``positive_fraction`` is the share of VADER-positive reviews among those VADER calls polar
    (|compound| > 0.05). ``strong_positive_fraction``, ``strong_negative_fraction`` and
    ``near_neutral_fraction`` split all reviews at compound 0.5 and -0.5. The negation, contrast
    and intensifier fractions count reviews with at least one such word; intensifiers include
    downtoners ("somewhat", "a bit").
    """
    analyzer = SentimentIntensityAnalyzer()
    compounds = [analyzer.polarity_scores(text)["compound"] for text in reviews]
    polar = [c for c in compounds if abs(c) > 0.05]
    count = max(len(reviews), 1)
    vocabulary = {token for text in reviews for token in _tokens(text)}
    return {
        "num_reviews": float(len(reviews)),
        "num_distinct": float(len(set(reviews))),
        "vocab_size": float(len(vocabulary)),
        "mean_words": sum(len(text.split()) for text in reviews) / count,
        "positive_fraction": sum(1 for c in polar if c > 0) / max(len(polar), 1),
        "strong_positive_fraction": sum(1 for c in compounds if c > 0.5) / count,
        "strong_negative_fraction": sum(1 for c in compounds if c < -0.5) / count,
        "near_neutral_fraction": sum(1 for c in compounds if abs(c) <= 0.5) / count,
        "negation_fraction": _share(reviews, _NEGATION),
        "contrast_fraction": _share(reviews, _CONTRAST),
        "intensifier_fraction": _share(reviews, _DEGREE),
    }
