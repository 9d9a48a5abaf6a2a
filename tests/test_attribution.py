"""Persona attribution: the nearest-centroid classifier on synthetic clusters (a test that fails when the classifier
does), the rates it reports, and the attribution section the evaluation worker writes into eval.json."""
from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.attribution import NearestCentroid, attribution_rates

DIM = 24


def clusters(seed: int, spread: float, per: int = 40) -> tuple[dict, dict]:
    """Three personas around random centres: training vectors and held-out vectors from the same clusters."""
    rng = np.random.default_rng(seed)
    centres = {name: rng.normal(size=DIM) for name in ("ann", "ben", "cid")}
    train = {name: centre + rng.normal(scale=spread, size=(per, DIM)) for name, centre in centres.items()}
    held = {name: centre + rng.normal(scale=spread, size=(per, DIM)) for name, centre in centres.items()}
    return train, held


def test_separated_clusters_are_attributed_right_and_overlapping_ones_at_chance():
    train, held = clusters(1, spread=0.3)
    classifier = NearestCentroid().fit(train)
    for name, vectors in held.items():
        assert classifier.predict(vectors) == [name] * len(vectors)
    rng = np.random.default_rng(2)
    noise = {name: rng.normal(size=(200, DIM)) for name in ("ann", "ben", "cid")}  # one blob, three labels
    rates = attribution_rates(NearestCentroid().fit(noise),
                              {"real": {name: rng.normal(size=(200, DIM)) for name in noise}})
    assert 0.15 < rates["overall"]["real"]["rate"] < 0.55  # about 1/3: no voice to tell apart


def test_rates_per_persona_and_source_with_confusions():
    train, held = clusters(3, spread=0.3)
    classifier = NearestCentroid().fit(train)
    # "tuned" replies: ann's sound like ann, ben's half like cid
    tuned = {"ann": held["ann"][:10], "ben": np.concatenate([held["ben"][:5], held["cid"][:5]])}
    rates = attribution_rates(classifier, {"real": held, "tuned": tuned})
    assert rates["personas"]["ann"]["tuned"] == {"rate": 1.0, "count": 10, "confused_with": {}}
    assert rates["personas"]["ben"]["tuned"] == {"rate": 0.5, "count": 10, "confused_with": {"cid": 5}}
    assert rates["personas"]["cid"]["real"]["rate"] == 1.0 and "tuned" not in rates["personas"]["cid"]
    assert rates["overall"] == {"personas": 3, "real": {"rate": 1.0, "count": 120},
                                "tuned": {"rate": 0.75, "count": 20}}


def test_unnormalised_and_degenerate_input():
    classifier = NearestCentroid().fit({"a": [[1.0, 0.0], [2.0, 0.1]], "b": [[0.0, 5.0]], "empty": np.zeros((0, 2))})
    assert classifier.labels == ["a", "b"]
    assert classifier.predict([[10.0, 1.0], [0.1, 3.0], [0.0, 0.0]])[:2] == ["a", "b"]
    assert classifier.predict(np.zeros((0, 2))) == []
    with pytest.raises(ValueError, match="no persona"):
        NearestCentroid().fit({"a": np.zeros((0, 2))})


@pytest.mark.slow
def test_eval_json_reports_attribution_rates_per_persona(tmp_path_factory):
    import json
    from pathlib import Path

    from tests.conftest import run_cli
    from tests.tiny_run import tiny_run
    run = tiny_run(tmp_path_factory)
    code, out, err = run_cli("eval", run.run_dir.name, "--limit", "2", "--max-new-tokens", "8", "--no-base-replies",
                             "--json", workspace=run.workspace)
    assert code == 0, err[-3000:]
    report = json.loads(Path(json.loads(out)["eval_file"]).read_text(encoding="utf-8"))
    summary = report["attribution"]
    assert summary["personas"] >= 2 and summary["training_replies"] > 0 and "base" not in summary
    for source in ("real", "tuned"):
        assert summary[source]["count"] == report["overall"]["examples"]
        assert 0.0 <= summary[source]["rate"] <= 1.0
    for persona_id, persona in report["personas"].items():
        for source in ("real", "tuned"):
            entry = persona["attribution"][source]
            assert entry["count"] == persona["examples"] and 0.0 <= entry["rate"] <= 1.0
            assert persona_id not in entry["confused_with"]
            assert sum(entry["confused_with"].values()) == round((1 - entry["rate"]) * entry["count"])
