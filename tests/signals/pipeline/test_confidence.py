import pytest

from signals.pipeline import ConfidenceLevel, SignalStatus
from signals.pipeline.confidence import compute_confidence, confidence_level, signal_status


def test_confidence_follows_omen_formula_with_three_factors():
    c = compute_confidence(liquidity=1.0, geographic=0.4, reliability=0.85)
    base = (1.0 + 0.4 + 0.85) / 3
    point = 0.4 * base + 0.3 * 1.0 + 0.3 * 0.85
    uncertainty = 0.05 + 0.0 + (0.9 - 0.85) * 0.1
    assert c.score == round(point, 4) == 0.855
    assert c.interval["lower_bound"] == round(point - 1.96 * uncertainty, 4)
    assert c.interval["upper_bound"] == round(point + 1.96 * uncertainty, 4)
    assert c.interval["confidence_level"] == 0.95
    assert c.factors == {"geographic": 0.4, "liquidity": 1.0, "source_reliability": 0.85}


def test_missing_liquidity_lowers_completeness_and_missing_geographic_defaults_to_half():
    c = compute_confidence(liquidity=None, geographic=None, reliability=0.9)
    assert c.factors == {"geographic": 0.5, "source_reliability": 0.9}
    assert c.completeness == round(2 / 3, 4)
    assert c.score == round(0.4 * 0.7 + 0.3 * (2 / 3) + 0.3 * 0.9, 4)


def test_interval_is_clamped_to_unit_range():
    c = compute_confidence(liquidity=None, geographic=0.0, reliability=0.0)
    assert c.uncertainty == round(0.05 + (1 / 3) * 0.1 + 0.9 * 0.1, 4)
    assert c.interval["lower_bound"] == 0.0
    high = compute_confidence(liquidity=1.0, geographic=1.0, reliability=1.0)
    assert high.interval["upper_bound"] == 1.0


@pytest.mark.parametrize(
    "score,level",
    [
        (0.75, ConfidenceLevel.HIGH),
        (0.7499, ConfidenceLevel.MEDIUM),
        (0.5, ConfidenceLevel.MEDIUM),
        (0.4999, ConfidenceLevel.LOW),
    ],
)
def test_confidence_level_thresholds(score, level):
    assert confidence_level(score) is level


@pytest.mark.parametrize(
    "score,status",
    [
        (0.7, SignalStatus.ACTIVE),
        (0.6999, SignalStatus.MONITORING),
        (0.5, SignalStatus.MONITORING),
        (0.4999, SignalStatus.CANDIDATE),
        (0.3, SignalStatus.CANDIDATE),
        (0.2999, SignalStatus.DEGRADED),
    ],
)
def test_signal_status_thresholds(score, status):
    assert signal_status(score) is status
