"""One rule for secret names (parts, not substrings), value shapes in any text, and code that keeps
its shape. The tables here are the ones docs/secrets.md lists."""

from __future__ import annotations

import timeit

import pytest

from nb_mlops.redact import (
    REDACTED,
    is_secret_name,
    name_parts,
    redact_mapping,
    redact_source,
    redact_strings,
    redact_text,
    redact_value,
)

# ---------------------------------------------------------------------------------------- names
SECRET_NAMES = [
    "api_key",
    "API_KEY",
    "apiKey",
    "ApiKey",
    "APIKEY",
    "x-api-key",
    "OPENAI_API_KEY",
    "openai.api_key",
    "AWS_SECRET_ACCESS_KEY",
    "aws_secret_access_key",
    "access_key",
    "accessKey",
    "private-key",
    "privateKey",
    "PRIVATE_KEY",
    "api_keys",
    "HF_TOKEN",
    "hf_token",
    "access_token",
    "X-Auth-Token",
    "refreshToken",
    "token",
    "Token2",
    "db_password",
    "Password",
    "password1",
    "passwd",
    "passwd_hint",
    "pwd",
    "DB_PWD",
    "pass",
    "passphrase",
    "client_secret",
    "clientSecret",
    "secrets",
    "credential",
    "credentials",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "auth",
    "basic_auth",
    "Authorization",
    "Proxy-Authorization",
    "HTTPAuthorization",
    "NB_MLOPS_SECRET_TOKEN",
]
KEPT_NAMES = [
    "key",
    "KEY",
    "sort_key",
    "primary_key",
    "key_size",
    "keys",
    "tokenizer",
    "tokenizer_name",
    "max_tokens",
    "n_tokens",
    "tokens",
    "author",
    "authors",
    "authored_by",
    "passing",
    "bypass",
    "compass",
    "lr",
    "model",
    "n_estimators",
    "OMP_NUM_THREADS",
    "AWS_ACCESS_KEY_ID",
    "monkey",
    "keyword",
    "tok",
    "",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", KEPT_NAMES)
def test_names_that_are_kept(name: str) -> None:
    assert not is_secret_name(name)


def test_name_parts_split_on_separators_camel_case_and_digits() -> None:
    assert name_parts("AWS_SECRET_ACCESS_KEY") == ["aws", "secret", "access", "key"]
    assert name_parts("apiKey") == ["api", "key"]
    assert name_parts("HTTPAuthorization") == ["http", "authorization"]
    assert name_parts("x-auth.token2") == ["x", "auth", "token", "2"]
    assert name_parts("max_tokens") == ["max", "tokens"]


# ---------------------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("api_key", "sk-123", REDACTED),
        ("HF_TOKEN", "hf_abc", REDACTED),
        ("db_password", "", REDACTED),
        ("db_password", b"raw-bytes", REDACTED),
        ("pass", "p4ss", REDACTED),
        ("max_tokens", 256, 256),
        ("max_tokens", 2.5, 2.5),
        ("token_limit", 4096, 4096),  # numbers under a secret name are kept
        ("api_key", None, None),
        ("use_key", True, True),
        ("model", "sk-looks-like-a-key", "sk-looks-like-a-key"),  # short, no digit: not a key
        ("model", "sk-proj-abcdefghijklmnop1234567890", REDACTED),
        ("db", "postgres://user:pass@host/db", f"postgres://user:{REDACTED}@host/db"),
        ("lr", 0.1, 0.1),
        ("tokenizer", "bert-base-uncased", "bert-base-uncased"),
        ("author", "kim", "kim"),
    ],
)
def test_redact_value(name: str, value, expected) -> None:
    assert redact_value(name, value) == expected


def test_mapping_keys_are_names_at_any_depth() -> None:
    value = {
        "pass": "hunter2",
        "url": "postgres://u:pw@h/d",
        "headers": {"Authorization": "Bearer abcdef123456"},
        "n": 3,
        "key": "kept",
        "nested": [{"client_secret": "cs"}, "ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
    }
    assert redact_value("cfg", value) == {
        "pass": REDACTED,
        "url": f"postgres://u:{REDACTED}@h/d",
        "headers": {"Authorization": REDACTED},
        "n": 3,
        "key": "kept",
        "nested": [{"client_secret": REDACTED}, REDACTED],
    }


def test_redact_mapping_text_only_by_default() -> None:
    values = {"api_key": "sk-1", "max_tokens": 256, "model": "rf", "secret_n": 7}
    out = redact_mapping(values)
    assert out == {"api_key": REDACTED, "max_tokens": 256, "model": "rf", "secret_n": 7}
    assert values["api_key"] == "sk-1"  # the input is not changed
    assert out is not values


def test_redact_mapping_always_redacts_whatever_the_type() -> None:
    values = {"API_TOKEN": 12345, "PASSWORD": None, "LANG": "C.UTF-8"}
    assert redact_mapping(values, always=True) == {
        "API_TOKEN": REDACTED,
        "PASSWORD": REDACTED,
        "LANG": "C.UTF-8",
    }


def test_redact_mapping_keeps_order() -> None:
    values = {"b": 1, "api_key": "x", "a": 2}
    assert list(redact_mapping(values)) == ["b", "api_key", "a"]


def test_redact_strings_takes_no_key_for_a_name() -> None:
    packages = {"auth0-python": "4.7.1", "x": "hf_abcdefghijklmnopqrstuvwxyz0123456789"}
    assert redact_strings(packages) == {"auth0-python": "4.7.1", "x": REDACTED}


# ----------------------------------------------------------------------------------- value shapes
SHAPES = {
    "openai": "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
    "openai project": "sk-proj-Ab3dEf6hIj9kLmNoPqRsTuVwXyZ_01234-56789abc",
    "anthropic": "sk-ant-api03-Ab3dEf6hIj9kLmNoPqRsTuVwXyZ01234567890abcdefghijk-AAAA",
    "github classic": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "github oauth": "gho_abcdefghijklmnopqrstuvwxyz0123456789",
    "github app": "ghs_abcdefghijklmnopqrstuvwxyz0123456789",
    "github fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
    "hugging face": "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "aws key id": "AKIAIOSFODNN7EXAMPLE",
    "aws session key id": "ASIAIOSFODNN7EXAMPLE",
    "slack bot": "xoxb-123456789012-1234567890123-abcdefghijklmnop",
    "slack user": "xoxp-123456789012-abcdef",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmN",
}


@pytest.mark.parametrize("token", list(SHAPES.values()), ids=list(SHAPES))
def test_token_shapes_are_redacted_in_any_text(token: str) -> None:
    for text in (
        token,
        f"using {token} now",
        f"'{token}'",
        f'{{"value": "{token}"}}',
        f"x={token},y",
    ):
        out = redact_text(text)
        assert token not in out, text
        assert REDACTED in out


def test_a_token_shape_inside_a_longer_word_is_kept() -> None:
    assert redact_text("task-abcdefghijklmnopqrstuvwxyz012345") == (
        "task-abcdefghijklmnopqrstuvwxyz012345"
    )
    assert redact_text("XAKIAIOSFODNN7EXAMPLEX") == "XAKIAIOSFODNN7EXAMPLEX"
    assert redact_text("pip install scikit-learn sk-learn") == "pip install scikit-learn sk-learn"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://user:pass@host/db", f"postgres://user:{REDACTED}@host/db"),
        (
            "see https://me:s3cr%40t@example.com:8080/x",
            f"see https://me:{REDACTED}@example.com:8080/x",
        ),
        ("mongodb+srv://app:pw@c0.mongodb.net", f"mongodb+srv://app:{REDACTED}@c0.mongodb.net"),
        ("ssh://git@github.com/x.git", "ssh://git@github.com/x.git"),  # no password: kept
        ("https://example.com/a@b", "https://example.com/a@b"),
    ],
)
def test_url_passwords(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def", f"Authorization: Bearer {REDACTED}"),
        ("authorization: bearer abc123def", f"authorization: bearer {REDACTED}"),
        ('{"Authorization": "Bearer abc123def"}', f'{{"Authorization": "{REDACTED}"}}'),
        (
            "curl -H 'Authorization: Basic dXNlcjpwYXNz'",
            f"curl -H 'Authorization: Basic {REDACTED}'",
        ),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", f"Bearer {REDACTED}"),
    ],
)
def test_authorization_and_bearer_values(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_pem_private_key_blocks() -> None:
    pem = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
        "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
        "-----END RSA PRIVATE KEY-----"
    )
    out = redact_text(f"key:\n{pem}\nafter")
    assert "MIIE" not in out and "4lgOE" not in out
    assert out.endswith("\nafter")
    assert "-----BEGIN RSA PRIVATE KEY-----" in out
    openssh = pem.replace("RSA", "OPENSSH")
    assert "MIIE" not in redact_text(openssh)
    cut_short = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC"  # no END line
    assert "MIIE" not in redact_text(cut_short)
    escaped = pem.replace("\n", "\\n")  # as it sits inside a JSON string
    assert "MIIE" not in redact_text(f'{{"k": "{escaped}"}}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", f"password={REDACTED}"),
        ("DB_PASSWORD=hunter2 python app.py", f"DB_PASSWORD={REDACTED} python app.py"),
        ("token: abc.def", f"token: {REDACTED}"),
        ("{'api_key': 'xyz', 'n': 5}", f"{{'api_key': '{REDACTED}', 'n': 5}}"),
        ('{"pass": "p4ss", "user": "kim"}', f'{{"pass": "{REDACTED}", "user": "kim"}}'),
        ("deploy --token abc --password=xyz", f"deploy --token {REDACTED} --password={REDACTED}"),
        ("token_limit=4096 max_tokens=5", "token_limit=4096 max_tokens=5"),  # numbers kept
        ("password: null", "password: null"),
        ("--token $DEPLOY_TOKEN --password=${PW}", "--token $DEPLOY_TOKEN --password=${PW}"),
        ("the token expired", "the token expired"),  # no value: prose
        ("key=value tokenizer=bert", "key=value tokenizer=bert"),
        ("https://x.io/cb?token=abc&x=1", f"https://x.io/cb?token={REDACTED}&x=1"),
    ],
)
def test_secret_names_in_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redaction_is_idempotent() -> None:
    text = (
        "password=hunter2 postgres://u:pw@h/d Authorization: Bearer abc123def "
        "sk-abcdefghijklmnopqrstuvwxyz0123456789 {'token': 'x'}"
    )
    once = redact_text(text)
    assert redact_text(once) == once
    code = 'api_key = "sk-abcdefghijklmnopqrstuvwxyz0123456789"\npassword = "x"\n'
    assert redact_source(redact_source(code)) == redact_source(code)


# ------------------------------------------------------------------------------------ code shape
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ('api_key = "sk-abc"', f'api_key = "{REDACTED}"'),
        ("API_KEY='abc'", f"API_KEY='{REDACTED}'"),
        (
            'client = Client(api_key="abc", base_url="http://x")',
            f'client = Client(api_key="{REDACTED}", base_url="http://x")',
        ),
        (
            'cfg = {"password": "hunter2", "user": "kim"}',
            f'cfg = {{"password": "{REDACTED}", "user": "kim"}}',
        ),
        ("cfg = {'pass': 'p'}", f"cfg = {{'pass': '{REDACTED}'}}"),
        ('os.environ["DB_PASSWORD"] = "pw"', f'os.environ["DB_PASSWORD"] = "{REDACTED}"'),
        (
            'os.environ.setdefault("HF_TOKEN", "abc")',
            f'os.environ.setdefault("HF_TOKEN", "{REDACTED}")',
        ),
        ('self.secret = "s"', f'self.secret = "{REDACTED}"'),
        ('token: str = "t"', f'token: str = "{REDACTED}"'),
        ('if password == "pw":', f'if password == "{REDACTED}":'),
        ('api_key = b"abc"', f'api_key = b"{REDACTED}"'),
        ('api_key = f"{prefix}-abc"', f'api_key = f"{REDACTED}"'),
        ('private_key = """line1\nline2"""', f'private_key = """{REDACTED}"""'),
        ('apiKey = "abc"  # from the console', f'apiKey = "{REDACTED}"  # from the console'),
        ('db = "postgres://user:pass@host/db"', f'db = "postgres://user:{REDACTED}@host/db"'),
        ('h = {"Authorization": f"Bearer {tok}"}', f'h = {{"Authorization": f"{REDACTED}"}}'),
        # kept: not secret names, not string literals, numbers
        ('key = "sort-me"', 'key = "sort-me"'),
        ('tokenizer = "bert-base"', 'tokenizer = "bert-base"'),
        ('author = "kim"', 'author = "kim"'),
        ("max_tokens = 256", "max_tokens = 256"),
        ("token_limit = 4096", "token_limit = 4096"),
        ('api_key = os.environ["OPENAI_API_KEY"]', 'api_key = os.environ["OPENAI_API_KEY"]'),
        ("password = getpass.getpass()", "password = getpass.getpass()"),
        ("sorted(xs, key=lambda x: x[1])", "sorted(xs, key=lambda x: x[1])"),
        ('def login(password: str = "") -> None:', 'def login(password: str = "") -> None:'),
    ],
)
def test_code_keeps_its_shape(code: str, expected: str) -> None:
    assert redact_source(code) == expected


def test_names_inside_strings_and_comments_are_read_as_text() -> None:
    code = (
        'print("api_key=" + api_key, f"password: {pw}")\n'  # code around the names: kept
        "cmd = 'curl --data api_key=\"xyz\" --token abc'\n"
        'config = """\nuser: kim\npassword: hunter2\n"""\n'
        "# the old token=t0ps3cret, now in the vault\n"
    )
    out = redact_source(code)
    lines = out.splitlines()
    assert lines[0] == 'print("api_key=" + api_key, f"password: {pw}")'
    assert lines[1] == f"cmd = 'curl --data api_key=\"{REDACTED}\" --token {REDACTED}'"
    assert lines[4] == f"password: {REDACTED}"
    assert lines[6] == f"# the old token={REDACTED}, now in the vault"


def test_source_that_does_not_parse_is_redacted_line_by_line() -> None:
    code = 'api_key = "unterminated\nx = (\npassword = "pw"\n'
    out = redact_source(code)
    assert "unterminated" not in out and '"pw"' not in out
    assert out.count("\n") == code.count("\n")  # the lines stay where they were


def test_shell_and_magic_lines_are_read_as_text() -> None:
    code = "!export MY_TOKEN=abc123 && run\n%env HF_TOKEN=value\nx = 1\n"
    out = redact_source(code)
    assert "abc123" not in out and "value" not in out
    assert out.endswith("x = 1\n")
    cell_magic = "%%bash\nexport DB_PASSWORD=hunter2\n"
    assert "hunter2" not in redact_source(cell_magic)


def test_plain_code_is_returned_unchanged() -> None:
    code = "import numpy as np\nx = np.arange(10)\nprint(x.sum())\n"
    assert redact_source(code) is code
    assert redact_text("accuracy 0.93") == "accuracy 0.93"


# ------------------------------------------------------------------------------------------- cost
_TYPICAL = """import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score

n_estimators = 200
max_depth = 8
df = pd.read_csv("data/reviews.csv")
X = df.drop(columns=["label"]).values
y = df["label"].values
Xt, Xv, yt, yv = X[:800], X[800:], y[:800], y[800:]
model = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=0)
model.fit(Xt, yt)
pred = model.predict(Xv)
acc = accuracy_score(yv, pred)
track.log(accuracy=acc)
for i, est in enumerate(model.estimators_[:5]):
    depth = est.get_depth()
    track.log(depth=depth, step=i)
importances = sorted(zip(df.columns, model.feature_importances_), key=lambda kv: -kv[1])
top = importances[:10]
print(top)
summary = {"accuracy": acc, "n": len(yv), "password": "hunter2"}
print(summary)
if acc > 0.9:
    print("good")
else:
    print("keep going")
track.model(model, "review-clf")
api_key = "sk-proj-abcdefghijklmnop1234567890"
"""


def test_a_typical_cell_costs_well_under_a_millisecond() -> None:
    assert _TYPICAL.count("\n") == 30
    assert "hunter2" not in redact_source(_TYPICAL)
    per_call = min(timeit.repeat(lambda: redact_source(_TYPICAL), number=200, repeat=5)) / 200
    assert per_call < 0.0005, f"{per_call * 1e6:.0f} us for a 30-line cell"
    big = _TYPICAL * 67  # 2,010 lines
    per_call = min(timeit.repeat(lambda: redact_source(big), number=3, repeat=3)) / 3
    assert per_call < 0.05, f"{per_call * 1e3:.1f} ms for a 2,000-line cell"
