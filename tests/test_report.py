import pandas as pd
import pytest

from xqg_lab.report import save_table, write_text


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
