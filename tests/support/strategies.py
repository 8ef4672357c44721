"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st

# Any JSON-like value a source could send where another was expected,
# including huge integers, NaN and infinities.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
