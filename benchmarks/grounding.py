"""Weakly supervised grounding on digit-scenes: pointing accuracy vs chance vs supervised.

Trains the ``grounding`` model of :mod:`mmalign.implicit` with :func:`mmalign.train.fit` (as
``mmalign train --model grounding --data digit-scenes`` does) from image-caption pairs only
(contrastive, late interaction), with the text side from scratch or from the frozen bundled
MiniLM, optionally with UNITER's word-region OT loss; aligns the object words of held-out scenes
(unseen handwriting) to regions by attention, by IPOT and by assignment; and compares with
chance and with the same model trained on the true word-region pairs. Batches of 64 for 10
epochs (310 steps; before the model trained with ``fit``: 300 steps of 64). Also times the
batched torch IPOT (the WRA loss) against a per-sample loop over POT.

Run: ``python benchmarks/grounding.py [--quick] [--no-minilm]`` (a few minutes on one free CPU
core; the MiniLM features take about a minute of it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings

import numpy as np


def _pointing(model, scenes, feats=None):
    from mmalign.connections.grounding import align_words, embed_scenes, pointing_accuracy

    w, r = embed_scenes(model, scenes, text_features=feats)
    query = scenes.token_region >= 0
    out = {}
    for method in ("attention", "ot", "assign"):
        pred = align_words(
            w, r, scenes.token_mask, scenes.region_mask, method=method, query_mask=query
        )
        out[method] = pointing_accuracy(pred, scenes.token_region, scenes.region_mask)
    return out, w, r


def _retrieval(w, r, scenes):
    """Caption -> image retrieval with the late-interaction score."""
    from mmalign.connections import retrieval_metrics

    sim = np.einsum("btd,crd->bctr", w, r)
    sim = np.where(scenes.region_mask[None, :, None, :], sim, -np.inf).max(-1)
    wm = scenes.token_mask
    score = (sim * wm[:, None, :]).sum(-1) / wm.sum(-1, keepdims=True)
    return retrieval_metrics(score, n_permutations=200, seed=0)


def _ipot_speed() -> tuple[float, float]:
    import ot as pot
    import torch

    from mmalign.explicit.ot_torch import batched_ipot, cosine_cost

    g = torch.Generator().manual_seed(0)
    B, n, m, d = 64, 16, 5, 64
    x, y = torch.randn(B, n, d, generator=g), torch.randn(B, m, d, generator=g)
    cost = cosine_cost(x, y)
    t = time.perf_counter()
    for _ in range(5):
        batched_ipot(cost, beta=0.5, n_iter=50)
    ours = (time.perf_counter() - t) / 5
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    t = time.perf_counter()
    with warnings.catch_warnings():  # stopThr=0 runs all 50 steps and then warns
        warnings.simplefilter("ignore")
        for i in range(B):  # POT has no IPOT: 50 log-Sinkhorn steps per sample, the same work
            pot.sinkhorn(
                a,
                b,
                cost[i].numpy().astype(np.float64),
                0.5,
                method="sinkhorn_log",
                numItermax=50,
                stopThr=0,
            )
    loop = time.perf_counter() - t
    return ours, loop


def _with_text(ds, features: dict):
    """``ds`` with its token-id text stream replaced by word features, per split."""
    from mmalign.data import MultimodalDataset, MultimodalSplit

    splits = {
        name: MultimodalSplit(
            {"text": features[name], "regions": sp.features["regions"]},
            sp.lengths,
            sp.labels,
            sp.ids,
            sp.extras,
        )
        for name, sp in ds.splits.items()
    }
    return MultimodalDataset(splits, ds.task, ds.n_outputs, ds.name)


def _fit(ds, out, epochs: int, **options):
    """Train with ``fit`` and return the best checkpoint's model."""
    from mmalign.train import TrainConfig, fit
    from mmalign.train.module import MultimodalModule
    from mmalign.train.trainer import read_checkpoint

    config = TrainConfig(
        model="grounding", batch_size=64, max_epochs=epochs, patience=epochs, progress_bar=False
    )
    with contextlib.redirect_stdout(io.StringIO()):  # fit's line per epoch
        result = fit(ds, config, model_options=options, out_dir=out, resume=False)
    ckpt = read_checkpoint(result.best_checkpoint)
    module = MultimodalModule(**ckpt["hyper_parameters"])
    module.load_state_dict(ckpt["state_dict"])
    return module.model.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer scenes and steps")
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM text encoder")
    parser.add_argument("--out", default="runs/benchmarks/grounding")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)  # tiny tensors: more threads only contend
    sys.stdout.reconfigure(line_buffering=True)
    from mmalign.connections.grounding import minilm_word_features
    from mmalign.data import load_digit_scenes
    from mmalign.data.digit_scenes import make_digit_scenes

    n_train, n_valid, n_test, epochs = (600, 100, 150, 8) if args.quick else (2000, 300, 500, 10)
    t0 = time.perf_counter()
    ds = load_digit_scenes(n_train=n_train, n_valid=n_valid, n_test=n_test, seed=0)
    test = make_digit_scenes(n_scenes=n_test, seed=1, split="test")  # ds["test"]'s scenes
    print(
        f"digit-scenes: {n_train} train / {n_valid} valid / {n_test} test scenes (test: disjoint "
        f"handwriting), {(test.token_region >= 0).sum()} test object words, made in "
        f"{time.perf_counter() - t0:.1f}s"
    )

    runs = [
        ("weak, scratch text", ds, dict(), epochs),
        ("weak, scratch text + WRA(IPOT) 0.1", ds, dict(wra_weight=0.1), epochs),
    ]
    test_feats = None
    if not args.no_minilm:
        t = time.perf_counter()
        scenes = {
            "train": make_digit_scenes(n_scenes=n_train, seed=0),
            "valid": make_digit_scenes(n_scenes=n_valid, seed=2),
            "test": test,
        }
        feats = {k: minilm_word_features(v) for k, v in scenes.items()}
        test_feats = feats["test"]
        print(f"MiniLM word features in {time.perf_counter() - t:.1f}s")
        runs.append(
            ("weak, MiniLM text (frozen)", _with_text(ds, feats), {"vocab_size": None}, epochs)
        )
    runs.append(("SUPERVISED upper bound, scratch", ds, dict(objective="supervised"), epochs))
    # a small budget shows how much faster the supervised signal is learned
    steps = -(-n_train // 64)
    runs.append((f"weak, scratch text, {steps} steps", ds, dict(), 1))
    runs.append((f"SUPERVISED, scratch, {steps} steps", ds, dict(objective="supervised"), 1))

    print(
        f"\n{'model':38s} {'attention':>9s} {'OT(IPOT)':>9s} {'assign':>9s} {'R@1 cap->img':>13s} {'train s':>8s}"
    )
    chance = None
    for i, (name, data, options, n_epochs) in enumerate(runs):
        t = time.perf_counter()
        model = _fit(data, os.path.join(args.out, f"run{i}"), n_epochs, **options)
        secs = time.perf_counter() - t
        feats = test_feats if options.get("vocab_size", 0) is None else None
        res, w, r = _pointing(model, test, feats)
        ret = _retrieval(w, r, test)
        chance = res["attention"].chance
        print(
            f"{name:38s} {res['attention'].accuracy:9.3f} {res['ot'].accuracy:9.3f} "
            f"{res['assign'].accuracy:9.3f} {ret.recall[1]:13.3f} {secs:8.1f}"
        )
    print(
        f"{'chance (random region)':38s} {chance:9.3f} {chance:9.3f} {chance:9.3f} {1 / n_test:13.3f}"
    )

    ours, loop = _ipot_speed()
    print(
        f"\nIPOT, batch 64 x 16 words x 5 regions, 50 steps: batched torch {ours * 1e3:.1f} ms, "
        f"per-sample POT loop {loop * 1e3:.1f} ms -> {loop / ours:.1f}x"
    )
    print(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
