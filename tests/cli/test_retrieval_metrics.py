import pytest

from nauplius.training.retrieval_metrics import retrieval_scores, weighted_vote


def test_vote_weighs_near_neighbours_more():
    assert weighted_vote(["a", "b", "b"], [0.9, 0.3, 0.3]) == "a"
    assert weighted_vote(["a", "b", "b"], [0.5, 0.3, 0.3]) == "b"


def test_vote_tie_goes_to_the_nearer_label():
    assert weighted_vote(["b", "a"], [0.5, 0.5]) == "b"


def test_scores_on_a_hand_made_ranking():
    scores = retrieval_scores(
        true_labels=["a", "a", "b"],
        neighbour_labels=[["a", "b"], ["b", "a"], ["b", "b"]],
        neighbour_scores=[[0.9, 0.8], [0.9, 0.2], [0.7, 0.6]],
        metric="cosine", k=2)
    assert scores["top1"] == pytest.approx(2 / 3)
    assert scores["vote5"] == pytest.approx(2 / 3)  # query 2: b (0.9) outweighs a (0.2)
    assert scores["precision_at_k"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert scores["mean_class_top1"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["per_class_top1"] == {"a": 0.5, "b": 1.0}


def test_euclidean_votes_favour_small_distances():
    scores = retrieval_scores(["a"], [["b", "a", "a"]], [[0.10, 0.11, 0.12]], "euclidean", k=3)
    assert scores["top1"] == 0.0 and scores["vote5"] == 1.0
