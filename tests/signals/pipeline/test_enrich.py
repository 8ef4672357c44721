from signals.pipeline import Category, SignalType
from signals.pipeline.enrich import enrich, impact_hints
from signals.pipeline.text import analyse


def test_signal_type_is_the_type_with_most_whole_word_hits():
    e = enrich(analyse("Will Houthi missiles close the Red Sea and Suez to shipping?", ""))
    assert e.signal_type is SignalType.SHIPPING_ROUTE_RISK  # 3 shipping hits vs 2 conflict
    assert e.category is Category.INFRASTRUCTURE


def test_signal_type_tie_goes_to_the_first_type_in_fixed_order():
    e = enrich(analyse("Oil pipeline?", ""))  # ENERGY_SUPPLY 1, ENERGY_INFRASTRUCTURE 1
    assert e.signal_type is SignalType.ENERGY_SUPPLY


def test_no_pattern_hit_is_unclassified_with_category_other_and_unknown_direction():
    e = enrich(analyse("Will the film gross a billion at the box office?", ""))
    assert (e.signal_type, e.category, e.direction) == (SignalType.UNCLASSIFIED, Category.OTHER, "unknown")


def test_chokepoints_regions_and_keywords_are_sorted_and_include_proximity():
    e = enrich(analyse("Will China invade Taiwan and close Malacca?", "Tankers divert from the Red Sea."))
    assert e.chokepoints == ("Red Sea", "Strait of Malacca", "Taiwan Strait")
    assert e.regions == ("Asia", "China", "Middle East")
    assert list(e.keywords) == sorted(e.keywords)


def test_direction_is_negative_for_conflict_types_else_by_word_counts():
    assert enrich(analyse("Will a war start?", "")).direction == "negative"
    assert enrich(analyse("Will the tariff deal bring recovery?", "")).direction == "positive"
    assert enrich(analyse("Will tariffs cause a shortage?", "")).direction == "negative"


def test_impact_hints_domains_and_assets_come_from_the_type():
    hints = impact_hints(enrich(analyse("Will tariffs rise?", "")))
    assert hints == {
        "domains": ["customs", "trade"],
        "direction": "unknown",
        "affected_asset_types": ["equities", "goods"],
        "keywords": ["tariff"],
    }
