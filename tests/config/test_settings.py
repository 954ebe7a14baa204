import pytest

from mirrorguard.config import load_settings
from mirrorguard.errors import ConfigError


def test_defaults_without_file():
    s = load_settings(None)
    assert s.store.path.name == "mirrorguard.duckdb" and not s.privacy.enabled


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path):
    p = tmp_path / "mirrorguard.toml"
    p.write_text("[store]\npath = 'x.duckdb'\nbogus = 1\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(p)
    assert "store.bogus" in str(exc.value) and str(p) in str(exc.value)


def test_key_env_must_be_a_reference_not_a_key(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text("[privacy]\nenabled = true\nkey_env = 'super secret key!'\n")
    with pytest.raises(ConfigError, match="key_env"):
        load_settings(p)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\n")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings(bad)
