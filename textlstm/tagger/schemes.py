"""Entity tag schemes (IOB1, IOB2/BIO, BIOES/IOBES): spans, conversion, checks and repair.

An entity tag is "O" or PREFIX-TYPE, where PREFIX is one of B, I, E, S and TYPE is split off
at the first hyphen only, so WNUT-17's "B-creative-work" has type "creative-work".

Span reading follows conlleval (and seqeval's default mode): it is lenient and the same for all
three schemes. A chunk starts at B- or S-, at I-/E- after O, E- or S-, and wherever the type
changes; it ends before B-, S- or O, after E- or S-, and wherever the type changes. So an I-X
after O opens a new X entity instead of being dropped, which is what the published scores count.
Conversion and repair read spans this way and write them back in the target scheme.
"""

from textlstm.errors import UserError

OUTSIDE = "O"
SCHEMES = ("IOB1", "IOB2", "BIOES")
ALIASES = {"IOB1": "IOB1", "IOB2": "IOB2", "BIO": "IOB2", "BIOES": "BIOES", "IOBES": "BIOES"}
PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES"}


def normalize_scheme(name):
    """The canonical scheme name ("IOB1", "IOB2" or "BIOES") for a name or alias, any case."""
    canonical = ALIASES.get(str(name).upper())
    if canonical is None:
        raise UserError(f"unknown tag scheme {name!r}; expected one of IOB1, IOB2 (BIO), BIOES (IOBES)")
    return canonical


def split_tag(tag):
    """(prefix, type) of an entity tag; ("O", None) for the outside tag.

    Raises UserError for anything that is not "O" or B-/I-/E-/S- followed by a type.
    """
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, hyphen, entity_type = tag.partition("-")
    if len(prefix) != 1 or prefix not in "BIES" or not hyphen or not entity_type:
        raise UserError(f"tag {tag!r} is not an entity tag: expected 'O' or B-/I-/E-/S-TYPE")
    return prefix, entity_type


def is_entity_tag(tag):
    """True for "O" and PREFIX-TYPE tags, False for anything else (e.g. POS tags)."""
    try:
        split_tag(tag)
    except UserError:
        return False
    return True


def _chunk_ends(prev_prefix, prev_type, prefix, entity_type):
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "S", OUTSIDE):
        return True
    return prev_prefix != OUTSIDE and prev_type != entity_type


def _chunk_starts(prev_prefix, prev_type, prefix, entity_type):
    if prefix in ("B", "S"):
        return True
    if prefix in ("I", "E") and prev_prefix in ("E", "S", OUTSIDE):
        return True
    return prefix != OUTSIDE and prev_type != entity_type


def spans(tags, scheme="IOB2"):
    """Entities in one tag sequence as (type, start, end_exclusive), read the conlleval way.

    The reading rules cover every prefix of the three schemes, so `scheme` is only checked for
    being a known name; ill-formed sequences (I-X after O) still give entities, as in conlleval.
    """
    normalize_scheme(scheme)
    found = []
    prev_prefix, prev_type, begin = OUTSIDE, None, 0
    for position, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, entity_type = split_tag(tag)
        if _chunk_ends(prev_prefix, prev_type, prefix, entity_type):
            found.append((prev_type, begin, position))
        if _chunk_starts(prev_prefix, prev_type, prefix, entity_type):
            begin = position
        prev_prefix, prev_type = prefix, entity_type
    return found


def encode_spans(entities, length, scheme):
    """Tags of length `length` that mark the given (type, start, end) entities in `scheme`."""
    scheme = normalize_scheme(scheme)
    tags = [OUTSIDE] * length
    previous_end, previous_type = None, None
    for entity_type, start, end in sorted(entities, key=lambda span: span[1]):
        if scheme == "BIOES" and end - start == 1:
            tags[start] = f"S-{entity_type}"
        else:
            for position in range(start, end):
                tags[position] = f"I-{entity_type}"
            touching_same_type = previous_end == start and previous_type == entity_type
            if scheme != "IOB1" or touching_same_type:
                tags[start] = f"B-{entity_type}"
            if scheme == "BIOES":
                tags[end - 1] = f"E-{entity_type}"
        previous_end, previous_type = end, entity_type
    return tags


def convert(tags, from_scheme, to_scheme):
    """The same entities written in another scheme (ill-formed input is repaired on the way)."""
    normalize_scheme(from_scheme)
    return encode_spans(spans(tags, from_scheme), len(tags), to_scheme)


def repair(tags, scheme):
    """A well-formed sequence in `scheme` with the entities conlleval reads from `tags`.

    For example in IOB2 an I-X after O becomes B-X; in BIOES a lone B-X becomes S-X.
    """
    return convert(tags, scheme, scheme)


def validate(tags, scheme):
    """Problems of `tags` under the strict rules of `scheme`, as (position, message) pairs."""
    scheme = normalize_scheme(scheme)
    problems = []
    allowed = PREFIXES[scheme]
    prev_prefix, prev_type = OUTSIDE, None
    for position, tag in enumerate(list(tags) + [OUTSIDE]):
        at_end = position == len(tags)
        try:
            prefix, entity_type = split_tag(tag)
        except UserError as error:
            problems.append((position, str(error)))
            prev_prefix, prev_type = OUTSIDE, None
            continue
        if prefix != OUTSIDE and prefix not in allowed:
            problems.append((position, f"prefix {prefix}- is not used in {scheme}"))
        continues = prev_prefix in ("B", "I") and prev_type == entity_type
        if scheme == "IOB2" and prefix == "I" and not continues:
            problems.append((position, f"{tag} does not follow B-{entity_type} or {tag}"))
        if scheme == "IOB1" and prefix == "B" and not continues:
            problems.append((position, f"{tag} in IOB1 must directly follow an entity of type {entity_type}"))
        if scheme == "BIOES":
            if prefix in ("I", "E") and not continues:
                problems.append((position, f"{tag} does not follow B-{entity_type} or I-{entity_type}"))
            if prev_prefix in ("B", "I") and not (prefix in ("I", "E") and continues):
                where = "the end" if at_end else tag
                problems.append(
                    (
                        position - 1,
                        f"{prev_prefix}-{prev_type} is followed by {where}, not I-{prev_type} or E-{prev_type}",
                    )
                )
        prev_prefix, prev_type = prefix, entity_type
    return problems


def detect_scheme(all_tag_sequences):
    """Guess the scheme of a corpus: "BIOES", "IOB1" or "IOB2"; None when tags are not entity tags.

    E-/S- prefixes mean BIOES. Otherwise the scheme whose strict rules are broken fewer times wins
    (IOB2 forbids I-X opening an entity, IOB1 forbids B-X opening one after O); ties give IOB2,
    which is also the answer for a corpus of only "O" tags.
    """
    iob1_breaks = iob2_breaks = 0
    seen_prefixes = set()
    for tags in all_tag_sequences:
        prev_prefix, prev_type = OUTSIDE, None
        for tag in tags:
            if not is_entity_tag(tag):
                return None
            prefix, entity_type = split_tag(tag)
            seen_prefixes.add(prefix)
            continues = prev_prefix in ("B", "I") and prev_type == entity_type
            if prefix == "I" and not continues:
                iob2_breaks += 1
            if prefix == "B" and not continues:
                iob1_breaks += 1
            prev_prefix, prev_type = prefix, entity_type
    if seen_prefixes & {"E", "S"}:
        return "BIOES"
    return "IOB1" if iob1_breaks < iob2_breaks else "IOB2"
