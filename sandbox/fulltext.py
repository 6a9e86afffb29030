"""Issue `search=` as GitLab runs it: PostgreSQL full-text search for Latin text.

GitLab's `IssuableFinder#by_search` uses `pg_full_text_search` when the term is Latin text
(FULL_TEXT_SEARCH_TERM_REGEX), else an ILIKE match (`full_search`). `PgFullTextSearchable` indexes
`to_tsvector('english', title) || to_tsvector('english', description)`: PostgreSQL's parser returns
HTML comments and tags as `tag` tokens, which the english configuration does not index, so a hidden
marker can never be found. The query drops a URL scheme and every character but `a-zA-Z0-9 .@/-"`
(so `:` and `=` split terms), and each term becomes a prefix term (`word:*`), joined with AND; a
quoted term is a phrase. Not modelled: the english stemmer (both sides keep the whole word).
"""

from __future__ import annotations

import re
import unicodedata

LATIN = re.compile(r"\A[\u0000-\u02FF\u1E00-\u1EFF\u2070-\u218F]*\Z")
LONG_WORDS = re.compile(r"[A-Za-z0-9+/@]{50,}")
URL_SCHEME = re.compile(r"(?:(?<=\A)|(?<=\W))\w+://(?=\w)")
DISALLOWED = re.compile(r"[^a-zA-Z0-9 .@/\-\"]")
QUOTED = re.compile(r'(?:(?<=\A)|(?<= ))"[^"]+"(?= |\Z)')
# What PostgreSQL's default parser returns as `tag` tokens: never indexed.
TAGS = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.S)
# A word, a host or a hyphenated compound (`incident-bot`: the whole and each part are lexemes).
WORD = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")
# PostgreSQL's english.stop (Snowball): dropped from documents and queries.
STOP = frozenset("""i me my myself we our ours ourselves you your yours yourself yourselves he him his
himself she her hers herself it its itself they them their theirs themselves what which who whom this
that these those am is are was were be been being have has had having do does did doing a an the and
but if or because as until while of at by for with about against between into through during before
after above below to from up down in out on off over under again further then once here there when
where why how all any both each few more most other some such no nor not only own same so than too very
s t can will just don should now""".split())
MIN_CHARS = 3  # Gitlab::SQL::Pattern: shorter ILIKE terms are ignored


def _ascii(text: str) -> str:
    """ActiveSupport's transliterate, close enough: accents off, other non-ASCII becomes `?`."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c if ord(c) < 128 else ("" if unicodedata.combining(c) else "?") for c in text)


def lexemes(text: str) -> list[str]:
    """The indexed words of one column, in order."""
    text = _ascii(LONG_WORDS.sub(" ", TAGS.sub(" ", text or ""))).lower()
    out: list[str] = []
    for word in WORD.findall(text):
        parts = word.split("-") if "-" in word and "." not in word else []
        out += [w for w in [word, *parts] if w not in STOP]
    return out


def _terms(query: str) -> list[str]:
    """Gitlab::SQL::Pattern.split_query_to_search_terms: words, then quoted phrases."""
    quoted: list[str] = []

    def keep(m: re.Match) -> str:
        quoted.append(m.group(0)[1:-1])
        return ""
    return QUOTED.sub(keep, query).split() + quoted


def matches(query: str, title: str, description: str | None, columns: list[str] | None = None) -> bool:
    columns = [c for c in (columns or []) if c in ("title", "description")] or ["title", "description"]
    texts = {"title": title or "", "description": description or ""}
    if not LATIN.match(query):
        return _fuzzy(query, [texts[c] for c in columns])
    query = DISALLOWED.sub(" ", _ascii(URL_SCHEME.sub("", query)))
    words = [w for c in columns for w in lexemes(texts[c])]
    checks = []
    for term in _terms(query):
        if " " in term.strip():  # a phrase: exact words in a row
            phrase = lexemes(term)
            if phrase:
                checks.append(any(words[i:i + len(phrase)] == phrase for i in range(len(words))))
            continue
        for lexeme in lexemes(term):  # a compound term asks for each of its lexemes
            checks.append(any(w.startswith(lexeme) for w in words))
    return bool(checks) and all(checks)  # only stop words: an empty tsquery matches nothing


def _fuzzy(query: str, texts: list[str]) -> bool:
    """ILIKE on each column, every term of at least MIN_CHARS in that column."""
    terms = [t.lower() for t in _terms(query) if len(t) >= MIN_CHARS] or [query.lower()]
    return any(all(t in text.lower() for t in terms) for text in texts)
