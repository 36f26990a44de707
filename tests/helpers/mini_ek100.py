"""A tiny, made-up dataset in the EPIC-KITCHENS-100 file layout (no licensed text in it).

Small enough to reason about by hand and to keep golden files readable; the real annotations are
exercised by the integration tests.
"""

from __future__ import annotations

import csv
from pathlib import Path

VERBS = ["take", "put-down", "wash", "open", "close", "cut"]
NOUNS = ["tap", "plate", "knife", "board:chopping", "cupboard", "onion", "machine:sous:vide"]
FPS = 50.0

# (video, start s, end s, verb, noun, narration or None)
TRAIN = [
    ("P01_01", 1.0, 2.0, 3, 4, "open cupboard"), ("P01_01", 2.5, 3.0, 0, 1, "take plate"),
    ("P01_01", 3.5, 4.5, 4, 4, "close cupboard"), ("P01_01", 5.0, 6.0, 0, 2, "take knife"),
    ("P01_01", 6.5, 8.0, 5, 5, "cut onion"), ("P01_01", 8.5, 9.0, 1, 2, "put down knife"),
    ("P01_01", 9.5, 11.0, 2, 1, "wash plate"), ("P01_01", 11.5, 12.0, 1, 1, None),
    ("P01_02", 0.5, 1.5, 3, 4, "open cupboard door"), ("P01_02", 2.0, 2.5, 0, 3, "take chopping board"),
    ("P01_02", 3.0, 4.0, 0, 2, None), ("P01_02", 4.5, 6.0, 5, 5, "slice onion"),
    ("P01_02", 6.5, 7.0, 1, 2, "put knife down"), ("P01_02", 7.5, 8.0, 2, 2, "rinse knife"),
    ("P02_01", 0.2, 1.0, 2, 0, None), ("P02_01", 1.5, 2.0, 0, 6, "take sous vide machine"),
    ("P02_01", 2.5, 3.0, 1, 6, "put down sous vide machine"), ("P02_01", 3.5, 4.0, 3, 0, "turn tap"),
]
VALIDATION = [
    ("P01_11", 0.0, 1.0, 3, 4, "open cupboard"), ("P01_11", 1.2, 2.0, 0, 1, "take plate"),
    ("P01_11", 2.1, 3.0, 4, 4, "close cupboard"), ("P01_11", 3.2, 4.0, 0, 2, "take knife"),
    ("P01_11", 4.5, 6.0, 5, 5, "cut onion"), ("P01_11", 6.1, 7.0, 1, 2, "put down knife"),
    ("P03_01", 0.5, 1.5, 2, 1, "wash plate"), ("P03_01", 2.0, 3.0, 1, 1, "put down plate"),
    ("P03_01", 3.5, 4.0, 0, 3, "take board"), ("P03_01", 4.5, 5.5, 5, 5, "cut onion"),
]


def _ts(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:05.2f}"


def _segment_rows(rows, ids):
    for nid, (video, start, end, verb, noun, narration) in zip(ids, rows):
        yield {"narration_id": nid, "participant_id": video.split("_")[0], "video_id": video,
               "narration_timestamp": _ts(start), "start_timestamp": _ts(start), "stop_timestamp": _ts(end),
               "start_frame": int(start * FPS), "stop_frame": int(end * FPS), "narration": narration,
               "verb": VERBS[verb], "verb_class": verb, "noun": NOUNS[noun].split(":")[0], "noun_class": noun,
               "all_nouns": f"['{NOUNS[noun]}']", "all_noun_classes": f"[{noun}]"}


def _ids(rows):
    count: dict[str, int] = {}
    out = []
    for video, *_ in rows:
        out.append(f"{video}_{count.setdefault(video, 0)}")
        count[video] += 1
    return out


def _write(path: Path, header, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def make_mini_ek100(data_dir: Path) -> Path:
    """Write the mini dataset under ``data_dir/epic-kitchens-100`` and return ``data_dir``."""
    root = Path(data_dir) / "epic-kitchens-100"
    ann = root / "annotations"
    seg_header = ["narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp",
                  "stop_timestamp", "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun",
                  "noun_class", "all_nouns", "all_noun_classes"]
    _write(ann / "EPIC_100_validation.csv", seg_header, _segment_rows(VALIDATION, _ids(VALIDATION)))
    train_ids = _ids(TRAIN)
    narrated = [(r, i) for r, i in zip(TRAIN, train_ids) if r[5] is not None]
    _write(ann / "UDA_annotations" / "EPIC_100_uda_source_train.csv", seg_header,
           _segment_rows([r for r, _ in narrated], [i for _, i in narrated]))
    keys = sorted({f"{v}:{n}" for _, _, _, v, n, _ in TRAIN + VALIDATION})
    _write(root / "C2-Action-Detection" / "training.csv",
           ["narration_id", "video", "start", "stop", "verb", "noun", "action"],
           ({"narration_id": i, "video": v, "start": int(s * FPS / 2), "stop": int(e * FPS / 2), "verb": vb,
             "noun": nn, "action": keys.index(f"{vb}:{nn}")} for i, (v, s, e, vb, nn, _) in zip(train_ids, TRAIN)))
    _write(ann / "EPIC_100_verb_classes.csv", ["id", "key", "instances", "category"],
           ({"id": i, "key": k, "instances": f"['{k}']", "category": "x"} for i, k in enumerate(VERBS)))
    _write(ann / "EPIC_100_noun_classes.csv", ["id", "key", "instances", "category"],
           ({"id": i, "key": k, "instances": f"['{k}']", "category": "x"} for i, k in enumerate(NOUNS)))
    _write(ann / "EPIC_100_tail_verbs.csv", ["verb"], [{"verb": 5}])
    _write(ann / "EPIC_100_tail_nouns.csv", ["noun"], [{"noun": 6}])
    _write(ann / "EPIC_100_unseen_participant_ids_validation.csv", ["participant_id"], [{"participant_id": "P03"}])
    videos = sorted({r[0] for r in TRAIN + VALIDATION})
    _write(ann / "EPIC_100_video_info.csv", ["video_id", "duration", "fps", "resolution"],
           ({"video_id": v, "duration": 60.0, "fps": FPS, "resolution": "1920x1080"} for v in videos))
    return Path(data_dir)
