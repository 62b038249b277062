"""PNG plots with matplotlib (Agg, no display needed): metric bars per model, training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgrec.models.evaluation.metrics import RANKING_METRICS


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_bars(report: dict[str, dict[str, dict[str, float]]], out_dir: str | Path) -> list[Path]:
    """One PNG per protocol: grouped bars, a group per ranking metric, a bar per model."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for protocol, models in report.items():
        names = list(models)
        metrics = [m for m in RANKING_METRICS if any(m in v for v in models.values())]
        fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(metrics) + 0.4 * len(names)), 4))
        width = 0.8 / max(len(names), 1)
        x = np.arange(len(metrics))
        for k, name in enumerate(names):
            ax.bar(x + k * width - 0.4 + width / 2, [models[name].get(m, np.nan) for m in metrics], width, label=name)
        ax.set_xticks(x, metrics)
        ax.set_ylabel("score")
        ax.set_title(f"test metrics, {protocol} protocol")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"metrics_{protocol}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def training_curves(histories: dict[str, dict], out_dir: str | Path) -> Path | None:
    """Training loss and validation NDCG@10 per epoch, one line per model."""
    histories = {n: h for n, h in histories.items() if h and h.get("loss")}
    if not histories:
        return None
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (ax_loss, ax_valid) = plt.subplots(1, 2, figsize=(11, 4))
    for name, h in histories.items():
        ax_loss.plot(np.arange(1, len(h["loss"]) + 1), h["loss"], label=name)
        if h.get("valid"):
            epochs, values = zip(*h["valid"])
            ax_valid.plot(epochs, values, marker=".", label=f"{name} ({h.get('valid_metric', 'NDCG@10')})")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="training loss")
    metrics = sorted({h.get("valid_metric", "NDCG@10") for h in histories.values()})
    ax_valid.set(xlabel="epoch", ylabel=" / ".join(metrics), title=f"validation {' / '.join(metrics)} (full ranking)")
    for ax in (ax_loss, ax_valid):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "training_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


ABLATION_METRICS = ("HR@10", "NDCG@10", "MRR")


def _file_stem(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label).strip("_") or "model"


def ablation_bars(tables, out_dir: str | Path) -> list[Path]:
    """One PNG per full model (``ablations_<model>.png``): a panel per protocol, grouped bars of
    HR@10 / NDCG@10 / MRR per variant; variants that were not trained are named under the plot."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        measured = [r for r in table.rows if r.metrics is not None]
        protocols = list(measured[0].metrics) if measured else []
        if not protocols:
            continue
        fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 4), squeeze=False)
        width = 0.8 / max(len(measured), 1)
        x = np.arange(len(ABLATION_METRICS))
        for ax, protocol in zip(axes[0], protocols):
            for k, row in enumerate(measured):
                values = [row.metrics[protocol].get(m, np.nan) for m in ABLATION_METRICS]
                ax.bar(x + k * width - 0.4 + width / 2, values, width, label=row.label)
            ax.set_xticks(x, ABLATION_METRICS)
            ax.set_ylabel("score")
            ax.set_title(f"{table.model} ablations, {protocol} protocol")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=8)
        skipped = [r.note for r in table.rows if r.metrics is None]
        if skipped:
            fig.text(0.01, 0.01, "not trained: " + "; ".join(skipped), fontsize=7)
        fig.tight_layout(rect=(0, 0.05 if skipped else 0, 1, 1))
        path = out_dir / f"ablations_{_file_stem(table.model)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
