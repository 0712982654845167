"""What people look at: altair charts (``plots*``), the ipywidgets query explorer
(``widgets``), significance tables in Markdown/LaTeX/CSV (``tables``), provenance records
(``provenance``), notebook sections (``sections``), the files of a run (``report``) and the
headline tables of the report's index page (``headlines``)."""
