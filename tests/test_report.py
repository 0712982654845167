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


class _FakeEncoder:
    def settings(self, role):
        return {"model": "m", "role": role}


def test_provenance_records_name_the_encoder_roles_and_the_data_files():
    from xqg_lab.metrics.retrieval import RetrievalEvalConfig, RetrievalResult
    from xqg_lab.present import provenance

    assert provenance.encoder_settings(_FakeEncoder(), name="e5") == {
        "name": "e5", "query": {"model": "m", "role": "query"}, "passage": {"model": "m", "role": "passage"}}
    cfg = RetrievalEvalConfig.parse(dict(dataset="beir:x", encoder="e5", preset="e5", passage_fields="text", langs=[],
                                         k=10, measures=["R@5"], batch_size=8, interactive_charts=False,
                                         output_prefix="r", output_dir=""))  # fmt: skip
    result = RetrievalResult(run=None, per_query=None, by_lang=None, seconds={"search": 1.5})
    record = provenance.retrieval_eval(cfg, data_files=[], encoder=_FakeEncoder(), result=result)
    assert list(record) == ["data_files", "encoder", "passage_fields", "k", "measures", "seconds"]
    assert record["data_files"] == [] and record["encoder"]["name"] == "e5" and record["seconds"] == {"search": 1.5}


def test_languages_table_adds_the_unweighted_mean_and_the_total_count():
    from xqg_lab.metrics.retrieval import languages_table

    by_lang = pd.DataFrame({"MRR@10": [0.2, 0.6], "n_queries": [10, 30]}, index=pd.Index(["ar", "de"], name="lang"))
    table = languages_table(by_lang)
    assert table.loc["mean"].tolist() == pytest.approx([0.4, 40]) and len(by_lang) == 2


def test_save_chart_writes_the_png_and_spec_that_altairs_own_save_writes(tmp_path):
    import io

    import altair as alt

    from xqg_lab.present.report import save_chart

    frame = pd.DataFrame({"lang": ["ar", "de", "zh"], "MRR@10": [0.72, 0.89, 0.73]})
    chart = alt.Chart(frame).mark_bar().encode(x="lang", y="MRR@10").facet(column="lang")
    png, spec = io.BytesIO(), io.StringIO()
    chart.save(png, format="png", scale_factor=2)
    chart.save(spec, format="json")
    paths = save_chart(chart, "by_lang", output_dir=tmp_path)
    assert [p.name for p in paths] == ["by_lang.png", "by_lang.svg", "by_lang.vl.json"]
    assert paths[0].read_bytes() == png.getvalue()
    assert paths[2].read_text() == spec.getvalue()
    assert paths[1].read_text().startswith("<svg")
