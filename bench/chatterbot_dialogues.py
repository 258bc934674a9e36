"""Build data/chatterbot/{train,test}.jsonl (the `chatterbot` dialogue dataset) from the chatterbot-corpus wheel.

    .venv/bin/pip download --no-deps chatterbot-corpus==1.3.3 -d /tmp/cb
    .venv/bin/python bench/chatterbot_dialogues.py /tmp/cb/chatterbot_corpus-1.3.3-py2.py3-none-any.whl

The English YAML conversations alternate speakers; the first line of each is the user's, the next the
assistant's, and so on. Conversations without a reply and exact duplicates (tech_support repeats most of
its own) are left out. The test split is every conversation whose sha256 of its text falls in the first
10% of the hash range (zoo.data.own.held_out), so a conversation is in one split whatever the file order.
"""
from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import yaml

from zoo.data.own import held_out

TEST_FRACTION = 0.1
OUT = Path(__file__).resolve().parents[1] / "data" / "chatterbot"


def conversations(wheel: Path) -> list[list[dict[str, str]]]:
    """Every English conversation with at least one reply, as chat messages, without duplicates."""
    seen, out = set(), []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(n for n in z.namelist() if n.startswith("chatterbot_corpus/data/english/") and n.endswith(".yml")):
            for lines in yaml.safe_load(z.read(name)).get("conversations") or []:
                texts = [" ".join(str(line).split()) for line in lines if line is not None and str(line).strip()]
                key = "\n".join(texts)
                if len(texts) < 2 or key in seen:
                    continue
                seen.add(key)
                out.append([{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(texts)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[str]] = {"train": [], "test": []}
    for messages in conversations(args.wheel):
        line = json.dumps({"messages": messages}, ensure_ascii=False)
        splits["test" if held_out("\n".join(m["content"] for m in messages), TEST_FRACTION) else "train"].append(line)
    for split, lines in splits.items():
        (OUT / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{split}: {len(lines)} conversations")


if __name__ == "__main__":
    main()
