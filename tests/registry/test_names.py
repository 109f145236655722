"""Model names, aliases and models:/ URIs: what is accepted, and the errors for the rest."""

from __future__ import annotations

import pytest

from nb_mlops.errors import InvalidName, ModelNotFound
from nb_mlops.registry.names import ModelRef, check_alias, check_name, check_version, parse_ref


@pytest.mark.parametrize("name", ["review-clf", "m", "iris_v2", "a.b-c_1", "9lives"])
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a/b",
        "..",
        "a..b",
        "../etc",
        "a\\b",
        "x@y",
        "-lead",
        ".hidden",
        "sp ace",
        "é",
        "a" * 129,
    ],
)
def test_bad_names_are_refused_naming_them(name: str) -> None:
    with pytest.raises(InvalidName) as err:
        check_name(name)
    assert "\n" not in str(err.value)
    if name:
        assert repr(name)[:20] in str(err.value) or name[:20] in str(err.value)


def test_a_name_must_be_text() -> None:
    with pytest.raises(InvalidName, match="non-empty string"):
        check_name(3)


@pytest.mark.parametrize("alias", ["production", "staging", "champion", "canary-eu", "A_b"])
def test_good_aliases_pass(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize("alias", ["", "3", "v/1", "..", "a.b", "prod env", "-x", "x" * 65])
def test_bad_aliases_are_refused(alias: str) -> None:
    with pytest.raises(InvalidName):
        check_alias(alias)


@pytest.mark.parametrize("alias", ["latest", "LATEST", "Latest"])
def test_latest_is_kept_for_the_newest_version(alias: str) -> None:
    with pytest.raises(InvalidName, match="kept for the newest"):
        check_alias(alias)


@pytest.mark.parametrize(("text", "want"), [("3", 3), (3, 3), ("v12", 12), (" 7 ", 7)])
def test_versions_parse(text: object, want: int) -> None:
    assert check_version(text) == want


@pytest.mark.parametrize("text", ["0", "-1", "x", "1.5", True, ""])
def test_bad_versions_are_refused(text: object) -> None:
    with pytest.raises(ModelNotFound, match="not a version number"):
        check_version(text, "m")


@pytest.mark.parametrize(
    ("ref", "want"),
    [
        ("models:/clf/3", ModelRef("clf", 3)),
        ("models:/clf@production", ModelRef("clf", alias="production")),
        ("models:/clf@latest", ModelRef("clf", alias="latest")),
        ("models:/clf@LATEST", ModelRef("clf", alias="latest")),
        ("models:/clf", ModelRef("clf")),
        ("clf/2", ModelRef("clf", 2)),
        ("clf@staging", ModelRef("clf", alias="staging")),
        ("clf", ModelRef("clf")),
    ],
)
def test_references_parse(ref: str, want: ModelRef) -> None:
    assert parse_ref(ref) == want


def test_version_or_alias_can_be_given_apart() -> None:
    assert parse_ref("clf", 4) == ModelRef("clf", 4)
    assert parse_ref("clf", "v4") == ModelRef("clf", 4)
    assert parse_ref("clf", "production") == ModelRef("clf", alias="production")
    with pytest.raises(ModelNotFound, match="give the version once"):
        parse_ref("clf/2", 3)


def test_uris_round_trip() -> None:
    for uri in ("models:/clf/3", "models:/clf@production", "models:/clf@latest"):
        assert parse_ref(uri).uri == uri
    assert ModelRef("clf").uri == "models:/clf@latest"


@pytest.mark.parametrize(
    "ref", ["", "s3://bucket/x", "models:clf/1", "models:/../x/1", "models:/a/b/c", "models:/x@3"]
)
def test_bad_references_are_refused(ref: str) -> None:
    with pytest.raises((ModelNotFound, InvalidName)):
        parse_ref(ref)


@pytest.mark.parametrize("ref", ["runs:/abc/model", "s3://bucket/model.pkl", "mlflow:clf"])
def test_other_schemes_are_named_as_such(ref: str) -> None:
    with pytest.raises(ModelNotFound, match="is not a models:/ URI"):
        parse_ref(ref)


def test_a_traversal_in_a_uri_is_a_bad_name() -> None:
    with pytest.raises(InvalidName, match=r"'\.\.'"):
        parse_ref("models:/../etc/1")


@pytest.mark.parametrize("text", ["²", "١", "v²"])
def test_digits_of_other_scripts_are_not_versions(text: str) -> None:
    with pytest.raises(ModelNotFound, match="not a version number"):
        check_version(text)
