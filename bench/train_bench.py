"""Training throughput, measured side by side in one run; prints ratios and projections.

    python bench/train_bench.py                        # the small preset: about 4 minutes on a 2-core CPU
    python bench/train_bench.py --presets small,paper  # the paper preset too (a GPU; on a CPU about 15 minutes)

For each preset:
- the data pipeline per sample, measured in one process: all of it, and the share spent on
  the line art's motion (the motion-compensated condition's flows, computed per frame pair and
  cached per worker while the run lasts);
- samples/s of training steps fed by the real data pipeline (memory-mapped cache, DataLoader
  workers) against the same steps on batches already in memory, both with the flow caches
  cold (the first epochs) and warm (after the workers have seen the pairs): a ratio >= 0.9
  means the pipeline hides behind compute;
- the achieved GFLOP/s of a step (forward and backward of G, D and VGG counted by torch's FLOP
  counter), and the projected time of the paper's schedule (84,000 frames x 35 epochs).

Uses the sample clips and a randomly initialised VGG-19 (same compute as the pretrained one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from torch.utils.flop_counter import FlopCounterMode


from tcvc_cli.sample import render_clip, write_clip
from tcvc_cli.train import Trainer, train_preset

PAPER_SAMPLES = 84_000 * 35


def data_costs(dataset, samples: int) -> tuple[float, float]:
    """(ms per sample of the whole data pipeline, ms of it spent on line-art motion), cold caches."""
    keys = [(index % len(dataset), 1000 + index) for index in range(samples)]  # epochs no worker has seen
    start = time.perf_counter()
    for key in keys:
        dataset[key]
    total = (time.perf_counter() - start) / samples
    had_motion, dataset.line_motion = dataset.line_motion, False
    start = time.perf_counter()
    for key in keys:
        dataset[key]
    without = (time.perf_counter() - start) / samples
    dataset.line_motion = had_motion
    return total * 1000, max(0.0, total - without) * 1000


def measure(preset: str, data: Path, run_dir: Path, steps: int, batch: int, workers: int, device: str,
            warm_epochs: int) -> dict:
    config = train_preset(preset, data_dir=str(data), vgg_weights="random", batch_size=batch, workers=workers,
                          val_fraction=0.0, checkpoint_epochs=False, max_steps=10_000)
    trainer = Trainer(config, run_dir, device=device)
    trainer._seed()
    trainer._data()
    trainer._build()
    data_ms, motion_ms = data_costs(trainer.train_set, 4 * batch)
    batches = trainer._batches(epoch=0, skip=0)
    trainer._step(next(batches), 0)  # warm-up
    in_memory = [next(batches) for _ in range(steps)]

    def run_pipeline(epoch: int) -> float:
        start = time.perf_counter()
        for index, batch in zip(range(steps), trainer._batches(epoch=epoch, skip=0)):
            trainer._step(batch, index)
        return time.perf_counter() - start

    def run_memory() -> float:
        start = time.perf_counter()
        for index, batch in enumerate(in_memory):
            trainer._step(batch, index)
        return time.perf_counter() - start

    cold, memory = [], []
    for epoch in (1, 2):  # alternate, so drift in machine load hits both alike
        cold.append(run_pipeline(epoch))
        memory.append(run_memory())
    # Warm the workers' flow caches: every epoch draws other pairs of frames, so read a few
    # epochs of batches without training on them, then train on epochs drawn from those.
    for epoch in range(warm_epochs):
        for _ in trainer._batches(epoch=100 + epoch, skip=0):
            pass
    warm = []
    for epoch in (100, 101):
        warm.append(run_pipeline(epoch))
        memory.append(run_memory())
    with FlopCounterMode(display=False) as counter:
        trainer._step(in_memory[0], 0)
    step_seconds = statistics.median(memory) / steps
    samples_per_s = batch / (statistics.median(warm) / steps)
    return {"preset": preset, "batch": batch, "image_size": config.model.image_size, "workers": workers,
            "data_ms_per_sample": data_ms, "motion_ms_per_sample": motion_ms,
            "samples_per_s": samples_per_s, "samples_per_s_in_memory": batch / step_seconds,
            "samples_per_s_cold": batch / (statistics.median(cold) / steps),
            "ratio_pipeline_vs_in_memory": statistics.median(memory) / statistics.median(warm),
            "ratio_cold_pipeline_vs_in_memory": statistics.median(memory) / statistics.median(cold),
            "gflop_per_step": counter.get_total_flops() / 1e9, "achieved_gflops": counter.get_total_flops() / step_seconds / 1e9,
            "paper_schedule_days": PAPER_SAMPLES / samples_per_s / 86_400}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--presets", default="small")
    parser.add_argument("--warm-epochs", type=int, default=6, help="epochs of batches read to warm the flow caches")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "train.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for index in range(6):
            colour, _ = render_clip(seed=index, frames=24, size=(456, 256))
            write_clip(tmp / "data" / f"clip{index}", colour)
        for preset in args.presets.split(","):
            results.append(measure(preset, tmp / "data", tmp / f"run-{preset}", args.steps, args.batch, args.workers, args.device,
                                   args.warm_epochs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for row in results:
        print(f"{row['preset']:6s} data pipeline {row['data_ms_per_sample']:.1f} ms/sample, of which line-art motion "
              f"{row['motion_ms_per_sample']:.1f} ms; batch {row['batch']} @ {row['image_size']}px: "
              f"{row['samples_per_s']:.2f} samples/s warm (ratio {row['ratio_pipeline_vs_in_memory']:.3f}), "
              f"{row['samples_per_s_cold']:.2f} cold (ratio {row['ratio_cold_pipeline_vs_in_memory']:.3f}), "
              f"in memory {row['samples_per_s_in_memory']:.2f}, "
              f"{row['gflop_per_step']:.1f} GFLOP/step, {row['achieved_gflops']:.1f} GFLOP/s, "
              f"paper schedule (84,000 frames x 35 epochs): {row['paper_schedule_days']:.1f} days")


if __name__ == "__main__":
    main()
