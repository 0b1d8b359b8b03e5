"""Diagnostic: does a digits-av label pull each word's attention toward its own image?

For every model (its preset for the label, e.g. ``"digits-av/ink_pair"``), on the training split of a label (text + video):

* **pull** -- minus the gradient of the sample's cross-entropy on the first layer's
  text<-video attention *scores* (before the softmax), summed over the frames of each word's
  own image, over the heads and over the words. Positive: one gradient step raises the
  attention of the words on their own images. Reported as the mean over the training split,
  the fraction of samples with a positive pull, and per word position (first / last word of
  the text). A label that gives a consistent pull has a mean far from 0 against its spread
  (``t`` = mean / sd * sqrt(n)).
* **attention mass** -- the attention a word puts on its own image's frames (mean over heads
  and words), first and last layer, against what uniform attention over the video would put.
* **probe** (with ``--checkpoint``) -- what the pooled vector carries: a logistic regression
  fit on the pooled vectors of the training split predicts, on validation, the ink of the
  first and of the last word of the text, and the label.

At initialisation (default) or from a checkpoint of :func:`mmalign.train.fit` (``--checkpoint
runs/.../checkpoints/best.ckpt``; same model and label). ``--head-seeds 0,1,2`` redraws the last
layer of the task head with each seed, the layers below unchanged: whether the sign of the pull
follows the head rather than the layers below.

Run: ``python benchmarks/alignment_pull.py --label ink_pair --models early-fusion,mtag
--seeds 0,1,2``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics


def _own_frames(split, n_text: int, n_vision: int):
    """(N, T_text, T_vision) bool: frame j shows the image of word i; and the ink of each word
    in text order (N, T_text)."""
    import numpy as np

    from mmalign.data.digits_av import true_intervals

    own = np.zeros((len(split), n_text, n_vision), bool)
    for i, iv in enumerate(true_intervals(split, "text", "vision")):
        for w, (s, e) in enumerate(iv):
            own[i, w, s:e] = True
    seg = split.extras["segments"]["text"][:, :, 0]  # (N, k) text position of each digit
    ink = split.extras["marks"][:, 2]  # (N, k) ink of each digit, spoken order
    word_ink = np.full((len(split), n_text), -1, np.int64)
    rows, digits = np.nonzero(seg >= 0)
    word_ink[rows, seg[rows, digits]] = ink[rows, digits]
    return own, word_ink


class _Recorder:
    """Keeps the attention scores of every ``attend`` call (and MTAG's edge attentions) with
    their gradients."""

    def __init__(self) -> None:
        self.scores: list = []

    def install(self):
        import torch

        from mmalign.implicit import _common, mtag

        rec = self
        original = _common.attend

        def attend(q, k, v, mask, dropout, need_weights):
            if not need_weights:
                return original(q, k, v, mask, dropout, need_weights)
            scores = torch.matmul(q * (q.shape[-1] ** -0.5), k.transpose(-1, -2))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            scores.retain_grad()
            rec.scores.append(("softmax", scores))
            weights = torch.softmax(scores, dim=-1)
            return torch.matmul(weights, v), weights

        def scatter(self_, attentions, alpha, graph, dst_step, src_step, bsz, steps):
            mods = self_.config.modalities
            n_mod = len(mods)
            pair = graph.edge_type // 3
            alpha.retain_grad()
            rec.scores.append(("edges", (alpha, graph, dst_step, src_step, steps, n_mod)))
            for t_i, t in enumerate(mods):
                for s_i, s in enumerate(mods):
                    sel = pair == s_i * n_mod + t_i
                    dense = alpha.new_zeros(bsz, alpha.shape[1], steps[t_i], steps[s_i])
                    dense[graph.sample[sel], :, dst_step[sel], src_step[sel]] = alpha[sel]
                    attentions[(t, s)].append(dense)

        _common.attend = attend
        mtag.MTAG._scatter_maps = scatter
        return self


def _text_vision_grads(kind, rec, t_text: int, t_vision: int, bsz: int):
    """Minus the gradient on the first layer's text<-video scores (B, H, T_text, T_vision)."""
    import torch

    for how, item in rec.scores:
        if how == "softmax":
            s = item
            if s.grad is None:
                continue
            if kind == "early-fusion" and s.shape[-1] == 1 + t_text + t_vision:
                return -s.grad[:, :, 1 : 1 + t_text, 1 + t_text :]
            if s.shape[-2:] == (t_text, t_vision):
                return -s.grad
        else:  # MTAG: softmax over every incoming edge of a node, per head
            alpha, graph, dst_step, src_step, steps, n_mod = item
            g = alpha.grad  # (E, H)
            # d L / d score_e = alpha_e (g_e - sum_{e' -> same node} alpha_e' g_e')
            node = graph.dst
            mean_g = torch.zeros(graph.n_nodes, g.shape[1], dtype=g.dtype).index_add_(
                0, node, alpha * g
            )
            ds = alpha * (g - mean_g[node])
            pair = graph.edge_type // 3
            sel = pair == 1 * n_mod + 0  # source vision (1) -> target text (0)
            out = torch.zeros(bsz, g.shape[1], t_text, t_vision, dtype=g.dtype)
            out[graph.sample[sel], :, dst_step[sel], src_step[sel]] = -ds[sel]
            return out
    raise RuntimeError("no text<-vision attention scores were recorded")


def measure(
    model_name: str,
    label: str,
    seed: int,
    checkpoint: str | None,
    data,
    extra=None,
    head_seed: int | None = None,
):
    import numpy as np
    import torch
    import torch.nn.functional as F

    from mmalign.implicit.registry import build_model
    from mmalign.train.presets import model_preset, preset_name

    torch.manual_seed(seed)
    ds = data
    options = {**model_preset(model_name, preset_name(ds)), **(extra or {})}
    net = build_model(model_name, ds.input_dims, ds.n_outputs, **options)
    if checkpoint:
        from mmalign.train.trainer import read_checkpoint

        state = read_checkpoint(checkpoint)["state_dict"]
        net.load_state_dict(
            {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
        )
    if head_seed is not None:
        # the same layers below, another draw of the last layer of the task head
        from mmalign.implicit._common import output_layer

        torch.manual_seed(head_seed)
        output_layer(net).reset_parameters()
    net.eval()  # no dropout: the pull of the label itself
    rec = _Recorder().install()
    stats = {"pull": [], "pull_first": [], "pull_last": [], "mass0": [], "massL": [], "unif": []}
    pooled = {}
    for split_name in ("train", "valid") if checkpoint else ("train",):
        split = ds[split_name]
        x, n = split.features, split.lengths
        t_text, t_vision = x["text"].shape[1], x["vision"].shape[1]
        own_all, word_ink = _own_frames(split, t_text, t_vision)
        outs = []
        for lo in range(0, len(split), 100):
            sl = slice(lo, lo + 100)
            inputs = {m: torch.as_tensor(x[m][sl]) for m in ("text", "vision")}
            lens = {m: torch.as_tensor(n[m][sl]) for m in ("text", "vision")}
            rec.scores.clear()
            out = net(inputs, lens, return_attention=True)
            outs.append(out.pooled.detach())
            if split_name != "train":
                continue
            y = torch.as_tensor(split.labels[sl])
            F.cross_entropy(out.predictions, y, reduction="sum").backward()
            g = _text_vision_grads(model_name, rec, t_text, t_vision, len(y))  # (B,H,Tt,Tv)
            own = torch.as_tensor(own_all[sl])  # (B, Tt, Tv)
            valid_w = torch.arange(t_text)[None, :] < lens["text"][:, None]  # (B, Tt)
            per_word = (g.sum(1) * own).sum(-1) * valid_w  # (B, Tt)
            stats["pull"] += per_word.sum(1).tolist()
            stats["pull_first"] += per_word[:, 0].tolist()
            last = (lens["text"] - 1).clamp_min(0)
            stats["pull_last"] += per_word[torch.arange(len(y)), last].tolist()
            maps = out.attentions[("text", "vision")]
            for key, w in (("mass0", maps[0]), ("massL", maps[-1])):
                m = (w.detach().mean(1) * own).sum(-1)  # (B, Tt)
                stats[key] += (m.sum(1) / valid_w.sum(1)).tolist()
            frac = own.sum(-1) / lens["vision"][:, None]
            stats["unif"] += ((frac * valid_w).sum(1) / valid_w.sum(1)).tolist()
            net.zero_grad(set_to_none=True)
        pooled[split_name] = (torch.cat(outs).numpy(), word_ink, split.labels)
    row = {}
    for k in ("pull", "pull_first", "pull_last"):
        v = np.asarray(stats[k])
        row[k] = float(v.mean())
        row[k + "_t"] = float(v.mean() / (v.std() + 1e-12) * np.sqrt(len(v)))
        row[k + "_pos"] = float((v > 0).mean())
    for k in ("mass0", "massL", "unif"):
        row[k] = float(np.mean(stats[k]))
    if checkpoint:
        from sklearn.linear_model import LogisticRegression

        (p_tr, ink_tr, y_tr), (p_va, ink_va, y_va) = pooled["train"], pooled["valid"]
        mu, sd = p_tr.mean(0), p_tr.std(0) + 1e-6
        p_tr, p_va = (p_tr - mu) / sd, (p_va - mu) / sd
        last_tr = ink_tr[np.arange(len(ink_tr)), (ds["train"].lengths["text"] - 1)]
        last_va = ink_va[np.arange(len(ink_va)), (ds["valid"].lengths["text"] - 1)]
        for name, a, b in (
            ("probe_ink_first", ink_tr[:, 0], ink_va[:, 0]),
            ("probe_ink_last", last_tr, last_va),
            ("probe_label", y_tr, y_va),
        ):
            clf = LogisticRegression(max_iter=2000).fit(p_tr, a)
            row[name] = float(clf.score(p_va, b))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="ink_pair")
    ap.add_argument("--models", default="mult,early-fusion,coattention,lxmert,mtag")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--checkpoint", default=None, help="a fit checkpoint (one model, one seed)")
    ap.add_argument(
        "--head-seeds",
        default="",
        help="e.g. 0,1,2: for every model seed, redraw the last layer of the task head with "
        "each of these seeds (the layers below unchanged), one row each",
    )
    ap.add_argument("--set", dest="model_set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    import torch

    from mmalign.data import load_digits_av

    torch.set_num_threads(1)
    data = load_digits_av(label=args.label, n_train=2000, n_valid=300, n_test=500).select(
        ("text", "vision")
    )
    extra = {}
    if args.model_set:
        from mmalign.train._cli import _parse_value

        extra = {k: _parse_value(v) for k, v in (kv.split("=", 1) for kv in args.model_set)}
    print(
        f"{args.label}, {'checkpoint ' + args.checkpoint if args.checkpoint else 'initialisation'}"
    )
    print(
        "| model | seed | head seed | pull mean (t, % > 0) | first word | last word | own-image attention "
        "layer 1 / last (uniform) | probe ink first / last / label |"
    )
    print("|---|---|---|---|---|---|---|---|")
    head_seeds = [int(s) for s in args.head_seeds.split(",") if s] or [None]
    for model in args.models.split(","):
        rows = []
        for seed, head_seed in [
            (s, h) for s in (int(x) for x in args.seeds.split(",")) for h in head_seeds
        ]:
            r = measure(model, args.label, seed, args.checkpoint, data, extra, head_seed)
            rows.append(r)
            probe = (
                f"{r['probe_ink_first']:.0%} / {r['probe_ink_last']:.0%} / {r['probe_label']:.0%}"
                if "probe_label" in r
                else "-"
            )
            print(
                f"| {model} | {seed} | {'-' if head_seed is None else head_seed} | {r['pull']:+.3f} ({r['pull_t']:+.1f}, "
                f"{r['pull_pos']:.0%}) | {r['pull_first']:+.3f} ({r['pull_first_t']:+.1f}) | "
                f"{r['pull_last']:+.3f} ({r['pull_last_t']:+.1f}) | {r['mass0']:.1%} / "
                f"{r['massL']:.1%} ({r['unif']:.1%}) | {probe} |",
                flush=True,
            )
        if len(rows) > 1:
            print(f"| {model} | mean | | {statistics.mean(r['pull'] for r in rows):+.3f} | | | | |")


if __name__ == "__main__":
    main()
