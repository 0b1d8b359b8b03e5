"""Throughput and peak memory of the implicit models at unaligned CMU-MOSEI shapes (CPU).

Batch 24; text 50 x 300, audio 500 x 74, vision 500 x 35. Every model runs in its own
subprocess so that its peak resident memory (``ru_maxrss``) is its own. MTAG builds one edge per
pair of real steps across modalities (N * M edges), so it runs with 10-40 % real audio/vision
frames, the regime its reference cost was measured in; the others run at full length.

MulT is also compared with the reference implementation (yaohungt/Multimodal-Transformer) at the
identical configuration (``MulTConfig.reference``): the same weights are loaded into both, the
outputs are compared, and the training and inference throughput ratios are printed (goal >= 1.5x
for training), each side timed in its own process with its own peak RSS. The reference code is
not part of mmalign: point ``--reference`` (or ``MMALIGN_MULT_REFERENCE``) at a checkout of it;
the comparison is skipped when it is absent. On torch >= 2.x its ``make_positions`` needs
``positions.view(-1)`` -> ``positions.reshape(-1)`` in ``modules/position_embedding.py``.

    python benchmarks/models.py [--steps 3] [--threads 2] [--models mult,mtag] [--reference DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import types

SHAPES = {"text": (50, 300), "audio": (500, 74), "vision": (500, 35)}
BATCH = 24


def _default_models() -> tuple[str, ...]:
    """Every model of the registry that takes MOSEI's task (regression)."""
    from mmalign.implicit.registry import MODELS

    return tuple(name for name, spec in MODELS.items() if "regression" in spec.tasks)


def _batch(torch, real_fraction=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(BATCH, t, d, generator=g) for m, (t, d) in SHAPES.items()}
    lengths = None
    if real_fraction is not None:
        lo, hi = real_fraction
        lengths = {"text": torch.full((BATCH,), SHAPES["text"][0])}
        for m in ("audio", "vision"):
            t = SHAPES[m][0]
            lengths[m] = torch.randint(int(lo * t), int(hi * t) + 1, (BATCH,), generator=g)
    target = torch.randn(BATCH, 1, generator=g)
    return inputs, lengths, target


def _time_steps(fn, steps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def run_one(name: str, steps: int, threads: int) -> dict:
    """Train and inference timing of one model (called in a subprocess)."""
    import torch

    from mmalign.implicit import build_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dims = {m: d for m, (_, d) in SHAPES.items()}
    model = build_model(name, dims, 1)
    frac = (0.1, 0.4) if name == "mtag" else None
    inputs, lengths, target = _batch(torch, frac)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        model.train()
        loss = torch.nn.functional.l1_loss(model(inputs, lengths).predictions, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.8)
        opt.step()

    def infer_step():
        model.eval()
        with torch.inference_mode():
            model(inputs, lengths)

    t_train = _time_steps(train_step, steps)
    t_infer = _time_steps(infer_step, steps)
    return {
        "model": name,
        "params": sum(p.numel() for p in model.parameters()),
        "train_samples_per_s": BATCH / t_train,
        "infer_samples_per_s": BATCH / t_infer,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "real_frames": "10-40% a/v" if frac else "100%",
    }


def _reference_model(torch, path: str, dims):
    sys.path.insert(0, path)
    from src.models import MULTModel  # the reference repository's layout

    hp = types.SimpleNamespace(
        orig_d_l=dims[0], orig_d_a=dims[1], orig_d_v=dims[2], vonly=True, aonly=True, lonly=True,
        num_heads=5, layers=5, attn_dropout=0.1, attn_dropout_a=0.0, attn_dropout_v=0.0,
        relu_dropout=0.1, res_dropout=0.1, out_dropout=0.0, embed_dropout=0.25, attn_mask=True,
        output_dim=1,
    )  # fmt: skip
    return MULTModel(hp)


def reference_state_to_mmalign(state: dict) -> dict:
    """Rename the reference MULTModel's state dict to mmalign's MulT names (text/audio/vision)."""
    short = {"l": "text", "a": "audio", "v": "vision"}
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if key.endswith("version") or "_float_tensor" in key:
            continue
        if parts[0].startswith("proj_"):
            out[f"proj.{short[parts[0][-1]]}.weight"] = value
            continue
        if not parts[0].startswith("trans_"):
            out[key] = value
            continue
        name = parts[0][len("trans_") :]
        prefix = (
            f"mem.{short[name[0]]}"
            if name.endswith("_mem")
            else f"cross.{short[name[0]]}.{short[name[-1]]}"
        )
        rest = ".".join(parts[1:])
        rest = rest.replace("self_attn.", "attn.").replace("layer_norms.0", "norm_attn")
        rest = rest.replace("layer_norms.1", "norm_ffn")
        if rest.startswith("layer_norm."):
            rest = "norm." + rest[len("layer_norm.") :]
        out[f"{prefix}.{rest}"] = value
    return out


def _reference_pair(torch, path: str):
    """The reference MULTModel and mmalign's MulT at the same config, with the same weights."""
    from mmalign.implicit import MulT, MulTConfig

    torch.manual_seed(0)
    dims = tuple(d for _, d in SHAPES.values())
    ref = _reference_model(torch, path, dims)
    ours = MulT(MulTConfig.reference({m: d for m, (_, d) in SHAPES.items()}))
    ours.load_state_dict(reference_state_to_mmalign(ref.state_dict()))
    return ref, ours


def check_reference(path: str, threads: int) -> dict:
    """Outputs of MulT vs the reference for the same weights (eval mode, full MOSEI shapes)."""
    import torch

    torch.set_num_threads(threads)
    ref, ours = _reference_pair(torch, path)
    inputs, _, _ = _batch(torch)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        r, r_pooled = ref(inputs["text"], inputs["audio"], inputs["vision"])
        o = ours(inputs)
    return {
        "max_abs_output_diff": float((r - o.predictions).abs().max()),
        "max_abs_pooled_diff": float((r_pooled - o.pooled).abs().max()),
        "n_params_ref": sum(p.numel() for p in ref.parameters()),
        "n_params_mmalign": sum(p.numel() for p in ours.parameters()),
    }


def time_reference(path: str, which: str, steps: int, threads: int) -> dict:
    """Training throughput and peak RSS of one of the pair (called in its own subprocess)."""
    import torch

    torch.set_num_threads(threads)
    ref, ours = _reference_pair(torch, path)
    inputs, _, target = _batch(torch)
    if which == "reference":
        model, call = ref, lambda: ref(inputs["text"], inputs["audio"], inputs["vision"])[0]
        del ours
    else:
        model, call = ours, lambda: ours(inputs).predictions
        del ref
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        model.train()
        loss = torch.nn.functional.l1_loss(call(), target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.8)
        opt.step()

    def infer():
        model.eval()
        with torch.inference_mode():
            call()

    return {
        "train_samples_per_s": BATCH / _time_steps(step, steps),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "infer_samples_per_s": BATCH / _time_steps(infer, steps),
    }


def _subprocess(args: list[str]) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=2, help="timed steps per model (after 1 warm-up)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(_default_models()))
    parser.add_argument("--reference", default=os.environ.get("MMALIGN_MULT_REFERENCE"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--ref-check", help=argparse.SUPPRESS)
    parser.add_argument("--ref-time", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, args.threads)))
        return 0
    if args.ref_check:
        print(json.dumps(check_reference(args.ref_check, args.threads)))
        return 0
    if args.ref_time:
        path, which = args.ref_time
        print(json.dumps(time_reference(path, which, args.steps, args.threads)))
        return 0
    common = ["--steps", str(args.steps), "--threads", str(args.threads)]
    print(f"CPU, {args.threads} threads, batch {BATCH}, shapes {SHAPES}, {args.steps} timed steps")
    print(
        f"{'model':14s} {'params':>9s} {'train/s':>8s} {'infer/s':>8s} {'peak MB':>8s}  real frames"
    )
    for name in args.models.split(","):
        r = _subprocess(["--one", name, *common])
        if "error" in r:
            print(f"{name:14s} error: {r['error']}")
            continue
        print(
            f"{name:14s} {r['params']:9d} {r['train_samples_per_s']:8.2f} "
            f"{r['infer_samples_per_s']:8.2f} {r['peak_rss_mb']:8.0f}  {r['real_frames']}"
        )
    if not args.reference or not os.path.isdir(args.reference):
        print("MulT vs reference: skipped (set --reference or MMALIGN_MULT_REFERENCE to a checkout "
              "of yaohungt/Multimodal-Transformer)")  # fmt: skip
        return 0
    check = _subprocess(["--ref-check", args.reference, "--threads", str(args.threads)])
    if "error" in check:
        print(f"MulT vs reference: error: {check['error']}")
        return 1
    print(
        f"MulT vs reference (MulTConfig.reference, same weights): parameters "
        f"{check['n_params_mmalign']} vs {check['n_params_ref']}; max |output diff| "
        f"{check['max_abs_output_diff']:.2e}, max |pooled diff| {check['max_abs_pooled_diff']:.2e}"
    )
    timing = {}
    for which in ("reference", "mmalign"):
        timing[which] = _subprocess(["--ref-time", args.reference, which, *common])
        if "error" in timing[which]:
            print(f"MulT vs reference: {which} error: {timing[which]['error']}")
            return 1
    ours, ref = timing["mmalign"], timing["reference"]
    ratio = ours["train_samples_per_s"] / ref["train_samples_per_s"]
    print(
        f"training: mmalign {ours['train_samples_per_s']:.2f} samples/s ({ours['peak_rss_mb']:.0f} MB "
        f"peak) vs reference {ref['train_samples_per_s']:.2f} samples/s ({ref['peak_rss_mb']:.0f} MB "
        f"peak) = {ratio:.2f}x (goal >= 1.5x)"
    )
    ratio = ours["infer_samples_per_s"] / ref["infer_samples_per_s"]
    print(
        f"inference: mmalign {ours['infer_samples_per_s']:.2f} vs reference "
        f"{ref['infer_samples_per_s']:.2f} samples/s = {ratio:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
