"""Infrastructure every other package builds on; nothing here knows about retrieval.

- ``atomic``: the one atomic writer (every file the toolkit writes goes through it);
- ``checksums``: the one SHA-256 helper for files and folders;
- ``config``: run configs (YAML, unique keys) and notebook parameter checks;
- ``validation``: typed config models (pydantic), the validators and the one error shape
  ``expected …, found …; fix``; ``errors``: the toolkit's exception types;
- ``paths``: cache and report folders; ``shard_folder``: the on-disk layout of sharded stores;
- ``progress``: progress bars safe under papermill; ``timing``: per-step and per-cell timings.
"""
