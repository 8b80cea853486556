"""`ia2.metrics` on hand-worked cases, against torchmetrics' equal-width ECE, and end to end on per-row arrays."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.classification import BinaryCalibrationError, MulticlassCalibrationError

from ia2.metrics import (bootstrap_ci, brier_score, ece_equal_mass, ece_equal_width, label_set_correct,
                         label_set_probs, label_set_probs_paper, nll, single_token_metrics, top1_correct,
                         top_k_confidence)


def test_top_k_confidence_is_top1_over_top10_mass():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(50), size=20)  # [n, vocab]
    top10 = -np.sort(-probs, axis=1)[:, :10]
    assert np.allclose(top_k_confidence(probs), top10[:, 0] / top10.sum(axis=1))
    assert np.allclose(top_k_confidence(top10), top_k_confidence(probs))  # the top 10 alone suffice
    assert np.allclose(top_k_confidence([[0.4, 0.1, 0.3]], k=2), [4 / 7])
    with pytest.raises(ValueError, match="k=10"):
        top_k_confidence(probs[:, :9])


def test_ece_equal_mass_hand_cases():
    # 6 rows, 3 bins of 2: gaps 0.2, 0.1, 0.05, each weighted 2/6
    assert math.isclose(ece_equal_mass([0.9, 0.2, 0.6, 1.0, 0.4, 0.6], [1, 0, 1, 1, 1, 0], n_bins=3), 0.35 / 3)
    # 7 rows, 3 bins: the last bin takes 3 rows
    assert math.isclose(ece_equal_mass([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], [0, 0, 0, 0, 1, 1, 1], n_bins=3),
                        (0.15 * 2 + 0.35 * 2 + 0.4 * 3) / 7)
    # fewer rows than bins: one bin
    assert math.isclose(ece_equal_mass([0.9, 0.7, 0.2], [1, 0, 0]), abs(1 / 3 - 0.6))
    # order of the rows does not matter
    rng = np.random.default_rng(1)
    conf, correct = rng.uniform(size=101), rng.uniform(size=101) < 0.5
    perm = rng.permutation(101)
    assert math.isclose(ece_equal_mass(conf, correct), ece_equal_mass(conf[perm], correct[perm]))


def test_ece_equal_mass_bins_follow_the_paper_rule():
    # n = 47, 15 bins: 14 bins of 3 rows and a last bin of 5
    rng = np.random.default_rng(2)
    conf, correct = rng.uniform(size=47), (rng.uniform(size=47) < 0.7).astype(float)
    order = np.argsort(conf)
    c, a = conf[order], correct[order]
    chunks = [slice(3 * i, 3 * i + 3) for i in range(14)] + [slice(42, 47)]
    expected = sum(len(c[s]) / 47 * abs(a[s].mean() - c[s].mean()) for s in chunks)
    assert math.isclose(ece_equal_mass(conf, correct), expected)


@pytest.mark.parametrize("seed,n_bins", [(0, 15), (1, 10), (2, 7), (3, 1)])
def test_ece_equal_width_matches_torchmetrics_binary(seed, n_bins):
    rng = np.random.default_rng(seed)
    conf, correct = rng.uniform(size=300), rng.uniform(size=300) < 0.65
    expected = BinaryCalibrationError(n_bins=n_bins, norm="l1")(torch.tensor(conf), torch.tensor(correct).long())
    assert math.isclose(ece_equal_width(conf, correct, n_bins), expected.item(), rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("seed,n_classes", [(0, 2), (1, 4), (2, 8)])
def test_ece_equal_width_matches_torchmetrics_multiclass(seed, n_classes):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(n_classes) * 0.5, size=400)
    targets = rng.integers(0, n_classes, size=400)
    metric = MulticlassCalibrationError(num_classes=n_classes, n_bins=15, norm="l1")
    expected = metric(torch.tensor(probs), torch.tensor(targets)).item()
    assert math.isclose(ece_equal_width(probs.max(1), probs.argmax(1) == targets), expected, rel_tol=1e-5)


def test_ece_equal_width_edges_differ_from_torchmetrics_as_documented():
    # ours: (0, 0.5] and (0.5, 1]; torchmetrics: [0, 0.5), [0.5, 1) and {1.0}
    assert math.isclose(ece_equal_width([0.25, 0.5], [1, 0], n_bins=2), 0.125)
    theirs = BinaryCalibrationError(n_bins=2, norm="l1")(torch.tensor([0.25, 0.5]), torch.tensor([1, 0])).item()
    assert math.isclose(theirs, 0.625)
    # a confidence of exactly 1 joins the top bin: (0.9 + 1.0)/2 vs accuracy 1/2
    assert math.isclose(ece_equal_width([0.9, 1.0], [0, 1], n_bins=2), 0.45)
    assert math.isclose(ece_equal_width([0.1, 0.3, 0.35, 0.9], [0, 0, 1, 1], n_bins=2), 0.0875)


def test_ece_rejects_bad_inputs():
    for ece in (ece_equal_mass, ece_equal_width):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            ece([0.5, float("nan")], [1, 0])
        with pytest.raises(ValueError, match="0/1"):
            ece([0.5, 0.6], [1, 2])
        with pytest.raises(ValueError, match="rows"):
            ece([0.5, 0.6], [1])
        with pytest.raises(ValueError, match="n_bins"):
            ece([0.5], [1], n_bins=0)


def test_label_set_probs_divides_and_paper_variant_softmaxes():
    label_probs = np.array([[0.3, 0.1], [0.02, 0.06], [0.001, 0.002]])
    assert np.allclose(label_set_probs(label_probs), [[0.75, 0.25], [0.25, 0.75], [1 / 3, 2 / 3]])
    paper = label_set_probs_paper(label_probs)
    assert np.allclose(paper, torch.softmax(torch.tensor(label_probs), dim=1).numpy())
    assert np.allclose(paper[2], [0.5, 0.5], atol=1e-3)  # small probabilities flatten to uniform
    with pytest.raises(ValueError, match="rows \\[0\\]"):
        label_set_probs([[0.0, 0.0]])


def test_label_set_correct_counts_ties_and_ignores_scale():
    label_probs = np.array([[0.3, 0.1, 0.1], [0.2, 0.2, 0.1], [0.1, 0.3, 0.3], [0.1, 0.1, 0.3]])
    labels = [0, 1, 2, 0]
    assert label_set_correct(label_probs, labels).tolist() == [True, True, True, False]
    assert np.array_equal(label_set_correct(label_set_probs(label_probs), labels), label_set_correct(label_probs, labels))


def test_top1_correct_compares_token_ids():
    assert top1_correct([7, 3, 9], [3, 7], [1, 0, 0]).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="range\\(2\\)"):
        top1_correct([7], [3, 7], [5])


def test_brier_and_nll_hand_cases_and_references():
    assert math.isclose(brier_score([[0.75, 0.25], [0.5, 0.5]], [0, 1]), 0.3125)
    assert math.isclose(nll([[0.5, 0.5], [0.25, 0.75]], [0, 1]), 0.5 * math.log(8 / 3))
    rng = np.random.default_rng(3)
    probs, labels = rng.dirichlet(np.ones(2), size=50), rng.integers(0, 2, size=50)
    # two labels: twice the one-column Brier score of the positive class
    assert math.isclose(brier_score(probs, labels), 2 * np.mean((probs[:, 1] - labels) ** 2))
    assert math.isclose(nll(probs, labels), F.nll_loss(torch.tensor(probs).log(), torch.tensor(labels)).item())
    with pytest.raises(ValueError, match="label_set_probs"):
        nll([[0.3, 0.1]], [0])


def test_bootstrap_ci_is_seeded_and_covers_the_estimate():
    assert bootstrap_ci(np.mean, np.array([0.0, 1.0])) == (0.0, 1.0)
    assert bootstrap_ci(np.mean, np.array([0.3])) == (0.3, 0.3)
    rng = np.random.default_rng(4)
    conf, correct = rng.uniform(size=200), rng.uniform(size=200) < 0.5
    assert bootstrap_ci(ece_equal_mass, conf, correct, seed=3) == bootstrap_ci(ece_equal_mass, conf, correct, seed=3)
    low, high = bootstrap_ci(np.mean, np.arange(400) % 2)
    assert 0.44 < low < 0.46 and 0.54 < high < 0.56
    low90, high90 = bootstrap_ci(np.mean, np.arange(400) % 2, level=0.9)
    assert low < low90 < high90 < high
    with pytest.raises(ValueError, match="same, nonzero"):
        bootstrap_ci(ece_equal_mass, conf, correct[:5])
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(np.mean, conf, level=1.0)


def _random_eval(n=500, n_labels=4, vocab=100, seed=0):
    "Per-row arrays of a fake single-token evaluation: a random distribution over the vocabulary per row."
    gen = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(n, vocab, generator=gen), dim=-1)  # [n, vocab]
    label_token_ids = torch.arange(n_labels) * 7 + 3
    labels = torch.randint(0, n_labels, (n,), generator=gen)
    topk_probs, topk_ids = probs.topk(10, dim=-1)
    return dict(top1_ids=topk_ids[:, 0], topk_probs=topk_probs, label_token_ids=label_token_ids,
                label_probs=probs[:, label_token_ids], labels=labels)


def test_single_token_metrics_agrees_with_the_parts():
    rows = _random_eval()
    metrics = single_token_metrics(**rows, n_resamples=100)
    correct = top1_correct(rows["top1_ids"], rows["label_token_ids"], rows["labels"])
    confidence = top_k_confidence(rows["topk_probs"].numpy())
    label_dist = label_set_probs(rows["label_probs"])
    set_correct = label_set_correct(label_dist, rows["labels"])
    assert metrics["n"] == 500
    assert metrics["accuracy"] == correct.mean()
    assert metrics["ece"] == ece_equal_mass(confidence, correct)
    assert metrics["ece_equal_width"] == ece_equal_width(confidence, correct)
    assert metrics["label_set_accuracy"] == set_correct.mean()
    assert metrics["label_set_ece"] == ece_equal_mass(label_dist.max(1), set_correct)
    assert metrics["label_set_ece_paper"] == ece_equal_mass(label_set_probs_paper(rows["label_probs"]).max(1), set_correct)
    assert metrics["brier"] == brier_score(label_dist, rows["labels"])
    assert metrics["nll"] == nll(label_dist, rows["labels"])
    for name in ("ece", "ece_equal_width", "label_set_ece", "label_set_ece_paper"):
        # ECE is biased upwards on resamples (duplicated rows), so its interval need not contain the estimate
        assert 0 <= metrics[f"{name}_ci_low"] < metrics[f"{name}_ci_high"], name
    for name in ("accuracy", "label_set_accuracy", "brier", "nll"):  # means over rows
        assert metrics[f"{name}_ci_low"] <= metrics[name] <= metrics[f"{name}_ci_high"], name


def test_single_token_metrics_accepts_bf16_tensors_and_numpy():
    rows = _random_eval(n=60, seed=1)
    as_numpy = {k: v.numpy() for k, v in rows.items()}
    as_bf16 = {k: v.bfloat16() if v.is_floating_point() else v for k, v in rows.items()}
    reference = single_token_metrics(**as_numpy, n_resamples=50)
    assert single_token_metrics(**rows, n_resamples=50) == reference
    bf16 = single_token_metrics(**as_bf16, n_resamples=50)
    assert set(bf16) == set(reference) and abs(bf16["accuracy"] - reference["accuracy"]) < 1e-12


def test_single_token_metrics_hand_case():
    topk = np.tile(np.r_[0.5, np.full(9, 0.5 / 9)], (4, 1))
    label_probs = np.array([[0.5, 0.1], [0.1, 0.5], [0.3, 0.3], [0.5, 0.1]])
    metrics = single_token_metrics([5, 8, 5, 8], topk, [5, 8], label_probs, [0, 1, 1, 1], n_resamples=50)
    assert metrics["accuracy"] == 0.75 and math.isclose(metrics["ece"], 0.25)
    assert metrics["label_set_accuracy"] == 0.75 and math.isclose(metrics["label_set_ece"], 0.0, abs_tol=1e-12)
    assert math.isclose(metrics["brier"], 0.5)
    assert math.isclose(metrics["nll"], -(2 * math.log(5 / 6) + math.log(0.5) + math.log(1 / 6)) / 4)
    with pytest.raises(ValueError, match="expected 4 rows"):
        single_token_metrics([5, 8, 5, 8], topk[:3], [5, 8], label_probs, [0, 1, 1, 1])
