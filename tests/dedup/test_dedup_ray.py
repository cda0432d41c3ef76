"""``--ray``: the decisions computed on a local 2-CPU Ray cluster equal the single-node filter's, record for record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from selfinstruct.cli import main
from selfinstruct.dedup import DedupConfig
from selfinstruct.dedup.greedy import greedy_dedup

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (it starts in a few seconds), shut down at the end."""
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, object_store_memory=500 * 2**20, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _write(path: Path, texts: list[str], start: int) -> None:
    path.write_text("".join(json.dumps({"id": start + i, "instruction": t}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(texts)), encoding="utf-8")


@pytest.mark.parametrize("name", ["selfbehave", "self-instruct"])
def test_ray_equals_single_node_on_public_corpora(cluster, public_corpora, seed_texts, tmp_path, name):
    from selfinstruct.dedup.distributed import RayOptions, ray_dedup

    texts = public_corpora[name]
    assert len(texts) >= 10_000
    # Three input shards of unequal size: ids must follow file order, then record order.
    cut1, cut2 = 3_000, 7_500
    shards = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"]
    for path, part, start in zip(shards, (texts[:cut1], texts[cut1:cut2], texts[cut2:]), (0, cut1, cut2)):
        _write(path, part, start)
    want = greedy_dedup(texts, seeds=seed_texts)
    got = ray_dedup([str(p) for p in shards], seeds=seed_texts, options=RayOptions(partitions=2, blocks=2))
    assert got.keep.size == len(texts)
    assert np.flatnonzero(got.keep != want.keep).tolist() == []
    assert (got.match == want.match).all() and (got.score == want.score).all()
    assert 500 <= int((~want.keep).sum()) <= 9_000  # the corpora really have near-duplicates to reject


def test_cli_ray_several_inputs_rejects_name_the_match(cluster, tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _write(a, ["Write a poem about the sea and the sky.", "Summarize the article in two sentences."], 0)
    _write(b, ["Write a poem about the sea and the sky!", "Translate the sentence into French.",
               "Summarize the article in two short sentences."], 2)
    out, rej, stats = tmp_path / "out.jsonl", tmp_path / "rej.jsonl", tmp_path / "stats.json"
    argv = ["dedup", str(a), str(b), "--out", str(out), "--rejects", str(rej), "--stats", str(stats)]
    assert main(argv + ["--ray"]) == 0
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [0, 1, 3]
    rejected = [json.loads(x) for x in rej.read_text().splitlines()]
    assert [r["id"] for r in rejected] == [2, 4]
    assert rejected[0]["_dedup"]["matched"] == {"input": str(a), "line": 1,
                                                "text": "Write a poem about the sea and the sky."}
    assert rejected[1]["_dedup"]["matched"]["line"] == 2
    assert json.loads(stats.read_text())["dedup_method"]["method"] == "ray"
    assert "Ray cluster at local" in capsys.readouterr().err
    # The single-node engine writes the same files.
    ray_out, ray_rej = out.read_bytes(), rej.read_bytes()
    assert main(argv) == 0
    assert out.read_bytes() == ray_out and rej.read_bytes() == ray_rej


def test_threshold_reaches_the_cluster(cluster, public_corpora, tmp_path):
    from selfinstruct.dedup.distributed import RayOptions, ray_dedup

    texts = public_corpora["self-instruct"][:3000]
    _write(tmp_path / "in.jsonl", texts, 0)
    for threshold in (0.5, 0.9):
        config = DedupConfig(threshold=threshold)
        got = ray_dedup([str(tmp_path / "in.jsonl")], config=config, options=RayOptions(partitions=2, blocks=2))
        assert got.keep.tolist() == greedy_dedup(texts, config=config).keep.tolist()

