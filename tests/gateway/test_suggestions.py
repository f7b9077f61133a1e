"""The k-NN vote and its calibration as pure functions (the system test runs them on real data)."""

from nauplius.core.suggestions import calibrate, fit_calibration, reliability_table, vote

PARENTS = {"Plankton": None, "Rotifera": "Plankton", "keratella": "Rotifera",
           "asplanchna": "Rotifera", "daphnia": "Plankton"}


def test_a_clear_majority_is_suggested_with_its_share() -> None:
    result = vote([("daphnia", 0.9)] * 3 + [("keratella", 0.9)], PARENTS)
    assert result is not None
    assert result.taxon == "daphnia" and abs(result.share - 0.75) < 1e-9


def test_neighbours_split_between_siblings_suggest_their_parent() -> None:
    split = [("keratella", 0.9), ("keratella", 0.9), ("asplanchna", 0.9), ("asplanchna", 0.9),
             ("daphnia", 0.85)]
    result = vote(split, PARENTS)
    assert result is not None
    assert result.taxon == "Rotifera"
    assert 0.5 < result.share < 1  # the sibling weight under Rotifera, daphnia's left out


def test_closer_neighbours_weigh_more() -> None:
    result = vote([("daphnia", 0.95), ("keratella", 0.80), ("keratella", 0.80)], PARENTS)
    assert result is not None and result.taxon == "daphnia"


def test_calibration_is_monotone_and_maps_shares_to_observed_accuracy() -> None:
    pairs = [(0.3, False)] * 6 + [(0.3, True)] * 4 + [(0.9, True)] * 9 + [(0.9, False)]
    fitted = fit_calibration(pairs)
    assert fitted["value"] == sorted(fitted["value"])
    # Observed 4/10 and 9/10, each with one right and one wrong pseudo-observation added.
    assert abs(calibrate(fitted, 0.3) - 5 / 12) < 1e-9 and abs(calibrate(fitted, 0.9) - 10 / 12) < 1e-9
    rows = reliability_table([(calibrate(fitted, s), ok) for s, ok in pairs])
    assert [(r["n"], r["accuracy"]) for r in rows] == [(10, 0.4), (10, 0.9)]


def test_a_few_right_answers_never_make_certainty() -> None:
    few = fit_calibration([(1.0, True)] * 5)
    assert calibrate(few, 1.0) == 6 / 7
    many = fit_calibration([(1.0, True)] * 298)
    assert calibrate(many, 1.0) == 299 / 300
