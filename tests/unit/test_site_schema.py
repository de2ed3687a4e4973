"""Issue 10, points 1 and 10: one site schema, two checkers, and the site.yaml inputs that escaped it.

The builder (bundler/site/model.py SCHEMA) and the installer (lib/site_schema.sh generated from it, read by
lib/env.sh) must accept exactly the same values: every sample below, and hypothesis' strings, get the
same verdict from `schema_problem()` and from bash's `wcb_schema_check`. Every builder failure is
exit 3 naming the file, the key and the rule; nothing is written to --out.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundler.core.errors import EXIT_INPUT, SiteError
from bundler.core.paths import MANIFESTS
from bundler.site.model import SCHEMA, load_site, render_schema_sh, schema_problem
from tests.support.cli import assert_clean_error, wcb

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "installer_stub" / "lib"

SAMPLES = {
    "WCB_SITE_NAME": ["acme", "a", "acme-2_x", "Acme", "acme\n", "acme ", "a" * 40, "a" * 41, "1acme", ""],
    "WCB_SITE_DOMAIN": ["acme.local", "a-b.c", "-a.b", "a..b", "a.b.", "x" * 63 + ".y", "x" * 64, "acme.local\n",
                        ("a" * 63 + ".") * 4, "한국.kr"],
    "WCB_VIP": ["10.0.0.1", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4\n", "1.2.3.4 ", ""],
    "WCB_VIP_HTTP_PORT": ["1", "8080", "65535", "65536", "0", "080", "99999", "8080\n"],
    "WCB_ADMIN_NETWORKS": ["", "10.0.0.0/8", "10.0.0.0/8 192.168.1.0/24", "10.0.0.0/33", "10.0.0.0/8  1.0.0.0/8",
                           " 10.0.0.0/8", "10.0.0.0"],
    "WCB_NODE_COUNT": ["1", "5", "99", "100", "0", "05"],
    "WCB_NODE_3_NAME": ["wc-db1", "WC1", "-x", "x-", "a" * 63, "a" * 64, "wc.db1", "wc-db1\n"],
    "WCB_NODE_12_IP": ["10.0.0.3", "10.0.0.300"],
    "WCB_NODE_1_ROLES": ["db-node", "app-node mq-node", "db-node  mq-node", "db-node,mq-node", "web",
                         "db-node mq-node app-node arbitrator", "db-node db-node db-node db-node db-node"],
    "WCB_NODE_100_IP": ["10.0.0.1"],
    "WCB_NODE_n_IP": ["10.0.0.1"],
    "WCB_GALERA_CLUSTER_NAME": ["acme_galera", "acme-galera", "a" * 60, "a" * 61, ""],
    "WCB_GALERA_SST_METHOD": ["rsync", "mariabackup", "xtrabackup", "rsync\n"],
    "WCB_DB_APP_USER": ["workcenter", "_x", "1x", "a" * 32, "a" * 33, "wc-app"],
    "WCB_MQ_VHOST": ["/", "/wc", "/wc_1-x", "workcenter", "/wc.x", "//", "/" + "a" * 63, "/" + "a" * 64],
    "WCB_MQ_QUEUE_POLICY": ["ha-all", "quorum", "all"],
    "WCB_APP_JAR": ["", "site/WorkCenter.jar", "site/.jar", "site/../x.jar", "../x.jar", "site/a b.jar",
                    "site/" + "a" * 201, "site/" + "a" * 196 + ".jar"],
    "WCB_APP_JAR_SHA256": ["", "a" * 64, "A" * 64, "a" * 63],
    "WCB_APP_USER": ["workcenter", "wc-app", "_x", "Wc", "a" * 33],
    "WCB_DB_ROOT_PASSWORD": ["A" * 16, "Ab1" * 10, "short", "a" * 129, "a" * 16 + "!"],
    "WCB_ERLANG_COOKIE": ["A" * 20, "A" * 255, "A" * 256, "a" * 20, "A" * 19],
    "WCB_APP_DOMAIN_DESCRIPTION": ["기본 도메인입니다", "it's fine", 'say "hi"', "it's \"both\"", " lead", "trail ",
                                   "a\u202eb", "a\u00adb", "a\u2028b", "tab\tx", "a$b", "a`b", "a\\b", "가" * 200,
                                   "가" * 201, "", "😀 emoji", "\u00a0nbsp\u00a0", "a\u0085b", "\ufeffbom", "x:#y"],
    "WCB_APP_SWAGGER_TITLE": ["", "A.Works WorkCenter APP", "제목"],
    "WCB_APP_DOMAIN_SUPERVISOR": ["super@aworks.com", "a@b", "nobody", "super@aworks.com\n"],
    "WCB_APP_SWAGGER_LICENSE_URL": ["", "https://x.example/l", "ftp://x", "http://x/it's"],
    "WCB_APP_DOMAIN_NAME": ["aworks.com", "", "a b", "한국"],
    "WCB_LOG_FILE": ["/tmp/x"],
    "WCB_DRY_RUN": ["0"],
}


def bash_verdicts(pairs: list[tuple[str, str]]) -> list[str]:
    """wcb_schema_check over (key, value) pairs in one bash: 'ok' or the rule it printed."""
    script = (f'set -euo pipefail; source {LIB}/common.sh; source {LIB}/env.sh; source {LIB}/site_schema.sh\n'
              'while IFS= read -r -d "" k && IFS= read -r -d "" v; do\n'
              '  if r="$(wcb_schema_check "$k" "$v")"; then printf "ok\\0"; else printf "%s\\0" "$r"; fi\n'
              'done\n')
    data = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs)
    out = subprocess.run(["bash", "-c", script], input=data, capture_output=True, timeout=120, check=True,
                         env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}).stdout
    return out.decode().split("\0")[:-1]


def py_verdicts(pairs: list[tuple[str, str]]) -> list[str]:
    out = []
    for k, v in pairs:
        problem = schema_problem(k, v)
        out.append("ok" if problem is None else problem)
    return out


def test_the_installer_schema_is_generated_from_the_builder_schema():
    assert (LIB / "site_schema.sh").read_text() == render_schema_sh(), \
        "installer_stub/lib/site_schema.sh is stale: regenerate it (see its header)"


def test_builder_and_installer_give_the_same_verdict_on_every_sample():
    pairs = [(k, v) for k, vs in SAMPLES.items() for v in vs]
    py, sh = py_verdicts(pairs), bash_verdicts(pairs)
    assert py == sh, [(p, a, b) for p, a, b in zip(pairs, py, sh) if a != b]
    verdict = dict(zip(pairs, py))
    # the cases of the issue: newline-terminated values, what the installer used to refuse, over-long values
    for bad in [("WCB_SITE_NAME", "acme\n"), ("WCB_MQ_VHOST", "workcenter"), ("WCB_GALERA_CLUSTER_NAME", "acme-galera"),
                ("WCB_APP_JAR", "site/" + "a" * 201), ("WCB_LOG_FILE", "/tmp/x"), ("WCB_NODE_n_IP", "10.0.0.1")]:
        assert verdict[bad] != "ok", bad
    assert verdict[("WCB_SITE_DOMAIN", ("a" * 63 + ".") * 4)].startswith("longer than 253 characters")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([r.key.replace("<n>", "2") for r in SCHEMA]),
                          st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                                  max_size=80)), min_size=1, max_size=40))
def test_builder_and_installer_agree_on_any_text(pairs):
    assert py_verdicts(pairs) == bash_verdicts(pairs)


def test_every_key_the_builder_writes_is_in_the_schema():
    from bundler.site.model import SECRET_KEYS, generate_secrets, site_env_entries
    site = load_site(MANIFESTS / "site.example.yaml")
    for key, value, _ in site_env_entries(site):
        assert schema_problem(key, value) is None, key
    for key, value in generate_secrets(site).items():
        assert schema_problem(key, value) is None, key
    assert len(SECRET_KEYS) == sum(r.file == "secrets.env" for r in SCHEMA)


def _doc() -> dict:
    return yaml.safe_load((MANIFESTS / "site.example.yaml").read_text())


def _write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


@pytest.mark.parametrize("where,value,key,words", [
    (("name",), "acme\n", "name", "WCB_SITE_NAME"),
    (("domain",), "acme.local\n", "domain", "WCB_SITE_DOMAIN"),
    (("rabbitmq", "vhost"), "workcenter", "rabbitmq.vhost", "'/' or '/name'"),
    (("galera", "cluster-name"), "acme-galera", "galera.cluster-name", "letters, digits or '_'"),
    (("database", "name"), "x" * 5000, "database.name", "longer than 64 characters"),
    (("name",), "a" * 5000, "name", "longer than 40 characters"),
    (("app", "user"), "wc\n", "app.user", "Unix user name"),
    (("secrets", "db-root-password"), "Abcdefgh12345678\n", "secrets.db-root-password", "this fixed secret"),
])
def test_site_yaml_values_are_checked_whole_and_by_length(tmp_path, where, value, key, words):
    doc = _doc()
    node = doc
    for part in where[:-1]:
        node = node.setdefault(part, {})
    node[where[-1]] = value
    path = _write(tmp_path / "site.yaml", doc)
    with pytest.raises(SiteError) as exc:
        load_site(path)
    text = exc.value.render()
    assert exc.value.key == key and words in text and str(path) in text, text
    assert "Abcdefgh" not in text


def test_app_jar_outside_the_site_folder_is_refused(tmp_path, capsys):
    """app.jar '../outside/shadow' used to be packed as site/shadow: any file the builder could read."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "shadow.jar").write_text("root:$6$secret:19000::::::\n")
    folder = tmp_path / "site"
    folder.mkdir()
    doc = _doc()
    doc.setdefault("app", {})["jar"] = "../outside/shadow.jar"
    path = _write(folder / "site.yaml", doc)
    out = tmp_path / "out"
    code, _, err = wcb(*["plan", "--site", str(path), "--out", str(out)])
    assert_clean_error(code, err, EXIT_INPUT, "site.yaml", "app.jar", "outside the site file's folder")
    assert not out.exists() or not list(out.rglob("*"))
    # a symlink inside the folder pointing outside is the same thing
    (folder / "wc.jar").symlink_to(tmp_path / "outside" / "shadow.jar")
    doc["app"]["jar"] = "wc.jar"
    _write(path, doc)
    with pytest.raises(SiteError, match="outside the site file's folder"):
        load_site(path)


def test_a_5000_character_jar_path_is_exit_3_not_an_internal_error(tmp_path, capsys):
    doc = _doc()
    doc.setdefault("app", {})["jar"] = "x" * 5000 + ".jar"
    path = _write(tmp_path / "site.yaml", doc)
    code, _, err = wcb(*["plan", "--site", str(path), "--out", str(tmp_path / "out")])
    assert_clean_error(code, err, EXIT_INPUT, "site.yaml", "app.jar")
    doc["app"]["jar"] = "/".join(["d" * 200] * 30) + "/w.jar"   # every part short, the whole too long
    _write(path, doc)
    code, _, err = wcb(*["plan", "--site", str(path), "--out", str(tmp_path / "out")])
    assert_clean_error(code, err, EXIT_INPUT, "site.yaml", "app.jar")


def test_korean_free_text_is_not_mangled_by_the_bash_checker():
    # bytes >= 0x80 are neither control characters nor quotes in the C locale: free text keeps them
    assert bash_verdicts([("WCB_SITE_DOMAIN", "한국.kr")]) == py_verdicts([("WCB_SITE_DOMAIN", "한국.kr")])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_the_free_text_words_and_the_free_text_regex_agree(value):
    """check_app_fields' reasons (free_text_problem) and the schema's byte regex describe one set."""
    from bundler.site.model import _TEXT_BYTES, free_text_problem
    assert (free_text_problem(value) is None) == (_TEXT_BYTES.fullmatch(value.encode()) is not None)


def test_free_text_verdicts_of_builder_and_installer_on_unicode_samples():
    values = ["한글 설명", "a\u202eb", "\u200bzero", "x\u2060y", "e\u0301", "\U0001F600", "\U0010FFFD", "\uFFFD",
              "\u0600x", "'q'", '"q"', "\u3000ideo\u3000"]
    pairs = [("WCB_APP_SWAGGER_DESCRIPTION", v) for v in values]
    assert py_verdicts(pairs) == bash_verdicts(pairs)


def test_the_trust_table_names_real_tests_and_shows_a_failure():
    """Point 11: every row of the README's trust-boundary table names a test that exists, and a row whose
    test did not pass says NOT PASSING instead of vanishing."""
    from scripts.fault_table import TRUST_CASES, render_trust
    for _point, _case, _expected, test in TRUST_CASES:
        kind, ident = test.split(" ", 1)
        path, name = ident.split("::", 1)
        text = (ROOT / path).read_text()
        assert (f"def {name}(" in text) if kind == "pytest" else (f'@test "{name}"' in text), test
    status = {t: "" for *_, t in TRUST_CASES}
    status[TRUST_CASES[3][3]] = "failed"
    table = render_trust(status)
    assert table.count("**NOT PASSING** (failed)") == 1 and f"{len(TRUST_CASES) - 1} of {len(TRUST_CASES)}" in table


RESERVED_SITE_FILES = ["site.env", "site.env.signed", "secrets.env", "flows.tsv", "WorkCenter-app.yml.tmpl"]


def test_the_jar_can_never_name_a_reserved_site_file():
    """WCB_APP_JAR=site/secrets.env used to pass both checkers: root then installed the secrets as a 0644 jar.
    The jar must end in .jar; every file the bundle's site/ folder carries is refused by builder and installer."""
    from bundler.site.appconfig import SITE_TEMPLATE
    assert SITE_TEMPLATE in RESERVED_SITE_FILES
    pairs = [("WCB_APP_JAR", f"site/{name}") for name in RESERVED_SITE_FILES]
    pairs += [("WCB_APP_JAR", "site/WorkCenter.jar"), ("WCB_APP_JAR", "site/wc.jar.bak"), ("WCB_APP_JAR", "site/x.JAR")]
    py, sh = py_verdicts(pairs), bash_verdicts(pairs)
    assert py == sh
    assert py[:len(RESERVED_SITE_FILES)] == ["it must be " + SCHEMA_BY_KEY_RULE()] * len(RESERVED_SITE_FILES)
    assert py[len(RESERVED_SITE_FILES):] == ["ok", "it must be " + SCHEMA_BY_KEY_RULE(),
                                             "it must be " + SCHEMA_BY_KEY_RULE()]


def SCHEMA_BY_KEY_RULE() -> str:  # noqa: N802 - reads as the constant it stands for
    from bundler.site.model import SCHEMA_BY_KEY
    return SCHEMA_BY_KEY["WCB_APP_JAR"].rule


@pytest.mark.parametrize("name", RESERVED_SITE_FILES)
def test_a_site_yaml_jar_named_like_a_site_file_is_exit_3(tmp_path, name):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / name).write_text("WCB_DB_ROOT_PASSWORD=Abcdefgh12345678\n")
    doc = _doc()
    doc.setdefault("app", {})["jar"] = name
    path = _write(folder / "site.yaml", doc)
    out = tmp_path / "out"
    code, _, err = wcb(*["plan", "--site", str(path), "--out", str(out)])
    assert_clean_error(code, err, EXIT_INPUT, "site.yaml", "app.jar", ".jar")
    assert not out.exists() or not list(out.rglob("*"))
