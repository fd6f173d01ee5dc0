"""Model cards of the embedded small DiTs (dit_bridge/zoo/): measure -> quality.json + samples.npz -> figures -> card.

`write_model_card(dir)` measures the shipped EMA model (dit_bridge.zoo_quality), saves the record
(quality.json) and the drawn samples (samples.npz), then draws samples.png (and, for FHGM and its
equal-amplitude control fhgm-flat, denoiser_error.png) from those saved files only, and writes model_card.md.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from syncgap.dit_bridge.datasets import FHGM_MIXTURES, load_data, mixture_from_spec
from syncgap.dit_bridge.tail_work import tail_work
from syncgap.dit_bridge.train_files import record_weights
from syncgap.dit_bridge.zoo_quality import (AMPLITUDE_TOLERANCE, SIGN_TOLERANCE, ddim_sample, denoiser_error_curve,
                                            digit_classifier, digit_guidance_accuracy, exact_fhgm_loss,
                                            feature_statistics, load_zoo_model, quality_gate)
from syncgap.theory.data import FHGM_AMPLITUDES, FHGM_FREQUENCIES

FHGM_SAMPLES, FHGM_STEPS = 256, 50
# DDIM samples whose feature statistics make the quality gate, per FHGM-like model (the control's gate
# decides whether its ordering check counts, so it gets enough samples for a 0.011 sign-balance error).
FEATURE_SAMPLES = {"fhgm": FHGM_SAMPLES, "fhgm-flat": 2048, "fhgm-deep": 2048, "fhgm-deep16": 2048,
                   "fhgm-deep16-base": 2048, "fhgm-deep16-pos": 2048, "fhgm-deep16-neg": 2048}
TITLES = {"fhgm": "FHGM-DiT", "fhgm-flat": "FHGM-flat-DiT (equal-amplitude control)",
          "fhgm-deep": "FHGM-deep-DiT (28 blocks)", "fhgm-deep16": "FHGM-deep16-DiT (the deep testbed, 16 blocks)",
          "fhgm-deep16-base": "FHGM-deep16-base-DiT (the depth controls' stage 1: no finest feature)",
          "fhgm-deep16-pos": "FHGM-deep16-pos-DiT (positive depth control: only the last 5 blocks learn dct67)",
          "fhgm-deep16-neg": "FHGM-deep16-neg-DiT (negative depth control: only the first 5 blocks learn dct67)",
          "digits": "Digits-DiT"}
# models whose card states the quality gate on >= 2000 samples
GATED = ("fhgm-flat", "fhgm-deep", "fhgm-deep16", "fhgm-deep16-base", "fhgm-deep16-pos", "fhgm-deep16-neg")
TAIL_SKIP = 5           # blocks skipped by the tail-work measurement (P2's "last ~5 of 28")
TAIL_MIN_DEPTH = 12     # models this deep get the tail-work measurement on their card
DIGITS_PER_CLASS, DIGITS_STEPS, DIGITS_GUIDANCES, GRID_GUIDANCE = 10, 25, (1.0, 2.0, 4.0), 4.0


def measure(model_dir: str, name: str | None = None) -> dict:
    """Quality record of the trained zoo model `name` (default: its dataset's name, which names fhgm, fhgm-flat
    and digits; fhgm-deep is trained on "fhgm"); also writes samples.npz. Returns the record."""
    with open(os.path.join(model_dir, "training.json")) as f:
        if "weights" not in json.load(f):
            record_weights(model_dir)
    model, meta = load_zoo_model(model_dir)
    shape = tuple(meta["sample_shape"])
    dataset = meta["dataset"]["name"]
    name = name or dataset
    t0 = time.perf_counter()
    if dataset in FHGM_MIXTURES:
        n = FEATURE_SAMPLES[name]
        curve = denoiser_error_curve(model, meta, n=256)
        x = ddim_sample(model, torch.zeros(n, dtype=torch.int64), shape, FHGM_STEPS)
        data = load_data(dataset, **meta["config"]["data_kwargs"]).images[:64].numpy()
        np.savez_compressed(os.path.join(model_dir, "samples.npz"), samples=x[:64].numpy(), data=data)
        stats = feature_statistics(x.numpy(), meta)
        record = {"model": name, "dataset": dataset, "denoiser_error": curve, "feature_statistics": stats,
                  "exact_denoiser_loss": exact_fhgm_loss(meta),
                  **({"tail_work": tail_work(model, mixture_from_spec(meta["dataset"]), TAIL_SKIP)}
                     if len(model.transformer_blocks) >= TAIL_MIN_DEPTH else {}),
                  "sampler": {"name": "ddim", "eta": 0.0, "steps": FHGM_STEPS, "n": n},
                  "quality_gate": quality_gate(stats)}   # (the shipped fhgm record predates it)
    else:
        data = load_data("digits", **meta["config"]["data_kwargs"])
        clf = digit_classifier(data)
        acc = digit_guidance_accuracy(model, meta, clf, DIGITS_GUIDANCES, DIGITS_PER_CLASS, DIGITS_STEPS)
        labels = torch.arange(10).repeat_interleave(10)
        x = ddim_sample(model, labels, shape, DIGITS_STEPS, GRID_GUIDANCE, meta["null_class_id"], seed=7)
        np.savez_compressed(os.path.join(model_dir, "samples.npz"), samples=x.numpy(),
                            labels=labels.numpy(), guidance=GRID_GUIDANCE)
        record = {"model": "digits", "guidance_accuracy": acc,
                  "classifier": {"name": "sklearn LogisticRegression(C=0.1)", "train_accuracy":
                                 float(clf.score(data.images.reshape(len(data.images), -1).numpy(),
                                                 data.labels.numpy()))},
                  "sampler": {"name": "ddim", "eta": 0.0, "steps": DIGITS_STEPS}}
    record["num_parameters"] = int(sum(p.numel() for p in model.parameters()))
    record["measure_seconds"] = time.perf_counter() - t0
    with open(os.path.join(model_dir, "quality.json"), "w") as f:
        json.dump(record, f, indent=2)
    return record


def draw_samples(model_dir: str, title: str = "FHGM-DiT") -> str:
    """samples.png from samples.npz; `title` names an FHGM-like model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = np.load(os.path.join(model_dir, "samples.npz"))
    if "labels" in z:
        x, rows = z["samples"][:, 0], 10
        fig, axes = plt.subplots(rows, 10, figsize=(8, 8.4))
        for k, ax in enumerate(axes.flat):
            ax.imshow(x[k], cmap="gray_r", vmin=-1.5, vmax=2.5)
            ax.set_axis_off()
        for c in range(10):
            axes[c, 0].set_title(str(c), x=-0.25, y=0.3, fontsize=9)
        fig.suptitle(f"Digits-DiT: DDIM samples, one row per class, guidance {float(z['guidance']):g}")
    else:
        fig, axes = plt.subplots(8, 16, figsize=(12, 6.5))
        for k in range(64):
            for j, arr in enumerate((z["samples"], z["data"])):
                ax = axes[k // 8, (k % 8) + 8 * j]
                ax.imshow(arr[k, 0], cmap="RdBu_r", vmin=-3, vmax=3)
                ax.set_axis_off()
        fig.suptitle(f"{title}: DDIM samples (left 8 columns) vs training data (right 8 columns)")
    path = os.path.join(model_dir, "samples.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_denoiser_error(model_dir: str, title: str = "FHGM-DiT") -> str:
    """denoiser_error.png from quality.json (FHGM): excess-risk ratio and per-feature error vs OU time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(model_dir, "quality.json")) as f:
        rows = json.load(f)["denoiser_error"]
    names, rows = rows["feature_names"], rows["rows"]
    t = [r["ou_time"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.loglog(t, [r["rmse_vs_exact"] for r in rows], "o-", label="learned vs exact E[x0|xt]")
    a1.loglog(t, [r["bayes_rmse"] for r in rows], "k--", label="Bayes error (exact)")
    a1.set_xlabel("OU time t"), a1.set_ylabel("RMSE per pixel"), a1.legend(fontsize=8)
    feat = np.array([r["feature_rmse_over_amplitude"] for r in rows])
    for k, nm in enumerate(names):
        a2.loglog(t, feat[:, k], "o-", label=nm)
    a2.set_xlabel("OU time t"), a2.set_ylabel("RMS error of phi_k.x0_hat / a_k"), a2.legend(fontsize=8)
    fig.suptitle(f"{title} denoiser vs the exact posterior mean")
    path = os.path.join(model_dir, "denoiser_error.png")
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def _table(rows, cols) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(out)


def _schedule(cfg: dict) -> str:
    """The loss and learning-rate options of a training config, in words (older records lack them)."""
    parts = [f"{cfg.get('lr_schedule', 'constant')} lr"]
    if cfg.get("step_focus"):
        lo, hi, frac = cfg["step_focus"]
        parts.append(f"{frac:g} of the steps drawn in [{lo}, {hi})")
    gamma = cfg.get("min_snr_gamma")
    parts.append(f"Min-SNR-{gamma:g} loss weighting" if gamma else "plain epsilon MSE")
    return ", ".join(parts)


FLAT_TEXT = ("the equal-amplitude control of the FHGM, `theory.data.flat_frequency_mixture()`: the same four "
             "DCT patterns and noise std 0.5, every amplitude a = sqrt(mean a_k^2) = 6.915 (the FHGM's total "
             "signal variance). Under the exact score all four features commit at the same OU time "
             "1/2 log(a^2 + sigma^2) = 1.936, so any frequency ordering this model shows comes from the network.")


DEEP_TEXT = (" The same data as `fhgm/` with DiT-XL/2's depth (28 blocks), narrow (hidden 64, 4 heads) to train "
             "on two CPU cores, and patch 2: an 8x8 token grid on which every FHGM feature spans several tokens, "
             "so attention can route it (the depth measurement, dit_bridge/depth.py).")
GATE_CONSEQUENCE = {
    "fhgm-flat": ("The ordering check on this model measures what the architecture adds.",
                  "Its ordering check is n/a: a feature the network reproduces off target (above) could order the "
                  "commitments by itself."),
    "fhgm-deep": ("Its depth findings are read on a model that reproduces every feature.",
                  "This is the best model the training budget reached; its depth findings are reported with this "
                  "shortfall."),
}


DEFAULT_CONSEQUENCE = ("The findings read on this model use every feature it reproduces.",
                       "This is the best model the training budget reached so far; findings that read a missed "
                       "feature are n/a with this shortfall as the reason.")


def _ladder_text(spec: dict) -> str:
    """A sentence naming a non-default amplitude ladder or feature set (empty for the FHGM's defaults)."""
    if spec.get("name") != "fhgm" or "amplitudes" not in spec:
        return ""
    amps, freqs = [float(a) for a in spec["amplitudes"]], [tuple(f) for f in spec.get("frequencies", ())]
    if amps == list(FHGM_AMPLITUDES) and freqs == list(FHGM_FREQUENCIES):
        return ""
    return (f" Not the default FHGM: features {', '.join(f'dct{u}{v}' for u, v in freqs)} with amplitudes "
            f"{', '.join(f'{a:g}' for a in amps)} (every consumer rebuilds this mixture from the data spec with "
            "`dit_bridge.datasets.mixture_from_spec`).")


def card_text(meta: dict, config: dict, quality: dict) -> str:
    """model_card.md text from training.json, config.json and quality.json."""
    name = quality.get("model", meta["dataset"]["name"])   # the zoo name (fhgm-deep's data is "fhgm")
    dataset = meta["dataset"]["name"]
    title = TITLES[name]
    cfg = meta["config"]
    nparams = quality.get("num_parameters", "?")
    lines = [f"# {title}", "",
             f"A diffusers `DiTTransformer2DModel` trained by this project (docs/science.md §6) on "
             + {"fhgm": "the frequency-hierarchy Gaussian mixture of `theory.data.frequency_hierarchy_mixture()`.",
                "fhgm-flat": FLAT_TEXT,
                "digits": "scikit-learn's bundled 8x8 handwritten digits, upsampled to 16x16."}[dataset]
             + (DEEP_TEXT if name == "fhgm-deep" else "") + _ladder_text(meta["dataset"]),
             "", "## Model", "",
             f"- sample shape (C, H, W) = {tuple(meta['sample_shape'])}, patch {config['patch_size']}, "
             f"hidden {config['num_attention_heads'] * config['attention_head_dim']}, depth {config['num_layers']}, "
             f"heads {config['num_attention_heads']}, {nparams} parameters",
             f"- epsilon prediction (learned_sigma = {meta['learned_sigma']}), adaLN-zero init, EMA weights "
             f"(decay {cfg['ema_decay']}), float32 safetensors, {meta['weights']['bytes'] / 1e6:.2f} MB, "
             f"sha256 `{meta['weights']['sha256'][:16]}...`",
             f"- classes: {meta['num_classes']}, null class id: {meta['null_class_id']}"
             + (" (single class: pass class_labels = 0)" if meta['num_classes'] == 1 else
                f" (label dropout {meta['class_dropout']} for classifier-free guidance)"),
             f"- scheduler: {json.dumps(meta['scheduler'])}",
             "", "## Training", "",
             "```", meta["command"], "```", "",
             f"- data: {json.dumps({k: v for k, v in meta['dataset'].items() if k != 'data_hash'})}",
             f"- data hash (sha256 of float32 images + int64 labels): `{meta['dataset']['data_hash']}`",
             f"- seed {meta['seed']}, {meta['steps']} steps, batch {meta['batch_size']}, AdamW lr {cfg['lr']} "
             f"(warm-up {cfg['warmup']}, {_schedule(cfg)}), {meta['threads']} torch thread(s)",
             (f"- final loss (excess epsilon MSE over the exact Bayes epsilon, the training target; mean of the "
              f"last 10% of the log): {meta['final_loss']:.4f} (0 is the floor)" if cfg.get("target") == "exact" else
              f"- final loss (epsilon MSE, mean of last 10% of the log): {meta['final_loss']:.4f}"
              + (f" (the exact posterior mean scores {quality['exact_denoiser_loss']:.4f}: the floor)"
                 if "exact_denoiser_loss" in quality else "")),
             *([f"- frozen: every parameter but blocks {list(cfg['trainable_blocks'])} (started from "
                f"`{cfg.get('init_from')}`)"] if cfg.get("trainable_blocks") is not None else []),
             *([f"- **unfinished**: {meta['steps_done']} of {cfg['steps']} steps (a weights-only snapshot; "
                "the same command resumes it)"] if "steps_done" in meta else []),
             f"- training time: {meta['training_seconds']:.0f} s wall-clock on a 2-core CPU machine "
             "(measured times per machine load: dit_bridge/zoo/README.md)"
             + (f"; {meta['machine_load']}" if meta.get("machine_load") else ""),
             "", "## Samples", "", "![samples](samples.png)", ""]
    if dataset != "digits":
        fs = quality["feature_statistics"]
        gate = quality_gate(fs)
        lines += ["## Quality", "",
                  f"Denoiser against the exact posterior mean ({quality['denoiser_error']['n']} fresh samples "
                  "per level; excess ratio = E||x0_hat - E[x0|xt]||^2 / E||x0 - E[x0|xt]||^2):", "",
                  _table([(r["step"], r["ou_time"], r["rmse_vs_exact"], r["bayes_rmse"], r["excess_ratio"],
                           ", ".join(f"{v:.3f}" for v in r["feature_rmse_over_amplitude"]))
                          for r in quality["denoiser_error"]["rows"]],
                         ["DDPM step", "OU t", "RMSE vs exact", "Bayes RMSE", "excess ratio",
                          "feature err / a_k"]),
                  "", "![denoiser error](denoiser_error.png)", "",
                  f"Feature statistics of {fs['n']} DDIM samples ({quality['sampler']['steps']} steps):", "",
                  _table([(nm, a, p, m, s, o) for nm, a, p, m, s, o in zip(
                      fs["feature_names"], fs["amplitudes"], fs["positive_fraction"], fs["mean_abs"],
                      fs["std_abs"], fs["off_mode_fraction"])],
                      ["feature", "a_k", "P(y_k > 0)", "mean abs(y_k)", "std abs(y_k)", "off-mode (>3 sigma)"]),
                  "", "Known limitation: " + (
                      "; ".join(gate["shortfalls"])
                      + (" (longer training should help)" if any("mean abs" in x for x in gate["shortfalls"]) else "")
                      if not gate["passed"] else
                      f"none: every feature's mean abs(y_k) is within {AMPLITUDE_TOLERANCE:.0%} of a_k"
                      + (f" and its sign balance within {SIGN_TOLERANCE:g} of 1/2" if name != "fhgm" else "")),
                  "", f"Residual per-pixel variance {fs['residual_pixel_var']:.4f} "
                  f"(exact {fs['expected_residual_pixel_var']:.4f}); std of abs(y_k) should be sigma = "
                  f"{fs['noise_std']}.", ""]
        if "tail_work" in quality:
            tw = quality["tail_work"]
            lines += [f"Tail work: at DDPM step {tw['step']}, where {tw['feature']} commits under the exact score, "
                      f"the slope of the network's {tw['feature']} read-out of x0_hat against the exact posterior "
                      f"mean's is {tw['slope']:.3f} (1 for the Bayes denoiser), {tw['slope_without_tail']:.3f} with "
                      f"the last {tw['skip']} blocks skipped: a change of {tw['change']:+.3f} ({tw['n']} draws; "
                      "the testbed asks for a slope >= 0.8 and a change of at least 0.1).", ""]
        if name in GATED:
            lines += ["Quality gate: " + ("passed" if gate["passed"] else "missed")
                      + f" (every mean abs(y_k) within {AMPLITUDE_TOLERANCE:.0%} of a_k and every P(y_k > 0) "
                      f"within {SIGN_TOLERANCE:g} of 1/2, on {fs['n']} samples). "
                      + GATE_CONSEQUENCE.get(name, DEFAULT_CONSEQUENCE)[0 if gate["passed"] else 1], ""]
    else:
        acc = quality["guidance_accuracy"]
        lines += ["## Quality", "",
                  f"A logistic regression trained on the training images (train accuracy "
                  f"{quality['classifier']['train_accuracy']:.3f}) labels {acc['per_class_samples']} DDIM "
                  f"samples per class ({acc['num_steps']} steps):", "",
                  _table([(r["guidance"], r["accuracy"], " ".join(f"{v:.2f}" for v in r["per_class"]))
                          for r in acc["rows"]], ["guidance", "accuracy", "per class 0..9"]), ""]
    lines += ["Reproduce these numbers: `syncgap dit train " + name + " --card-only` "
              "(writes quality.json, samples.npz, the figures and this card).", ""]
    return "\n".join(lines)


def write_model_card(model_dir: str, remeasure: bool = True, name: str | None = None) -> dict:
    """Measure (or reuse quality.json), draw figures, write model_card.md; return the quality record.
    name: the zoo name (default the dataset's: pass "fhgm-deep" for that model, whose data is "fhgm")."""
    if remeasure:
        quality = measure(model_dir, name)
    else:
        with open(os.path.join(model_dir, "quality.json")) as f:
            quality = json.load(f)
    title = TITLES.get(quality["model"], quality["model"])
    draw_samples(model_dir, title)
    if quality["model"] != "digits":
        draw_denoiser_error(model_dir, title)
    with open(os.path.join(model_dir, "training.json")) as f:
        meta = json.load(f)
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(model_dir, "model_card.md"), "w") as f:
        f.write(card_text(meta, config, quality))
    return quality
