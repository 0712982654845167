"""A small DPR-format stand-in corpus for the MKQA sample (tests only).

Built from the mirrored 6-example MKQA sample: passages that contain an English answer of some
answerable questions (Ridley Scott, the 2017 release date), one that names the right topic but
not the answer string (Hafþór's question: 'Hafthor Bjornson' is a misspelling no alias has),
and distractors. Expected matches are derived here by hand, not by the code under test.
"""

from pathlib import Path

PASSAGES = [
    # id, text, title
    ("1", "Gladiator is a 2000 historical epic film directed by Ridley Scott and written by David Franzoni.",
     "Gladiator (2000 film)"),
    ("2", "Help Me Help You is a song; the single came out in 2017 on a major label.", "Help Me Help You"),
    ("3", "The Mountain in Game of Thrones is played by the Icelandic strongman Hafthor Bjornson.",
     "Gregor Clegane"),
    ("4", "Scotts is a common surname; the Ridley family lived in Northumberland.", "Surnames"),
    ("5", "The Kardashians are a family of media personalities from Los Angeles.", "Kardashian family"),
    ("6", "A visa is a conditional authorization granted by a territory to a foreigner.", "Travel visa"),
    ("7", "I Am Frankie is an American television series about an android girl.", "I Am Frankie"),
    ("8", "Russell Crowe won the Academy Award for Best Actor for his role as Maximus.", "Russell Crowe"),
]
ANSWERING = {"7631360939705650347": {"1"}, "36228854473990432": {"2"}, "-7449157003522518870": set()}
"""question_id -> passages that contain an answer (DPR has_answer), checked by hand."""


def write_corpus(folder: Path) -> Path:
    path = Path(folder) / "standin_psgs.tsv"
    lines = ["id\ttext\ttitle"] + [f"{i}\t{t}\t{title}" for i, t, title in PASSAGES]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
