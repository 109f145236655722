"""config.toml through the store: read afresh when it changes, edited whole with comments kept."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nb_mlops.errors import StoreError
from nb_mlops.store.workspace import Workspace


def test_an_edit_keeps_comments_and_is_read_at_once(ws: Workspace) -> None:
    assert ws.config == {}
    with ws.edit_config() as doc:
        doc["capture"] = {"env": ["MY_SETTING"]}
    assert ws.config == {"capture": {"env": ["MY_SETTING"]}}
    text = ws.config_path.read_text(encoding="utf-8")
    assert text.startswith("# nb-mlops settings for this workspace")  # the template's comments


def test_another_process_s_change_is_seen(ws: Workspace) -> None:
    assert ws.config == {}
    code = (
        "from pathlib import Path; import sys; "
        "p = Path(sys.argv[1]); p.write_text(p.read_text() + '[registry]\\nhook_timeout = 5\\n')"
    )
    subprocess.run([sys.executable, "-c", code, str(ws.config_path)], check=True)
    assert ws.config["registry"] == {"hook_timeout": 5}


def test_a_failed_edit_writes_nothing(ws: Workspace) -> None:
    before = ws.config_path.read_bytes()
    with pytest.raises(RuntimeError), ws.edit_config() as doc:
        doc["core"] = {"default": "x"}
        raise RuntimeError("changed my mind")
    assert ws.config_path.read_bytes() == before
    assert ws.config == {}


def test_invalid_toml_is_one_line_naming_the_file(ws: Workspace) -> None:
    ws.config_path.write_text("[remotes\nurl = 1\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"config file .*config\.toml is not valid TOML") as read:
        _ = ws.config
    assert "\n" not in str(read.value)
    with pytest.raises(StoreError, match="is not valid TOML"), ws.edit_config():
        pass
    assert ws.config_path.read_text(encoding="utf-8") == "[remotes\nurl = 1\n"
