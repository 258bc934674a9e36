"""Where a windowed `video-flow` run loses its digit (docs/video.md, `flow-mmnist`).

    .venv/bin/python bench/video_flow_drift.py RUN [--clips 96] [--given-real] [--set guidance=2.0 ...]

Reads every frame with the MNIST domain network as `clip_quality` does (zoo.metrics.video.read_digits) and
prints one JSON line: identity consistency and mean confidence of `--clips` sampled clips (seed 0), and the
share of frames that agree with the frame before them, and how much each frame changes beyond a move
(zoo.metrics.video.change_beyond_a_move: 0 for Moving MNIST's own clips, whose digits only move). With `--given-real` (a run with `model.context`), it
also draws windows given real test frames: the share of the next window's frames read as the real digit,
given frames 1..k, and along a clip drawn on from them, frame by frame.
"""
from __future__ import annotations

import argparse
import json

import torch

import zoo
from zoo import device as dev
from zoo.config import parse_override
from zoo.data import load_dataset
from zoo.metrics.features import domain_features
from zoo.metrics.video import DIGITS, change_beyond_a_move, identity_consistency, read_digits
from zoo.run import Run


def rounded(values: torch.Tensor) -> list[float]:
    return [round(float(v), 3) for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--given-real", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="a sample condition, key=value")
    args = parser.parse_args()
    conditions = dict(parse_override(text) for text in args.set)
    config = Run.open(args.run).config
    side = config.data.digit_size
    net = domain_features("mnist", torch.device("cpu"), None)

    clips = zoo.sample(args.run, args.clips, seed=0, **conditions).clips.float().cpu()
    labels, confidence, _ = read_digits(clips, side, net)
    agree = (labels[:, 1:] == labels[:, :-1]) & (labels[:, 1:] >= 0)
    row = {"run": args.run, "clips": args.clips, "conditions": conditions,
           "identity_consistency": round(identity_consistency(labels, DIGITS), 4), "confidence": round(float(confidence.mean()), 4),
           "confidence_by_frame": rounded(confidence.mean(0)), "agrees_with_previous_frame": rounded(agree.float().mean(0)),
           "change_beyond_a_move": rounded(change_beyond_a_move(clips).mean(0))}

    if args.given_real:
        model = zoo.load(args.run).eval()
        k = model.config.context
        real = load_dataset(config.data, "test").batch(torch.arange(args.clips))["x"].float()  # N×T×1×H×W in [0, 1]
        digit = read_digits(real, side, net)[0][:, :1]  # the real clip's digit, read in its first frame
        settings = model.settings(conditions.get("guidance"), conditions.get("sampler"), conditions.get("steps"), None)
        generator = torch.Generator().manual_seed(0)

        precision = dev.sampling_precision(config.train.precision, model.device)  # as zoo.sample draws

        def draw(given: torch.Tensor) -> torch.Tensor:  # the next window given frames in [-1, 1]
            with torch.no_grad(), dev.autocast(model.device, precision):
                return model.generate(args.clips, generator, None, settings, cond=model.conditioning(given)).float()

        clip = real[:, :k] * 2 - 1
        window = (draw(model.given(clip, generator)) + 1) / 2
        while clip.shape[1] < real.shape[1]:
            clip = torch.cat([clip, draw(model.given(clip[:, -k:], generator))], 1)
        kept = read_digits(window, side, net)[0] == digit
        on = read_digits((clip[:, : real.shape[1]] + 1) / 2, side, net)
        row.update(real_change_beyond_a_move=round(float(change_beyond_a_move(real).mean()), 3),
                   window_given_real_keeps_digit=rounded(kept.float().mean(0)),
                   drawn_on_from_real_keeps_digit=rounded((on[0] == digit).float().mean(0)), drawn_on_confidence=rounded(on[1].mean(0)))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
