import re

from signals.pipeline import vocab
from signals.pipeline.text import all_terms, analyse, match, strip_boilerplate, words
from tests.support.recorded import MARKETS, recorded_json


def canon(text):
    return [t.canonical for t in match(text)]


def test_blocklist_matches_whole_words_only():
    assert not any(t.blocked for t in match("Will Europe ban Russian LNG imports?"))
    assert not any(t.blocked for t in match("Will Red Sea transport costs double?"))  # "sport" in "transport"
    assert any(t.blocked for t in match("Will Spain win Euro 2028?"))
    assert any(t.blocked for t in match("Sports betting volume record?"))


def test_matching_is_case_insensitive_and_ignores_substrings():
    assert "port" in canon("Will the PORT of Oakland close?")
    assert "port" not in canon("Will the airport in Oakland close? Support, report, sport.")
    assert "war" not in canon("Will the Golden State Warriors reward Warner?")


def test_hyphen_and_space_variants_match_the_same_phrase():
    assert "bab el mandeb" in canon("Houthis near Bab el-Mandeb")
    assert "bab el mandeb" in canon("Houthis near Bab El Mandeb")
    assert "ceasefire" in canon("Russia-Ukraine cease-fire?") or "cease fire" in canon("Russia-Ukraine cease-fire?")


def test_plural_variants_share_the_canonical_term():
    assert canon("Tariffs on steel") == canon("Tariff on steel") == ["tariff"]


def test_longest_phrase_wins_so_customs_inside_an_agency_name_counts_for_nothing():
    terms = match("U.S. Immigration and Customs Enforcement removes 250,000 people")
    assert [t.canonical for t in terms] == ["u s immigration and customs enforcement"]
    assert not terms[0].meaningful
    assert not any(t.risk for t in match("U.S. Customs and Border Protection seized goods"))
    assert any("regulatory" in t.risk for t in match("new customs checks at the border"))


def test_resolution_boilerplate_sentences_and_urls_are_dropped():
    text = strip_boilerplate(
        'Tankers avoid the strait. This market will resolve to "Yes" if a blockade starts. '
        'Otherwise, this market will resolve to "No".\n'
        "The resolution source will be Reuters war and shipping reports (https://x.test/war-oil).\n"
    )
    assert "tankers avoid the strait" in text
    assert "blockade" in text  # the condition itself stays, at description weight
    assert "otherwise" not in text
    assert "reuters" not in text and "war-oil" not in text


def test_description_terms_weigh_half_and_title_terms_weigh_full():
    analysis = analyse("Will tariffs rise?", "Oil exports may fall.")
    weights = {c: w for c, (w, _t) in analysis.by_canonical.items()}
    assert weights["tariff"] == 1.0
    assert weights["oil"] == 0.5


def test_source_keywords_count_as_title_but_never_join_a_phrase_across_keywords():
    analysis = analyse("Question", "", keywords=("red", "sea"))
    assert "red sea" not in analysis.by_canonical
    analysis = analyse("Question", "", keywords=("red sea",))
    assert analysis.by_canonical["red sea"][0] == 1.0


def test_vocabularies_have_the_documented_shape():
    assert set(vocab.RISK_CATEGORIES) == {
        "geopolitical",
        "shipping",
        "energy",
        "labor",
        "climate",
        "regulatory",
        "political",
        "macro",
        "disruption",
    }
    assert set(vocab.CONDITIONAL_CATEGORIES) == {"political", "macro", "disruption"}
    assert len(vocab.LOGISTICS_TERMS) == 9
    assert 130 <= sum(len(v) for v in vocab.LOGISTICS_TERMS.values()) <= 170
    assert set(vocab.CHOKEPOINTS) == {
        "Bab el-Mandeb",
        "Bosphorus",
        "Panama Canal",
        "Red Sea",
        "Strait of Gibraltar",
        "Strait of Hormuz",
        "Strait of Malacca",
        "Suez Canal",
        "Taiwan Strait",
    }
    assert set(vocab.REGIONS) == {
        "Africa",
        "Americas",
        "Asia",
        "Atlantic",
        "China",
        "Europe",
        "India",
        "Mediterranean",
        "Middle East",
        "Pacific",
    }
    for term in ("tariff(s)", "sanction(s)", "embargo(es)", "export control(s)"):
        assert term in vocab.RISK_CATEGORIES["regulatory"]


def _oracle():
    """The specification: one regex alternation, longest first, word boundaries."""
    pairs = sorted(all_terms(), key=lambda p: (-len(" ".join(p[0])), p[0]))
    alternation = "|".join(r"[\W_]+".join(map(re.escape, key)) for key, _ in pairs)
    by_key = {" ".join(key): term for key, term in pairs}
    pattern = re.compile(r"(?<![^\W_])(?:" + alternation + r")(?![^\W_])")

    def oracle(text):
        out = []
        for m in pattern.finditer(text.lower()):
            out.append(by_key[" ".join(words(m.group(0)))].canonical)
        return out

    return oracle


def test_token_matcher_agrees_with_a_regex_alternation_on_recorded_texts():
    oracle = _oracle()
    compared = 0
    for market in recorded_json(MARKETS):
        for text in (market["question"], strip_boilerplate(market["description"])):
            assert canon(text) == oracle(text), text[:120]
            compared += 1
    assert compared == 500


def test_derived_term_fields_agree_with_the_vocabulary_fields():
    # rules.py and enrich.py read these precomputed fields instead of the originals.
    from signals.pipeline.text import NEAR_CHOKEPOINTS

    for _words, term in all_terms():
        near = NEAR_CHOKEPOINTS[term.location] if term.location else ()
        assert term.near == near
        assert term.all_chokepoints == term.chokepoints + tuple(name for name, _km in near)
        assert term.keyword == bool(term.risk or term.logistics or term.chokepoints or term.types)
        assert term.labels == (f"{term.canonical} (description only, x0.5)", f"{term.canonical} (question)")
        assert len(term.geo_evidence[True]) == len(term.all_chokepoints)
