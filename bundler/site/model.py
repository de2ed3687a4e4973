"""The site model: site.yaml -> validated Site -> site/site.env + site/secrets.env.

site.yaml is written by the user (manifests/site.example.yaml is the commented
reference). `load_site()` builds the dataclasses below through schema.py and
checks the topology; every error names the file, line and key path.
`write_site_files()` writes the files install.sh reads (docs/design.md section 6):
site.env holds only primary facts, documented inline so an operator can correct
an IP with vi; secrets.env (0600) holds generated per-site secrets, which are
never printed or logged. `parse_site_env()` + `site_from_env()` read site.env
back and re-run the same validation (the Python twin of `install.sh --check-site`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets as _secrets
import shutil
import string
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Optional

from ..core.errors import SiteError
from ..core.fileutil import atomic_write, sha256_file
from ..core.schema import parse_yaml
from . import flows, roles

log = logging.getLogger("wcbundle")

Role = Literal[roles.NAMES]           # the names of bundler/site/roles.py, checked by the schema loader
ROLES = roles.NAMES                 # bundler/site/roles.py: the one role table
REQUIRED_ROLES = roles.REQUIRED



def _k(name: str, default=None, factory=None):
    """A dataclass field whose YAML key is `name` (with dashes)."""
    if factory is not None:
        return field(default_factory=factory, metadata={"key": name})
    return field(default=default, metadata={"key": name})


@dataclass
class Vip:
    address: str
    http_port: int = _k("http-port", flows.APP_HTTP_PORT)
    socket_port: int = _k("socket-port", flows.APP_SOCKET_PORT)


@dataclass
class Node:
    name: str
    ip: str
    roles: list[Role]


@dataclass
class Galera:
    sst_method: Literal["mariabackup", "rsync"] = _k("sst-method", "mariabackup")
    cluster_name: Optional[str] = _k("cluster-name", None)  # noqa: UP045 - schema.py evaluates hints on 3.9
    # full: innodb_flush_log_at_trx_commit=1 (a commit is on disk before it is acknowledged);
    # relaxed: =2 (flushed about once a second: faster, but a power cut of every db node loses up
    # to a second of acknowledged commits). README "Durability".
    durability: Literal["full", "relaxed"] = "full"
    # Galera's write-set cache (gcache.size): a node away for less than what it holds rejoins by
    # IST instead of a full SST. A size in M or G.
    gcache_size: str = _k("gcache-size", "1G")


@dataclass
class Database:
    name: str = "workcenter"
    app_user: str = _k("app-user", "workcenter")
    sst_user: str = _k("sst-user", "sst")


@dataclass
class RabbitMQ:
    admin_user: str = _k("admin-user", "wcadmin")
    app_user: str = _k("app-user", "workcenter")
    vhost: str = "/"
    queue_policy: Literal["ha-all", "quorum"] = _k("queue-policy", "ha-all")


# --------------------------------------------------------------------------- WorkCenter-app.yml fields
# BEGIN app-config fields (issue 18). The values WorkCenter-app.yml needs that the topology does not
# give: the `domain` and `swagger` blocks of the WorkCenter install manual's example. One row per
# field; everything else (dataclasses, defaults, validation, site.env keys, read-back) derives from
# APP_FIELDS. `pattern` is written in the regex subset that Python `re` and bash `[[ =~ ]]` (POSIX ERE)
# read alike, so the installer's validator can use the same strings; kind "text" has no pattern and
# follows FREE_TEXT_RULE instead. Lengths are in characters; min_len 0 = may be empty (the manual
# leaves license, licenseUrl and termsOfServiceUrl empty). Defaults are the manual's example values.


@dataclass(frozen=True)
class AppField:
    key: str       # site.yaml key path
    env: str       # site.env key
    kind: Literal["name", "email", "url", "java-package", "text"]
    min_len: int
    max_len: int
    default: str   # the manual's value ("" where it gives none)
    yml: str       # the WorkCenter-app.yml key it fills (default layout, README "WorkCenter-app.yml")


APP_FIELD_PATTERNS = {
    # a WorkCenter domain name as the manual's example writes it (aworks.com): DNS-name characters
    "name": r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
    "email": r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
             r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    # http(s) URLs of RFC 3986 characters, less ' $ [ ] (site.env and YAML quoting stay trivial)
    "url": r"^https?://[A-Za-z0-9._~:/?#@!&*+,;=%()-]+$",
    "java-package": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
}
# Free text (titles, descriptions, license name): any printable Unicode (Korean included), ':' '#'
# and either kind of quote, but not both kinds in one value (site.env has no escapes: a value is
# written in the quotes it does not contain); no control or format characters (Unicode Cc, Cf, Zl, Zp:
# no newlines, no bidi overrides); none of \ $ ` (site.env never carries them); no leading or trailing
# blank. WorkCenter-app.yml gets every value YAML-quoted by the renderer, whatever it holds.
FREE_TEXT_FORBIDDEN = "\\$`"
FREE_TEXT_RULE = ("printable characters (Korean is fine), not both ' and \" in one value, none of \\ $ `, "
                  "no line breaks or invisible format characters, no leading or trailing space")

APP_FIELDS = (
    AppField("app.domain.name", "WCB_APP_DOMAIN_NAME", "name", 1, 63, "aworks.com", "workcenter.domain.name"),
    AppField("app.domain.description", "WCB_APP_DOMAIN_DESCRIPTION", "text", 0, 200,
             "This is the default domain", "workcenter.domain.description"),
    AppField("app.domain.supervisor", "WCB_APP_DOMAIN_SUPERVISOR", "email", 3, 254, "super@aworks.com",
             "workcenter.domain.supervisor"),
    AppField("app.swagger.title", "WCB_APP_SWAGGER_TITLE", "text", 1, 200, "A.Works WorkCenter APP",
             "workcenter.swagger.title"),
    AppField("app.swagger.description", "WCB_APP_SWAGGER_DESCRIPTION", "text", 0, 500,
             "Cloud RPA A.Works WorkCenter APP", "workcenter.swagger.description"),
    AppField("app.swagger.base-package", "WCB_APP_SWAGGER_BASE_PACKAGE", "java-package", 1, 200,
             "com.aworks.workcenter.service", "workcenter.swagger.basePackage"),
    AppField("app.swagger.license", "WCB_APP_SWAGGER_LICENSE", "text", 0, 200, "", "workcenter.swagger.license"),
    AppField("app.swagger.license-url", "WCB_APP_SWAGGER_LICENSE_URL", "url", 0, 500, "",
             "workcenter.swagger.licenseUrl"),
    AppField("app.swagger.terms-of-service-url", "WCB_APP_SWAGGER_TERMS_URL", "url", 0, 500, "",
             "workcenter.swagger.termsOfServiceUrl"),
)
APP_FIELD = {f.key: f for f in APP_FIELDS}


def _app_default(key: str):
    """A dataclass field for APP_FIELD[key]: YAML key = its last part, default = the manual's value.
    Optional so that `license:` (empty, as the manual writes it) reads as ""."""
    return _k(key.rsplit(".", 1)[1], APP_FIELD[key].default)


@dataclass
class AppDomain:
    name: Optional[str] = _app_default("app.domain.name")  # noqa: UP045 - schema.py evaluates hints on 3.9
    description: Optional[str] = _app_default("app.domain.description")  # noqa: UP045
    supervisor: Optional[str] = _app_default("app.domain.supervisor")  # noqa: UP045


@dataclass
class AppSwagger:
    title: Optional[str] = _app_default("app.swagger.title")  # noqa: UP045
    description: Optional[str] = _app_default("app.swagger.description")  # noqa: UP045
    base_package: Optional[str] = _app_default("app.swagger.base-package")  # noqa: UP045
    license: Optional[str] = _app_default("app.swagger.license")  # noqa: UP045
    license_url: Optional[str] = _app_default("app.swagger.license-url")  # noqa: UP045
    terms_of_service_url: Optional[str] = _app_default("app.swagger.terms-of-service-url")  # noqa: UP045


def app_field_value(site: Site, f: AppField) -> str:
    """The site's value of one APP_FIELDS row ("" for an empty/null YAML value)."""
    obj = site
    for part in f.key.split("."):
        obj = getattr(obj, part.replace("-", "_"))
    return "" if obj is None else str(obj)


def _text_forbidden(c: str) -> bool:
    """The characters free text may not hold (the byte rule of site.py TEXT_RE, per character)."""
    o = ord(c)
    return (o < 0x20 or 0x7F <= o <= 0x9F or o == 0xAD or 0x200B <= o <= 0x200F or 0x2028 <= o <= 0x202E
            or 0x2060 <= o <= 0x206F or o == 0xFEFF or 0xD800 <= o <= 0xDFFF)


def free_text_problem(value: str) -> str | None:
    """Why `value` is not acceptable free text (FREE_TEXT_RULE), or None. The same set as the site
    schema's byte regex (TEXT_RE), which both the builder and install.sh run; this names the reason."""
    for c in value:
        if c in FREE_TEXT_FORBIDDEN:
            return f"it contains {c!r}"
        if _text_forbidden(c):
            return f"it contains the control/format character U+{ord(c):04X}"
    if "'" in value and '"' in value:
        return "it contains both ' and \""
    if value != value.strip(" "):
        return "it starts or ends with a blank"
    return None


def check_app_fields(site: Site, fail: Fail) -> None:
    """Validate every APP_FIELDS value (lengths, patterns, free-text rule); never echoes secrets (none here)."""
    for f in APP_FIELDS:
        value = app_field_value(site, f)
        if not f.min_len <= len(value) <= f.max_len:
            what = "must not be empty" if not value and f.min_len else f"has {len(value)} characters"
            fail(f.key, f"{f.key} {what}", f"Use {f.min_len}-{f.max_len} characters"
                 + (f" (the manual's value is '{f.default}')." if f.default else "."))
        if not value:
            continue
        if f.kind == "text":
            problem = free_text_problem(value)
            if problem:
                fail(f.key, f"invalid text for {f.key}: {problem}", f"Use {FREE_TEXT_RULE}.")
        elif not re.match(APP_FIELD_PATTERNS[f.kind], value):
            hint = {"name": "Use letters, digits, '.', '_', '-' (e.g. aworks.com).",
                    "email": "Use an e-mail address such as super@aworks.com.",
                    "url": "Use an http:// or https:// URL without spaces, quotes or '$'.",
                    "java-package": "Use a Java package name such as com.aworks.workcenter.service."}[f.kind]
            fail(f.key, f"invalid {f.kind} '{value}' for {f.key}", hint)
# END app-config fields


@dataclass
class App:
    jar: Optional[str] = None  # noqa: UP045 - schema.py evaluates hints on 3.9
    user: str = "workcenter"
    domain: AppDomain = field(default_factory=AppDomain)
    swagger: AppSwagger = field(default_factory=AppSwagger)
    # a YAML file (relative to site.yaml) merged over the stock WorkCenter-app.yml template (appconfig.py)
    config_override: Optional[str] = _k("config-override", None)  # noqa: UP045 - schema.py evaluates hints on 3.9


@dataclass
class Secrets:
    db_root_password: Optional[str] = _k("db-root-password")  # noqa: UP045 - schema.py evaluates hints on 3.9
    db_app_password: Optional[str] = _k("db-app-password")  # noqa: UP045 - schema.py evaluates hints on 3.9
    db_sst_password: Optional[str] = _k("db-sst-password")  # noqa: UP045 - schema.py evaluates hints on 3.9
    mq_admin_password: Optional[str] = _k("mq-admin-password")  # noqa: UP045 - schema.py evaluates hints on 3.9
    mq_app_password: Optional[str] = _k("mq-app-password")  # noqa: UP045 - schema.py evaluates hints on 3.9
    erlang_cookie: Optional[str] = _k("erlang-cookie")  # noqa: UP045 - schema.py evaluates hints on 3.9


@dataclass
class Site:
    name: str
    domain: str
    vip: Vip
    nodes: list[Node]
    admin_networks: list[str] = _k("admin-networks", factory=list)
    galera: Galera = field(default_factory=Galera)
    database: Database = field(default_factory=Database)
    rabbitmq: RabbitMQ = field(default_factory=RabbitMQ)
    app: App = field(default_factory=App)
    secrets: Secrets = field(default_factory=Secrets)
    # Filled by load_site(), not read from YAML:
    jar_path: Optional[Path] = field(default=None, init=False, compare=False)  # noqa: UP045 - schema.py evaluates hints on 3.9
    jar_sha256: str = field(default="", init=False)
    app_yml_template: Optional[str] = field(default=None, init=False, compare=False)  # noqa: UP045 - merged override

    @property
    def galera_cluster_name(self) -> str:
        return self.galera.cluster_name or f"{self.name.replace('-', '_')}_galera"

    def holders(self, role: str) -> list[Node]:
        return [n for n in self.nodes if role in n.roles]

    def env_entries(self, jar_rel: str = "") -> list[tuple[str, str, str]]:
        """site.env's (key, value, comment) entries (site_env_entries), for the layers that take
        a Site without importing this module (appconfig)."""
        return site_env_entries(self, jar_rel)

    def summary(self) -> dict:
        """The site without secrets, for bundle.json["site"]."""
        return {"name": self.name, "domain": self.domain,
                "vip": {"address": self.vip.address, "http_port": self.vip.http_port,
                        "socket_port": self.vip.socket_port},
                "admin_networks": list(self.admin_networks),
                "nodes": [{"name": n.name, "ip": n.ip, "roles": list(n.roles)} for n in self.nodes],
                "galera": {"cluster_name": self.galera_cluster_name, "sst_method": self.galera.sst_method,
                           "durability": self.galera.durability, "gcache_size": self.galera.gcache_size},
                "rabbitmq": {"queue_policy": self.rabbitmq.queue_policy},
                "jar": {"name": Path(self.app.jar).name, "sha256": self.jar_sha256} if self.app.jar else None}


# --------------------------------------------------------------------------- the site schema

# The one definition of every site.env / secrets.env key: its file, its whole-string pattern and its
# length in characters. The builder checks site.yaml through it (validate()), and `render_schema_sh()`
# generates the installer's twin, lib/site_schema.sh, from it into the bundle (listed in MANIFEST.sha256):
# both sides accept exactly the same values (tests/unit/test_site_schema.py runs both on the same inputs).
# Patterns use the common subset of Python's re and POSIX ERE (bracket classes of explicit ranges, groups,
# |, ?, *, {m,n}, \\. \\[ escapes) and are matched whole (re.fullmatch / ^(...)$ under LC_ALL=C in bash,
# where ranges are byte ranges). Free text (text=True) is one regex over the UTF-8 bytes, run by both.

@dataclass(frozen=True)
class EnvRule:
    key: str              # WCB_...; WCB_NODE_<n>_NAME etc. stand for every node n
    file: str             # "site.env" | "secrets.env"
    pattern: str          # whole-string; see below for the subset; ignored when text=True
    max_len: int          # characters (Unicode code points; bash counts UTF-8 lead bytes)
    rule: str             # the pattern in words, for messages
    text: bool = False    # free text: TEXT_RE over the value's UTF-8 bytes
    optional: bool = False
    min_len: int = 0


# Free text (the WorkCenter-app.yml titles and descriptions, Korean included): valid UTF-8 of printable
# characters, written as one byte-level regex that Python (re on bytes) and bash (the same bytes, C locale)
# both run, so they cannot disagree: no ASCII or C1 control characters, none of \ $ ` (site.env carries
# none), no soft hyphen, zero-width, bidi-control or line/paragraph separator (U+00AD, U+200B-U+200F,
# U+2028-U+202E, U+2060-U+206F, U+FEFF), not both ' and " in one value (site.env has no escapes: a value
# is written in the quotes it does not contain), no space at either end.
_T_ASCII = r"[ !#]|[%&(-Z]|\[|\]|\^|_|[a-~]"          # printable ASCII but " $ ' \ ` (quotes added below)
_T_HIGH = (r"\xc2[\xa0-\xac\xae-\xbf]|[\xc3-\xdf][\x80-\xbf]"
           r"|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1\xe3-\xec][\x80-\xbf][\x80-\xbf]"
           r"|\xe2\x80[\x80-\x8a\x90-\xa7\xaf-\xbf]|\xe2\x81[\x80-\x9f\xb0-\xbf]|\xe2[\x82-\xbf][\x80-\xbf]"
           r"|\xed[\x80-\x9f][\x80-\xbf]|\xee[\x80-\xbf][\x80-\xbf]"
           r"|\xef[\x80-\xba\xbc-\xbf][\x80-\xbf]|\xef\xbb[\x80-\xbe]"
           r"|\xf0[\x90-\xbf][\x80-\xbf][\x80-\xbf]|[\xf1-\xf3][\x80-\xbf][\x80-\xbf][\x80-\xbf]"
           r"|\xf4[\x80-\x8f][\x80-\xbf][\x80-\xbf]")


def _text_re() -> str:
    variants = []
    for quote in ('"', "\\'"):
        inner = f"({_T_ASCII}|{quote}|{_T_HIGH})"          # any allowed character (with this one quote)
        edge = f"({_T_ASCII.replace('[ !#]', '[!#]')}|{quote}|{_T_HIGH})"  # the same but the space
        variants.append(f"({edge}({inner}*{edge})?)?")
    return "|".join(variants)


TEXT_RE = _text_re()
_TEXT_BYTES = re.compile(TEXT_RE.encode("ascii"))
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_CIDR = rf"{_IPV4}/([0-9]|[12][0-9]|3[0-2])"
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ROLE = "(" + "|".join(ROLES) + ")"
_SQL = "[A-Za-z_][A-Za-z0-9_]{0,31}"
_SQL_RULE = "1-32 characters: a letter or '_', then letters, digits, '_'"
_PORT_RULE = "a port number 1-65535"
_IP_RULE = "an IPv4 address (four numbers 0-255, no leading zeros)"
_APP_KIND_RULE = {"name": "a name of letters, digits, '.', '_', '-' (e.g. aworks.com)",
                  "email": "an e-mail address such as super@aworks.com",
                  "url": "an http:// or https:// URL without spaces, quotes or '$'",
                  "java-package": "a Java package name such as com.aworks.workcenter.service"}
def _app_pattern(f: AppField) -> str:
    p = APP_FIELD_PATTERNS.get(f.kind, "").removeprefix("^").removesuffix("$")
    return f"({p})?" if p and f.min_len == 0 else p


NODE_KEY = re.compile(r"WCB_NODE_([1-9][0-9]?)_(NAME|IP|ROLES)")
MAX_NODES = 99

# Every key bundle.env may hold (WCB_ROLE_PACKAGES_<role> and WCB_ROLE_CLOSURE_<role> aside: lib/env.sh
# allows those two prefixes by pattern): install.sh refuses any other (lib/env.sh, through
# lib/site_schema.sh, which carries this list). Add a new key here (pack.render_bundle_env writes them).
BUNDLE_ENV_KEYS = ("WCB_BUNDLE_NAME", "WCB_BUNDLE_ID", "WCB_TOOL_VERSION", "WCB_BUILD_TIME", "WCB_EL", "WCB_ARCH",
                   "WCB_PKG_MANAGER", "WCB_REPO_ID", "WCB_GPG_KEYS", "WCB_ROLES", "WCB_MODULE_DISABLE",
                   "WCB_RABBITMQ_VERSION", "WCB_ERLANG_VERSION", "WCB_MARIADB_VERSION", "WCB_REQUIRED_KB",
                   "WCB_SIGNED", "WCB_SIGNER_FPR",
                   # issue 14: the bundle's own lock digest, and for an update (build --since) its base
                   "WCB_LOCK_SHA256", "WCB_BUNDLE_KIND", "WCB_BASE_BUNDLE_ID", "WCB_BASE_LOCK_SHA256")

SCHEMA: tuple[EnvRule, ...] = (
    EnvRule("WCB_SITE_NAME", "site.env", "[a-z][a-z0-9_-]{0,39}", 40,
            "1-40 characters: a lower-case letter, then lower-case letters, digits, '-' or '_'"),
    EnvRule("WCB_SITE_DOMAIN", "site.env", rf"({_LABEL}\.)*{_LABEL}", 253, "a DNS domain such as acme.local"),
    EnvRule("WCB_VIP", "site.env", _IPV4, 15, _IP_RULE),
    EnvRule("WCB_VIP_HTTP_PORT", "site.env", _PORT, 5, _PORT_RULE),
    EnvRule("WCB_VIP_SOCKET_PORT", "site.env", _PORT, 5, _PORT_RULE),
    EnvRule("WCB_ADMIN_NETWORKS", "site.env", rf"({_CIDR}( {_CIDR})*)?", 2048,
            "IPv4 networks NET/PREFIX separated by single spaces, or empty", optional=True),
    EnvRule("WCB_NODE_COUNT", "site.env", "[1-9][0-9]?", 2, f"the number of nodes, 1-{MAX_NODES}"),
    EnvRule("WCB_NODE_<n>_NAME", "site.env", _LABEL, 63,
            "a short host name: letters, digits, '-' (not first or last), no dots"),
    EnvRule("WCB_NODE_<n>_IP", "site.env", _IPV4, 15, _IP_RULE),
    EnvRule("WCB_NODE_<n>_ROLES", "site.env", rf"{_ROLE}( {_ROLE}){{0,{len(ROLES) - 1}}}",
            max(64, sum(len(r) + 1 for r in ROLES)),
            f"1-{len(ROLES)} roles separated by single spaces, of: {' '.join(ROLES)}"),
    EnvRule("WCB_GALERA_CLUSTER_NAME", "site.env", "[A-Za-z0-9_]{1,60}", 60, "1-60 letters, digits or '_'"),
    EnvRule("WCB_GALERA_SST_METHOD", "site.env", "(mariabackup|rsync)", 11, "mariabackup or rsync"),
    EnvRule("WCB_GALERA_DURABILITY", "site.env", "(full|relaxed)", 7, "full or relaxed", optional=True),
    EnvRule("WCB_GALERA_GCACHE_SIZE", "site.env", "([1-9][0-9]{2,4}M|[1-9][0-9]?G)", 6,
            "a size from 100M to 99G, such as 512M or 2G", optional=True),
    EnvRule("WCB_DB_NAME", "site.env", "[A-Za-z0-9_]{1,64}", 64, "1-64 letters, digits or '_'"),
    EnvRule("WCB_DB_APP_USER", "site.env", _SQL, 32, _SQL_RULE),
    EnvRule("WCB_DB_SST_USER", "site.env", _SQL, 32, _SQL_RULE),
    EnvRule("WCB_MQ_ADMIN_USER", "site.env", _SQL, 32, _SQL_RULE),
    EnvRule("WCB_MQ_APP_USER", "site.env", _SQL, 32, _SQL_RULE),
    EnvRule("WCB_MQ_VHOST", "site.env", "/[A-Za-z0-9_-]{0,63}", 64, "'/' or '/name' (letters, digits, '_', '-')"),
    EnvRule("WCB_MQ_QUEUE_POLICY", "site.env", "(ha-all|quorum)", 6, "ha-all or quorum"),
    # ends in .jar: so it can never name the bundle's own site files (site.env, site.env.signed, secrets.env,
    # flows.tsv, WorkCenter-app.yml.tmpl), which root would otherwise install as a 0644 jar
    EnvRule("WCB_APP_JAR", "site.env", r"(site/[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,195}\.jar)?", 205,
            "empty, or site/<file name>.jar (letters, digits, '.', '_', '+', '-'; not starting with '.')",
            optional=True),
    EnvRule("WCB_APP_JAR_SHA256", "site.env", "([0-9a-f]{64})?", 64, "empty, or 64 lower-case hex digits",
            optional=True),
    EnvRule("WCB_APP_HTTP_PORT", "site.env", _PORT, 5, _PORT_RULE),
    EnvRule("WCB_APP_SOCKET_PORT", "site.env", _PORT, 5, _PORT_RULE),
    EnvRule("WCB_APP_HAZELCAST_PORT", "site.env", _PORT, 5, _PORT_RULE),
    EnvRule("WCB_APP_ADMIN_PORT", "site.env", _PORT, 5, _PORT_RULE),
    EnvRule("WCB_APP_USER", "site.env", "[a-z_][a-z0-9_-]{0,31}", 32,
            "a lower-case Unix user name (1-32 characters: a-z or '_', then a-z, 0-9, '_', '-')"),
    EnvRule("WCB_DB_ROOT_PASSWORD", "secrets.env", "[A-Za-z0-9]{16,128}", 128, "16-128 characters A-Z, a-z, 0-9"),
    EnvRule("WCB_DB_APP_PASSWORD", "secrets.env", "[A-Za-z0-9]{16,128}", 128, "16-128 characters A-Z, a-z, 0-9"),
    EnvRule("WCB_DB_SST_PASSWORD", "secrets.env", "[A-Za-z0-9]{16,128}", 128, "16-128 characters A-Z, a-z, 0-9"),
    EnvRule("WCB_MQ_ADMIN_PASSWORD", "secrets.env", "[A-Za-z0-9]{16,128}", 128, "16-128 characters A-Z, a-z, 0-9"),
    EnvRule("WCB_MQ_APP_PASSWORD", "secrets.env", "[A-Za-z0-9]{16,128}", 128, "16-128 characters A-Z, a-z, 0-9"),
    EnvRule("WCB_ERLANG_COOKIE", "secrets.env", "[A-Z]{20,255}", 255, "20-255 upper-case letters A-Z"),
) + tuple(
    # the WorkCenter-app.yml fields (issue 18): APP_FIELDS' patterns and lengths
    EnvRule(f.env, "site.env", _app_pattern(f),
            f.max_len, (FREE_TEXT_RULE if f.kind == "text" else _APP_KIND_RULE[f.kind])
            + f", {f.min_len}-{f.max_len} characters", text=f.kind == "text", min_len=f.min_len)
    for f in APP_FIELDS)
SCHEMA_BY_KEY = {r.key: r for r in SCHEMA}


def schema_rule(key: str) -> EnvRule | None:
    """The rule of a site.env/secrets.env key (None: not a site key)."""
    m = NODE_KEY.fullmatch(key)
    return SCHEMA_BY_KEY.get(f"WCB_NODE_<n>_{m.group(2)}" if m else key)


def schema_problem(key: str, value: str) -> str | None:
    """None when `value` is valid for `key`, else the rule it breaks (never the value: it may be a secret)."""
    rule = schema_rule(key)
    if rule is None:
        return "not a site key"
    if len(value) > rule.max_len:
        return f"longer than {rule.max_len} characters ({len(value)}); it must be {rule.rule}"
    if len(value) < rule.min_len:
        return "empty; it must be " + rule.rule if not value else \
            f"shorter than {rule.min_len} characters ({len(value)}); it must be {rule.rule}"
    if rule.text:
        ok = _TEXT_BYTES.fullmatch(value.encode("utf-8", "surrogatepass")) is not None
    else:
        ok = re.fullmatch(rule.pattern, value) is not None
    return None if ok else f"it must be {rule.rule}"


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _sh_ere(pattern: str) -> str:
    """A pattern as a bash $'...' word: its \\xHH escapes become the bytes themselves (what Python's re
    on bytes matches); every other backslash escape stays for the ERE (\\. \\[ \\' ...)."""
    if "\\\\" in pattern or re.search(r"(?<!\\)'", pattern) or re.search(r"\\x[0-7][0-9a-fA-F]", pattern):
        raise ValueError(f"schema pattern not portable to bash: {pattern!r}")  # a bug in SCHEMA
    return "$'^(" + pattern + ")$'"


def render_schema_sh() -> str:
    """lib/site_schema.sh: the installer's copy of SCHEMA (and of bundle.env's keys), generated."""
    from .. import __version__
    out = ["#!/usr/bin/env bash",
           f"# site_schema.sh: GENERATED by wcbundle {__version__} from bundler/site/model.py (SCHEMA); do not edit.",
           "# The installer's twin of the builder's site checks: the same keys, whole-string patterns",
           "# (POSIX ERE over bytes, matched under LC_ALL=C) and lengths in characters. Read by lib/env.sh.",
           "# Regenerate: python -c 'from bundler.site.model import render_schema_sh; print(render_schema_sh(), end=\"\")'",
           "# shellcheck disable=SC2034  # the tables are read by lib/env.sh",
           "set -euo pipefail", "",
           "# declared, then assigned: bash 4.2 (EL7) drops `declare -gA X=(...)` made inside a function (a sourcing one)",
           "declare -gA WCB_SCHEMA_FILE WCB_SCHEMA_RE WCB_SCHEMA_MAX WCB_SCHEMA_MIN WCB_SCHEMA_RULE",
           "WCB_SCHEMA_FILE=() WCB_SCHEMA_RE=() WCB_SCHEMA_MAX=() WCB_SCHEMA_MIN=() WCB_SCHEMA_RULE=()",
           "WCB_SCHEMA_REQUIRED=()"]
    for r in SCHEMA:
        k = r.key.replace("<n>", "n")  # bash: the node keys' rules are WCB_NODE_n_NAME etc.
        out += [f"WCB_SCHEMA_FILE[{k}]={r.file}", f"WCB_SCHEMA_RE[{k}]={_sh_ere(TEXT_RE if r.text else r.pattern)}",
                f"WCB_SCHEMA_MAX[{k}]={r.max_len}", f"WCB_SCHEMA_MIN[{k}]={r.min_len}",
                f"WCB_SCHEMA_RULE[{k}]={_sh_quote(r.rule)}"]
        if not r.optional and "<n>" not in r.key:
            out.append(f"WCB_SCHEMA_REQUIRED+=({k})")
    out.append(f"WCB_SCHEMA_MAX_NODES={MAX_NODES}")
    out.append("WCB_SCHEMA_BUNDLE_KEYS=(" + " ".join(BUNDLE_ENV_KEYS) + ")")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- validation

# fail(key path, message, hint) must raise.
Fail = Callable[[str, str, str], None]


def _ipv4(value: str, key: str, fail: Fail) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        fail(key, f"'{value}' is not a valid IPv4 address", "Write four decimal numbers 0-255, e.g. 10.10.0.11.")
        raise AssertionError from None  # unreachable: fail raises


def validate(site: Site, fail: Fail) -> list[str]:
    """Check every value against SCHEMA, then the topology; call fail() on the first problem, return warnings."""
    jar_rel = f"site/{Path(site.app.jar).name}" if site.app.jar else ""
    entries = [(k, v) for k, v, _ in site_env_entries(site, jar_rel)]
    entries += [("WCB_" + n.upper(), getattr(site.secrets, n)) for n in SECRET_KEYS
                if getattr(site.secrets, n) is not None]
    check_app_fields(site, fail)  # the WorkCenter-app.yml fields, with their own words first
    for key, value in entries:
        problem = schema_problem(key, value)
        if problem:
            secret = schema_rule(key) is not None and schema_rule(key).file == "secrets.env"
            shown = "this fixed secret" if secret else f"'{_show(value)}'"  # never echo a secret
            fail(_yaml_path(key, site), f"invalid value {shown} ({key}): {problem}",
                 "Correct the value (the site schema in bundler/site/model.py is what install.sh checks too).")
    vip = _ipv4(site.vip.address, "vip.address", fail)
    for key in ("http_port", "socket_port"):
        port = getattr(site.vip, key)
        if not 1 <= port <= 65535:
            fail(f"vip.{key.replace('_', '-')}", f"port {port} is out of range", "Use a port from 1 to 65535.")
    for i, net in enumerate(site.admin_networks):
        try:
            ipaddress.IPv4Network(net, strict=True)
        except ValueError as exc:
            fail(f"admin-networks[{i}]", f"'{net}' is not a valid IPv4 network ({exc})",
                 "Write NET/PREFIX with the host bits zero, e.g. 10.10.9.0/24.")
    if not site.nodes:
        fail("nodes", "the site has no nodes", "List every host under 'nodes'.")
    names: dict[str, int] = {}
    ips: dict[str, int] = {}
    for i, node in enumerate(site.nodes):
        where = f"nodes[{i}]"
        if node.name.lower() in names:
            fail(f"{where}.name", f"host name '{node.name}' is used twice (also node {names[node.name.lower()] + 1})",
                 "Every node needs its own name.")
        names[node.name.lower()] = i
        ip = _ipv4(node.ip, f"{where}.ip", fail)
        if node.ip in ips:
            fail(f"{where}.ip", f"IP {node.ip} is used twice (also node {ips[node.ip] + 1}, {site.nodes[ips[node.ip]].name})",
                 "Every node needs its own internal IP.")
        if ip == vip:
            fail(f"{where}.ip", f"IP {node.ip} is also the VIP", "The VIP lives on the L4 switch, not on a node.")
        # (the installer refuses the same 0.x, multicast and reserved ranges; loopback only here, since
        # the installer's own tests run on 127.10.0.x)
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast or ip.is_reserved or node.ip.startswith("0."):
            fail(f"{where}.ip", f"{node.ip} cannot be a node's internal IP",
                 "Use the address the other nodes reach this host on.")
        ips[node.ip] = i
        if not node.roles:
            fail(f"{where}.roles", "the node has no roles", f"Give it one or more of: {', '.join(ROLES)}.")
        if len(set(node.roles)) != len(node.roles):
            fail(f"{where}.roles", "a role is listed twice", "List each role once.")
        if "db-node" in node.roles and "arbitrator" in node.roles:
            fail(f"{where}.roles", "a host cannot be both db-node and arbitrator (it would vote twice)",
                 "Put garbd on a host that runs no MariaDB.")
    for role in REQUIRED_ROLES:
        if not site.holders(role):
            fail("nodes", f"no node has the role '{role}'", f"Add '{role}' to the roles of at least one node.")
    voters = len(site.holders("db-node")) + len(site.holders("arbitrator"))
    if voters < 3 or voters % 2 == 0:
        fail("nodes", f"the Galera cluster has {voters} voters (db-node + arbitrator hosts); "
             "it needs an odd number, at least 3, to keep quorum",
             "Add a db-node or an arbitrator host (2 db nodes + 1 arbitrator is the minimum HA layout).")
    _check_names(site, fail)
    warnings = []
    if site.galera.durability == "relaxed":
        warnings.append("galera.durability is relaxed (innodb_flush_log_at_trx_commit=2): a power cut of every "
                        "db node can lose about the last second of acknowledged commits.")
    if len(site.holders("mq-node")) == 2:
        warnings.append("the site has 2 RabbitMQ nodes: a 2-node cluster keeps quorum only while both run "
                        "(it tolerates 0 failures); 3 mq-node hosts are recommended.")
    return warnings


def _check_names(site: Site, fail: Fail) -> None:
    """What SCHEMA cannot say about one value: the users install.sh deletes."""
    if site.rabbitmq.admin_user == "guest" or site.rabbitmq.app_user == "guest":
        fail("rabbitmq", "'guest' cannot be a site user (install.sh deletes it)", "Choose another user name.")


def _show(value: str, limit: int = 60) -> str:
    """A value for a message: control characters escaped, cut at `limit` characters."""
    text = value.encode("unicode_escape").decode("ascii") if any(ord(c) < 32 or ord(c) == 127 for c in value) \
        else value
    return text if len(text) <= limit else text[:limit] + f"... ({len(value)} characters)"


_ENV_PATHS_EXTRA = {"WCB_GALERA_SST_METHOD": "galera.sst-method", "WCB_MQ_QUEUE_POLICY": "rabbitmq.queue-policy",
                    "WCB_GALERA_GCACHE_SIZE": "galera.gcache-size", "WCB_GALERA_DURABILITY": "galera.durability"}


def _yaml_path(key: str, site: Site) -> str:
    """The site.yaml key path of a site.env/secrets.env key (for the error's line and key)."""
    m = NODE_KEY.fullmatch(key)
    if m:
        return f"nodes[{int(m.group(1)) - 1}].{m.group(2).lower()}"
    if key.startswith("WCB_APP_JAR"):
        return "app.jar"
    if key == "WCB_ADMIN_NETWORKS":
        return "admin-networks"
    if key == "WCB_NODE_COUNT":
        return "nodes"
    if key in _ENV_PATHS_EXTRA:
        return _ENV_PATHS_EXTRA[key]
    secret = key[4:].lower()
    if secret in SECRET_KEYS:
        return f"secrets.{secret.replace('_', '-')}"
    return {v: k for k, v in _ENV_FOR_PATH.items()}.get(key, key)


class _Locator:
    """Map a key path like `nodes[2].ip` to its line in the YAML node tree."""

    def __init__(self, root):
        self.root = root

    def line(self, keypath: str) -> int | None:
        node = self.root
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", keypath):
            child = None
            if part.startswith("[") and hasattr(node, "value") and isinstance(node.value, list):
                idx = int(part[1:-1])
                if idx < len(node.value) and not isinstance(node.value[idx], tuple):
                    child = node.value[idx]
            elif isinstance(getattr(node, "value", None), list):
                for knode, vnode in (p for p in node.value if isinstance(p, tuple)):
                    if knode.value == part:
                        child = vnode
            if child is None:
                break
            node = child
        return node.start_mark.line + 1


def load_site(path: str | Path) -> Site:
    """Read and validate a site.yaml; SiteError (file, line, key) on any problem."""
    from ..core.schema import load_yaml_as
    spath = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError(f"cannot read the site file: {getattr(exc, 'strerror', None) or exc}", path=spath,
                        hint="Pass an existing site.yaml (see manifests/site.example.yaml).") from None
    site = load_yaml_as(Site, spath, SiteError, text=text)
    locator = _Locator(parse_yaml(text, spath, SiteError))

    def fail(key: str, message: str, hint: str) -> None:
        raise SiteError(message, hint, path=spath, line=locator.line(key), key=key)

    for warning in validate(site, fail):
        log.warning("Warning: %s: %s", spath, warning)
    if any(getattr(site.secrets, k) for k in SECRET_KEYS) and os.stat(spath).st_mode & 0o077:
        log.warning("Warning: %s holds fixed secrets but is readable by other users; chmod 600 it.", spath)
    if site.app.jar:
        folder = Path(spath).resolve().parent
        try:
            jar = (folder / site.app.jar).resolve()
            inside = jar.parent == folder or folder in jar.parents
            exists = inside and jar.is_file()
        except (OSError, RuntimeError, ValueError) as exc:  # a name too long for the OS, a symlink loop
            fail("app.jar", f"the WorkCenter jar path cannot be used: {getattr(exc, 'strerror', None) or exc}",
                 "Give the jar's path relative to the site file, inside its folder.")
        if not inside:
            fail("app.jar", f"the WorkCenter jar '{_show(site.app.jar)}' resolves to {_show(str(jar))}, outside "
                 f"the site file's folder {folder}",
                 "Put the jar in the site file's folder (or below it) and name it relative to the site file.")
        if not exists:
            fail("app.jar", f"the WorkCenter jar '{_show(site.app.jar)}' does not exist (looked for {jar})",
                 "The path is relative to the site file; fix it, or remove app.jar to build without the jar.")
        problem = schema_problem("WCB_APP_JAR", f"site/{jar.name}")
        if problem:
            fail("app.jar", f"the jar file name '{_show(jar.name)}' cannot be carried in site.env: {problem}",
                 "Rename the file to letters, digits, '.', '_', '+', '-'.")
        site.jar_path = jar
        site.jar_sha256 = sha256_file(site.jar_path)
    if site.app.config_override:  # WorkCenter-app.yml override (issue 18; bundler/site/appconfig.py)
        from .appconfig import load_override
        over = Path(spath).parent / site.app.config_override
        if not over.is_file():
            fail("app.config-override", f"the WorkCenter-app.yml override '{site.app.config_override}' "
                 f"does not exist (looked for {over})", "The path is relative to the site file; fix it or remove the key.")
        site.app_yml_template = load_override(site, over)
    return site


# --------------------------------------------------------------------------- site.env / secrets.env

SECRET_KEYS = ("db_root_password", "db_app_password", "db_sst_password",
               "mq_admin_password", "mq_app_password", "erlang_cookie")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_./:@,+-]*$")
LIST_KEYS = ("WCB_ADMIN_NETWORKS",)


def _quote(key: str, value: str) -> str:
    if key in LIST_KEYS or key.endswith("_ROLES") or not SAFE_VALUE.match(value):
        if any(c in value for c in "$`\\\n\r") or ('"' in value and "'" in value):
            raise SiteError(f"value of {key} cannot be written safely: {value!r}")  # prevented by validation
        return f"'{value}'" if '"' in value else f'"{value}"'
    return value


def site_env_entries(site: Site, jar_rel: str = "") -> list[tuple[str, str, str]]:
    """(key, value, comment) for site.env, in the order of docs/design.md section 6."""
    e = [
        ("WCB_SITE_NAME", site.name, "Site identity (names the Galera cluster by default)."),
        ("WCB_SITE_DOMAIN", site.domain, ""),
        ("WCB_VIP", site.vip.address, "The VIP on the L4 switch, and the ports clients use on it."),
        ("WCB_VIP_HTTP_PORT", str(site.vip.http_port), ""),
        ("WCB_VIP_SOCKET_PORT", str(site.vip.socket_port), ""),
        ("WCB_ADMIN_NETWORKS", " ".join(site.admin_networks),
         f"Who may reach {flows.MQ_MANAGEMENT_PORT} (RabbitMQ management) and {flows.APP_ADMIN_PORT} "
         "(WorkCenter admin); empty = zone-wide."),
        ("WCB_NODE_COUNT", str(len(site.nodes)),
         "Nodes: one NAME/IP/ROLES triple each. Correct an IP here if the network changed,\n"
         f"then run ./install.sh --check-site. ROLES: {' '.join(ROLES)}."),
    ]
    for i, n in enumerate(site.nodes, 1):
        e += [(f"WCB_NODE_{i}_NAME", n.name, ""), (f"WCB_NODE_{i}_IP", n.ip, ""),
              (f"WCB_NODE_{i}_ROLES", " ".join(n.roles), "")]
    e += [
        ("WCB_GALERA_CLUSTER_NAME", site.galera_cluster_name, "MariaDB Galera (SST: mariabackup or rsync)."),
        ("WCB_GALERA_SST_METHOD", site.galera.sst_method, ""),
        ("WCB_GALERA_DURABILITY", site.galera.durability,
         "full: innodb_flush_log_at_trx_commit=1; relaxed: =2 (may lose ~1 s of commits on a power cut)."),
        ("WCB_GALERA_GCACHE_SIZE", site.galera.gcache_size, "Galera gcache.size: the write sets kept for IST rejoins."),
        ("WCB_DB_NAME", site.database.name, ""),
        ("WCB_DB_APP_USER", site.database.app_user, ""),
        ("WCB_DB_SST_USER", site.database.sst_user, ""),
        ("WCB_MQ_ADMIN_USER", site.rabbitmq.admin_user, "RabbitMQ. Queue policy: ha-all (3.x) | quorum (4.x); "
         "install.sh picks by the bundled version."),
        ("WCB_MQ_APP_USER", site.rabbitmq.app_user, ""),
        ("WCB_MQ_VHOST", site.rabbitmq.vhost, ""),
        ("WCB_MQ_QUEUE_POLICY", site.rabbitmq.queue_policy, ""),
        ("WCB_APP_JAR", jar_rel, "WorkCenter: the jar (relative to the bundle top; empty if none) and its ports."),
        ("WCB_APP_JAR_SHA256", site.jar_sha256 if jar_rel else "", ""),
        ("WCB_APP_HTTP_PORT", str(flows.APP_HTTP_PORT), ""),
        ("WCB_APP_SOCKET_PORT", str(flows.APP_SOCKET_PORT), ""),
        ("WCB_APP_HAZELCAST_PORT", str(flows.APP_HAZELCAST_PORT), ""),
        ("WCB_APP_ADMIN_PORT", str(flows.APP_ADMIN_PORT), ""),
        ("WCB_APP_USER", site.app.user, ""),
    ]
    e += [(f.env, app_field_value(site, f), "WorkCenter-app.yml: the manual's domain and swagger blocks\n"
           "(free text is written in the quotes it does not contain)." if i == 0 else "")
          for i, f in enumerate(APP_FIELDS)]
    return e


def render_site_env(site: Site, jar_rel: str = "") -> str:
    out = ["# site.env: the facts of this site, read by install.sh (generated by wcbundle).",
           "# Plain KEY=value lines; values with spaces are in double quotes.",
           "# You may edit a value (e.g. an IP) with vi; install.sh reports the edited keys",
           "# and re-validates the site. Secrets are in secrets.env, never here."]
    for key, value, comment in site_env_entries(site, jar_rel):
        if comment:
            out.append("")
            out += ["# " + c for c in comment.splitlines()]
        out.append(f"{key}={_quote(key, value)}")
    return "\n".join(out) + "\n"


def generate_secrets(site: Site) -> dict[str, str]:
    """WCB_* secret -> value: the site's fixed ones, the rest fresh from `secrets`."""
    alnum = string.ascii_letters + string.digits
    out = {}
    for name in SECRET_KEYS:
        value = getattr(site.secrets, name)
        if value is None:
            if name == "erlang_cookie":
                value = "".join(_secrets.choice(string.ascii_uppercase) for _ in range(40))
            else:
                value = "".join(_secrets.choice(alnum) for _ in range(32))
        out["WCB_" + name.upper()] = value
    return out


def write_site_files(site: Site, site_dir: Path, bundle_top: Path, secrets_env: bytes | None = None) -> None:
    """Write site_dir/site.env, secrets.env (0600) and the jar copy, each atomically. secrets_env: the
    bytes of secrets.env as they are (an update's, from the bundle it updates), instead of generated ones."""
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    jar_rel = ""
    if site.jar_path is not None:
        dest = site_dir / site.jar_path.name
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=str(site_dir))
        os.close(fd)
        try:
            shutil.copyfile(site.jar_path, tmp)
            os.chmod(tmp, 0o644)
            if sha256_file(Path(tmp)) != site.jar_sha256:
                raise SiteError(f"the jar {site.jar_path} changed while it was being copied",
                                hint="Run the build again once the file is stable.")
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        jar_rel = dest.resolve().relative_to(Path(bundle_top).resolve()).as_posix()
    text = render_site_env(site, jar_rel)
    atomic_write(site_dir / "site.env", text)
    # the signed copy: MANIFEST.sha256 covers both; install.sh names the keys an edit of site.env changed
    atomic_write(site_dir / "site.env.signed", text)
    if site.app_yml_template is not None:  # the site's WorkCenter-app.yml template (appconfig.py)
        from .appconfig import SITE_TEMPLATE
        atomic_write(site_dir / SITE_TEMPLATE, site.app_yml_template)
    if secrets_env is not None:
        atomic_write(site_dir / "secrets.env", secrets_env, mode=0o600)
        return
    body = "".join(f"{k}={v}\n" for k, v in generate_secrets(site).items())
    atomic_write(site_dir / "secrets.env", "# Per-site secrets (generated by wcbundle). Keep this file 0600.\n"
                 + body, mode=0o600)


# --------------------------------------------------------------------------- reading site.env back

_LINE = re.compile(r'^([A-Z][A-Z0-9_]*)=(?:"([^"$`\\]*)"|\'([^\']*)\'|([^\s"\'$`\\]*))\s*(?:#.*)?$')


def parse_site_env(text: str, path: str = "site/site.env") -> dict[str, str]:
    """KEY=value lines -> dict (comments, blank lines, double/single quotes handled)."""
    env: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise SiteError("not a KEY=value line (quote values with spaces in double quotes)",
                            path=path, line=n, hint='Write e.g. WCB_NODE_1_IP=10.10.0.11 or WCB_X="a b".')
        if m.group(1) in env:
            raise SiteError(f"{m.group(1)} is set twice (also on an earlier line)", path=path, line=n,
                            key=m.group(1), hint="Keep one line per key.")
        env[m.group(1)] = next(g for g in m.groups()[1:] if g is not None)
    return env


def site_from_env(env: dict[str, str], path: str = "site/site.env", warn: bool = True) -> Site:
    """Rebuild and re-validate a Site from parsed site.env (secrets and jar not included).

    warn=False: do not log the topology warnings again (load_site already did)."""
    def need(key: str) -> str:
        if key not in env:
            raise SiteError(f"missing key {key}", path=path, key=key, hint="Restore the line from the bundle.")
        return env[key]

    def num(key: str) -> int:
        value = need(key)
        if not value.isdigit():
            raise SiteError(f"'{value}' is not a number", path=path, key=key)
        return int(value)

    for key in env:  # the installer's allowlist: site.env carries site keys only
        rule = schema_rule(key)
        if rule is None or rule.file != "site.env":
            raise SiteError(f"{key} is not a site.env key", path=path, key=key,
                            hint="Remove the line: site.env holds only the keys wcbundle wrote.")
        m = NODE_KEY.fullmatch(key)
        if m and env.get("WCB_NODE_COUNT", "").isdigit() and int(m.group(1)) > int(env["WCB_NODE_COUNT"]):
            raise SiteError(f"{key} names node {m.group(1)}, beyond WCB_NODE_COUNT={env['WCB_NODE_COUNT']}",
                            path=path, key=key, hint="Remove the line, or raise WCB_NODE_COUNT.")
    nodes = []
    for i in range(1, num("WCB_NODE_COUNT") + 1):
        roles = need(f"WCB_NODE_{i}_ROLES").split()
        for r in roles:
            if r not in ROLES:
                raise SiteError(f"unknown role '{r}'", path=path, key=f"WCB_NODE_{i}_ROLES",
                                hint=f"Roles are: {', '.join(ROLES)}.")
        nodes.append(Node(need(f"WCB_NODE_{i}_NAME"), need(f"WCB_NODE_{i}_IP"), roles))
    sst, policy = need("WCB_GALERA_SST_METHOD"), need("WCB_MQ_QUEUE_POLICY")
    if env.get("WCB_GALERA_DURABILITY", "full") not in ("full", "relaxed"):
        raise SiteError(f"invalid value '{env['WCB_GALERA_DURABILITY']}'", path=path, key="WCB_GALERA_DURABILITY",
                        hint="Durability: full (innodb_flush_log_at_trx_commit=1) or relaxed (=2).")
    if sst not in ("mariabackup", "rsync") or policy not in ("ha-all", "quorum"):
        key = "WCB_GALERA_SST_METHOD" if sst not in ("mariabackup", "rsync") else "WCB_MQ_QUEUE_POLICY"
        raise SiteError(f"invalid value '{env[key]}'", path=path, key=key,
                        hint="SST: mariabackup|rsync; queue policy: ha-all|quorum.")
    site = Site(
        name=need("WCB_SITE_NAME"), domain=need("WCB_SITE_DOMAIN"),
        vip=Vip(need("WCB_VIP"), num("WCB_VIP_HTTP_PORT"), num("WCB_VIP_SOCKET_PORT")),
        nodes=nodes, admin_networks=env.get("WCB_ADMIN_NETWORKS", "").split(),
        galera=Galera(sst, need("WCB_GALERA_CLUSTER_NAME"), env.get("WCB_GALERA_DURABILITY", "full"),
                      env.get("WCB_GALERA_GCACHE_SIZE", "1G")),
        database=Database(need("WCB_DB_NAME"), need("WCB_DB_APP_USER"), need("WCB_DB_SST_USER")),
        rabbitmq=RabbitMQ(need("WCB_MQ_ADMIN_USER"), need("WCB_MQ_APP_USER"), need("WCB_MQ_VHOST"), policy),
        app=App(env.get("WCB_APP_JAR") or None, need("WCB_APP_USER")))
    for f in APP_FIELDS:
        obj = site
        *parents, last = f.key.split(".")
        for part in parents:
            obj = getattr(obj, part.replace("-", "_"))
        setattr(obj, last.replace("-", "_"), need(f.env))
    site.jar_sha256 = env.get("WCB_APP_JAR_SHA256", "")
    n_nodes = len(nodes)

    def fail(key: str, message: str, hint: str) -> None:
        raise SiteError(message, hint, path=path, key=_env_key(key, n_nodes))

    for warning in validate(site, fail):
        if warn:
            log.warning("Warning: %s: %s", path, warning)
    return site


_ENV_FOR_PATH = {
    "name": "WCB_SITE_NAME", "domain": "WCB_SITE_DOMAIN", "vip.address": "WCB_VIP",
    "vip.http-port": "WCB_VIP_HTTP_PORT", "vip.socket-port": "WCB_VIP_SOCKET_PORT",
    "galera.cluster-name": "WCB_GALERA_CLUSTER_NAME", "galera.gcache-size": "WCB_GALERA_GCACHE_SIZE",
    "galera.durability": "WCB_GALERA_DURABILITY", "database.name": "WCB_DB_NAME",
    "database.app-user": "WCB_DB_APP_USER", "database.sst-user": "WCB_DB_SST_USER",
    "rabbitmq.admin-user": "WCB_MQ_ADMIN_USER", "rabbitmq.app-user": "WCB_MQ_APP_USER",
    "rabbitmq.vhost": "WCB_MQ_VHOST", "app.user": "WCB_APP_USER",
    **{f.key: f.env for f in APP_FIELDS},
}


def _env_key(keypath: str, n_nodes: int) -> str:
    """site.yaml key path -> the site.env key that holds it."""
    m = re.match(r"^nodes\[(\d+)\]\.(name|ip|roles)$", keypath)
    if m:
        return f"WCB_NODE_{int(m.group(1)) + 1}_{m.group(2).upper()}"
    if keypath.startswith("admin-networks"):
        return "WCB_ADMIN_NETWORKS"
    if keypath == "nodes":
        return f"WCB_NODE_1_ROLES..WCB_NODE_{n_nodes}_ROLES"
    return _ENV_FOR_PATH.get(keypath, keypath)
