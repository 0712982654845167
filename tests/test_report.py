import os
from pathlib import Path

import pandas as pd
import pytest

from xqg_lab.present.report import save_table, write_text


def test_outputs_stay_inside_the_output_folder(tmp_path):
    with pytest.raises(ValueError, match="escapes the output folder"):
        write_text("x", "../outside.md", output_dir=tmp_path)
    with pytest.raises(ValueError, match="escapes the output folder"):
        save_table(pd.DataFrame({"a": [1]}), "/etc/evil", output_dir=tmp_path)


def test_save_table_writes_csv_and_json_with_the_index(tmp_path):
    frame = pd.DataFrame({"MRR@10": [0.5]}, index=pd.Index(["de"], name="lang"))
    csv, js = save_table(frame, "t", output_dir=tmp_path)
    assert csv.read_text().splitlines() == ["lang,MRR@10", "de,0.5"]
    assert '"lang":"de"' in js.read_text().replace(" ", "")


def test_enter_output_dir_defaults_to_the_checkouts_interactive_folder(tmp_path, monkeypatch):
    from xqg_lab.present.report import INTERACTIVE_DIR, enter_output_dir, project_root

    monkeypatch.chdir(tmp_path)  # chdir is undone after the test
    monkeypatch.setenv("XQG_LAB_MIRROR", "mirror")  # relative to the folder the kernel started in
    folder = enter_output_dir("")
    assert folder == project_root() / INTERACTIVE_DIR and Path.cwd() == folder
    assert project_root() == Path(__file__).resolve().parents[1]
    assert os.environ["XQG_LAB_MIRROR"] == str(tmp_path / "mirror")  # still points where it did
    assert enter_output_dir("") == folder  # a second run of the cell stays put


def test_enter_output_dir_resolves_relative_folders_from_the_checkout_not_the_cwd(tmp_path, monkeypatch):
    from xqg_lab.present.report import enter_output_dir, project_root

    monkeypatch.chdir(tmp_path)
    assert enter_output_dir(tmp_path / "run") == tmp_path / "run" and Path.cwd() == tmp_path / "run"
    relative = Path("reports") / "interactive" / "test-relative"
    assert enter_output_dir(str(relative)) == project_root() / relative
    assert enter_output_dir(str(relative)) == project_root() / relative  # not nested on a rerun
    os.chdir(tmp_path)
    (project_root() / relative).rmdir()
