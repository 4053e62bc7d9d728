"""What a checkpoint perceives: its answers to the teacher's scene questions on a dataset split.

    .venv/bin/python benchmarks/scene_qa.py --checkpoint runs/train/vla-small-v6/final --data runs/data/train-v2
    .venv/bin/python benchmarks/scene_qa.py --checkpoint C --data D --split train --samples 100 --json

Every `--every`-th sample of the split (up to `--samples`) is asked each of its stored scene questions
(`teacher.qa.QUESTIONS`: signal ahead, anyone crossing, vehicle ahead, speed limit, traffic control), and the greedy
answer (`model.qa.answer`) is compared with the teacher's, which comes from the privileged state. Per kind
of question: exact match, and "same opening" (the first three words agree: "There is no ..." against "The
car 24 m ...", which is whether the model saw the thing at all). The "prior" column is what always giving
the split's most common opening would score, so a model that learned nothing from its cameras scores the
prior and no better. Needs a model trained with `data.qa_pairs > 0`.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict

import torch
from rich.console import Console
from rich.table import Table

from cordillera.data.reader import DrivingDataset
from cordillera.model.qa import answer
from cordillera.model.vla import CordilleraVLA
from cordillera.teacher.qa import question_kind


def opening(text: str) -> str:
    return " ".join(text.split()[:3]).lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val", choices=("train", "val", "all"))
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--every", type=int, default=5, help="take every k-th sample of the split")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = CordilleraVLA.from_pretrained(args.checkpoint).eval()
    data = DrivingDataset(args.data, split=args.split)
    rows = defaultdict(list)  # kind -> (truth, answer)
    for i in list(range(0, len(data), args.every))[: args.samples]:
        sample = data[i]
        if not sample.qa:
            continue
        questions = [q for q, _ in sample.qa]
        for (question, truth), reply in zip(sample.qa, answer(model, sample, questions)):
            rows[question_kind(question) or "other"].append((truth, reply))
    report = {}
    for kind, pairs in sorted(rows.items()):
        common = Counter(opening(t) for t, _ in pairs).most_common(1)[0][1]
        report[kind] = {"n": len(pairs), "exact": sum(t == a for t, a in pairs) / len(pairs),
                        "same_opening": sum(opening(t) == opening(a) for t, a in pairs) / len(pairs),
                        "prior_opening": common / len(pairs)}
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "split": args.split, "kinds": report}))
        return
    table = Table(title=f"scene QA of {args.checkpoint} on {args.data} ({args.split})")
    for column in ("question", "n", "exact match", "same opening", "prior (most common opening)"):
        table.add_column(column, justify="left" if column == "question" else "right")
    for kind, row in report.items():
        table.add_row(kind, str(row["n"]), f"{row['exact']:.2f}", f"{row['same_opening']:.2f}",
                      f"{row['prior_opening']:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
