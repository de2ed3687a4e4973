"""WorkCenter-app.yml (issue 18): the manual's keys, the site's override file, and the preview.

The installer renders WorkCenter-app.yml on each app node from a template
(installer_stub/templates/WorkCenter-app.yml, or the site's merged template
site/WorkCenter-app.yml.tmpl) with lib/render.sh. This module holds:
- MANUAL_KEYS: every key path of the WorkCenter install manual's example, in the
  default layout (`domain` and `swagger` under `workcenter:`);
- render_template() and node_values(): the Python twins of lib/render.sh
  `wcb_render` (YAML mode) and roles/app-node.sh `wcb_app_node_vars`, so that
  `wcbundle plan` and report.html show the file the installer writes (secrets
  masked); tests render both and compare them byte for byte;
- load_override(): the site's optional override file (site.yaml
  `app.config-override`), deep-merged over the stock template at build time. It
  may add keys, drop keys the manual does not name, and move the `domain` and
  `swagger` blocks to the top level; it may not drop or change a key of the
  manual (those values come from site.yaml, where they are validated).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import SiteError
from ..core.paths import INSTALLER
from .flows import FLOWS, Flow

TEMPLATE = INSTALLER / "templates" / "WorkCenter-app.yml"
SITE_TEMPLATE = "WorkCenter-app.yml.tmpl"  # in the bundle's site/ directory
MASK = "********"
SECRET_VARS = ("WCB_DB_ROOT_PASSWORD", "WCB_DB_APP_PASSWORD", "WCB_DB_SST_PASSWORD",
               "WCB_MQ_ADMIN_PASSWORD", "WCB_MQ_APP_PASSWORD", "WCB_ERLANG_COOKIE")

# Every key path of the manual's example (README "WorkCenter-app.yml" says where each value comes from).
MANUAL_KEYS = (
    "server.url",
    "spring.datasource.url", "spring.datasource.username", "spring.datasource.password",
    "spring.datasource.hikari.connection-timeout",
    "spring.rabbitmq.username", "spring.rabbitmq.password", "spring.rabbitmq.addresses",
    "workcenter.cluster.enable", "workcenter.cluster.members",
    "workcenter.domain.name", "workcenter.domain.description", "workcenter.domain.supervisor",
    "workcenter.domain.webUrl",
    "workcenter.swagger.title", "workcenter.swagger.description", "workcenter.swagger.basePackage",
    "workcenter.swagger.license", "workcenter.swagger.licenseUrl", "workcenter.swagger.termsOfServiceUrl",
    "workcenter.swagger.tokenUrl",
)
# Blocks whose place the manual's flattened text leaves open: here or at the top level.
MOVABLE = ("workcenter.domain", "workcenter.swagger")

_PLACEHOLDER = re.compile(r"\{\{([^}]*)\}\}")
_LIST_LINE = re.compile(r"^( *)- '\{\{([A-Za-z0-9_]+)\[\]\}\}' *$")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
MAX_OVERRIDE_BYTES = 64 * 1024
MAX_DEPTH = 12


class TemplateError(ValueError):
    """A template names an unknown or unset variable, or a value YAML cannot carry."""


def allowed_vars() -> tuple[str, ...]:
    """lib/render.sh's WCB_TPL_ALLOWED, read from the installer itself (one list, two readers)."""
    text = (INSTALLER / "lib" / "render.sh").read_text(encoding="utf-8")
    m = re.search(r"^WCB_TPL_ALLOWED=\((.*?)^\)", text, re.S | re.M)
    if not m:  # pragma: no cover - the installer in this tree is broken
        raise RuntimeError("lib/render.sh has no WCB_TPL_ALLOWED list")
    return tuple(m.group(1).split())


def _has_control(value: str) -> bool:
    # bash's [[:cntrl:]] in the installer: C0 controls and DEL
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def render_template(text: str, values: dict[str, str], label: str = "WorkCenter-app.yml",
                    yaml_mode: bool = True) -> str:
    """Twin of lib/render.sh wcb_render: {{NAME}} from `values` (allow-listed names only), never
    re-expanding a value; in YAML mode ' is doubled, control characters refused, `- '{{NAME[]}}'`
    lines expanded to one item per blank-separated word."""
    allowed = set(allowed_vars())

    def check(n: int, name: str) -> str:
        if name not in allowed:
            raise TemplateError(f"{label}:{n}: unknown template variable {{{{{name}}}}}")
        if name not in values:
            raise TemplateError(f"{label}:{n}: template variable {{{{{name}}}}} is not set")
        value = values[name]
        if yaml_mode and _has_control(value):
            raise TemplateError(f"{label}:{n}: the value of {{{{{name}}}}} holds a control character")
        return value

    out = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        m = _LIST_LINE.match(line) if yaml_mode else None
        if m:
            for item in check(n, m.group(2)).split():
                out.append(f"{m.group(1)}- '{item.replace(chr(39), chr(39) * 2)}'")
            continue
        res = []
        while "{{" in line:
            pre, after = line.split("{{", 1)
            if "}}" not in after:
                raise TemplateError(f"{label}:{n}: unterminated {{{{")
            name, line = after.split("}}", 1)
            value = check(n, name)
            res.append(pre + (value.replace("'", "''") if yaml_mode else value))
        out.append("".join(res) + line)
    return "".join(line + "\n" for line in out)


def flow_ports(flows: tuple[Flow, ...] | list[Flow] = FLOWS) -> dict[str, str]:
    """Service key -> port, as install.sh's wcb_port reads site/flows.tsv."""
    return {f.key: f.port for f in flows}


def node_values(site: Any, node_name: str | None = None, secrets: dict[str, str] | None = None,
                flows: tuple[Flow, ...] | list[Flow] = FLOWS) -> dict[str, str]:
    """Twin of roles/app-node.sh wcb_app_node_vars (plus site.env and secrets.env as install.sh
    loads them) for one app node (default: the first). Secrets not given are MASK."""
    ports = flow_ports(flows)
    apps = site.holders("app-node")
    node = next((n for n in apps if n.name == node_name), None) if node_name else apps[0]
    if node is None:
        raise ValueError(f"{node_name} is not an app node of site {site.name}")
    values = {k: v for k, v, _ in site.env_entries()}
    values.update({k: (secrets or {}).get(k, MASK) for k in SECRET_VARS})
    values["WCB_NODE"], values["WCB_NODE_IP"] = node.name, node.ip
    dbs = ",".join(f"{n.ip}:{ports['mysql']}" for n in site.holders("db-node"))
    values["TPL_APP_JDBC_URL"] = f"jdbc:mariadb:sequential://{dbs}/{site.database.name}?autoReconnect=true"
    values["TPL_APP_MQ_ADDRESSES"] = ", ".join(f"{n.ip}:{ports['amqp']}" for n in site.holders("mq-node"))
    values["TPL_APP_MEMBERS"] = " ".join(n.ip for n in apps)
    values.update({"TPL_APP_DIR": "/opt/workcenter", "TPL_APP_JAR": "/opt/workcenter/WorkCenter.jar",
                   "TPL_APP_CONF": "/opt/workcenter/WorkCenter-app.yml", "TPL_JAVA": "/usr/bin/java"})
    return values


def preview(site: Any, template_text: str | None = None, flows: tuple[Flow, ...] | list[Flow] = FLOWS,
            node_name: str | None = None) -> str:
    """The WorkCenter-app.yml install.sh writes on one app node (default: the first), secrets masked."""
    text = template_text if template_text is not None else TEMPLATE.read_text(encoding="utf-8")
    return render_template(text, node_values(site, node_name, None, flows))


# --------------------------------------------------------------------------- key paths

def get_path(doc: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted key path in nested dicts."""
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def manual_key_locations(doc: Any) -> dict[str, list[str]]:
    """Manual key path (default layout) -> where it is found in doc (default and/or top-level place)."""
    out = {}
    for key in MANUAL_KEYS:
        places = [key]
        for block in MOVABLE:
            if key.startswith(block + "."):
                places.append(key[len("workcenter."):])
        out[key] = [p for p in places if get_path(doc, p)[0]]
    return out


# --------------------------------------------------------------------------- the site's override file

def _ofail(path: Path, node: yaml.Node | None, key: str, message: str, hint: str) -> None:
    raise SiteError(message, hint, path=str(path), line=node.start_mark.line + 1 if node is not None else None,
                    key=key or None)


def _to_data(node: yaml.Node, path: Path, key: str, depth: int) -> Any:
    """YAML node -> plain data with the override's rules: string keys, no duplicates, scalars
    str/int/float/bool/null, no control characters, bounded depth."""
    if depth > MAX_DEPTH:
        _ofail(path, node, key, f"the override nests deeper than {MAX_DEPTH} levels", "Flatten it.")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            k = knode.value if isinstance(knode, yaml.ScalarNode) else None
            kp = f"{key}.{k}" if key else str(k)
            if not isinstance(k, str) or not _PLAIN_KEY.match(k):
                _ofail(path, knode, kp, f"invalid key {k!r}",
                       "Keys are 1-100 of letters, digits, '_', '.', '-' (as Spring property names are).")
            if k in out:
                _ofail(path, knode, kp, f"duplicate key '{k}'", "Write each key once.")
            out[k] = _to_data(vnode, path, kp, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(v, path, f"{key}[{i}]", depth + 1) for i, v in enumerate(node.value)]
    value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    if value is not None and not isinstance(value, (str, int, float, bool)):
        _ofail(path, node, key, f"unsupported value {node.value!r} ({type(value).__name__})",
               "Quote it to make it a string.")
    if isinstance(value, str):
        bad = next((c for c in value if _has_control(c) or unicodedata.category(c) in ("Cf", "Zl", "Zp")), None)
        if bad is not None:
            _ofail(path, node, key, f"the value holds the control/format character U+{ord(bad):04X}",
                   "Write it on one line without control characters.")
    return value


def _merge(base: Any, over: Any) -> Any:
    """Deep merge: mappings merge key by key, null deletes, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(out.get(k), v)
        return out
    return over


def _scalar(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return "'" + str(v).replace("'", "''") + "'"


def _emit(doc: dict[str, Any], indent: int = 0) -> list[str]:
    pad = " " * indent
    lines = []
    for k, v in doc.items():
        key = k if _PLAIN_KEY.match(k) else _scalar(k)
        if isinstance(v, dict) and v:
            lines.append(f"{pad}{key}:")
            lines += _emit(v, indent + 2)
        elif isinstance(v, list) and v:
            lines.append(f"{pad}{key}:")
            lines += _emit_list(v, indent + 2)
        else:
            lines.append(f"{pad}{key}: {_scalar(v)}".rstrip())
    return lines


def _emit_list(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for it in items:
        if isinstance(it, dict) and it:
            sub = _emit(it, indent + 2)
            lines.append(pad + "- " + sub[0].lstrip())
            lines += sub[1:]
        elif isinstance(it, list) and it:
            lines.append(pad + "-")
            lines += _emit_list(it, indent + 2)
        else:
            lines.append(f"{pad}- {_scalar(it)}")
    return lines


def merged_template(override: dict[str, Any], path: Path, base_text: str | None = None) -> str:
    """The stock template with `override` merged over it, as template text; SiteError naming the
    override file when the result loses or changes a key of the manual."""
    base_text = base_text if base_text is not None else TEMPLATE.read_text(encoding="utf-8")
    base = yaml.safe_load(base_text)
    merged = _merge(base, override)
    if not isinstance(merged, dict):
        raise SiteError("the override must be a mapping of keys", path=str(path),
                        hint="Write keys as in WorkCenter-app.yml, e.g. `workcenter:` on the first line.")
    for key, places in manual_key_locations(merged).items():
        if not places:
            raise SiteError(f"the override removes {key}, a key of the WorkCenter manual's example",
                            path=str(path), key=key,
                            hint="Keep it; a site may move the domain and swagger blocks to the top "
                                 "level but not drop a key the manual sets.")
        if len(places) > 1:
            raise SiteError(f"{key} is now in two places ({' and '.join(places)})", path=str(path), key=places[-1],
                            hint="When you move a block to the top level, remove it under workcenter: "
                                 "(e.g. `workcenter: {domain: null}`).")
        _, want = get_path(base, key)
        _, have = get_path(merged, places[0])
        if have != want:
            raise SiteError(f"the override changes {places[0]} (a key of the manual, filled from site.yaml)",
                            path=str(path), key=places[0],
                            hint=f"Keep its template value {want!r}; set the site's value in site.yaml instead.")
    header = [ln for ln in base_text.splitlines() if ln.startswith("#")]
    header.append(f"# The site's override ({path.name}) is merged over the stock template (wcbundle build).")
    return "\n".join(header + _emit(merged)) + "\n"


def load_override(site: Any, path: Path) -> str:
    """Read, check and merge the override file; returns the site's template text.
    SiteError (file, line, key) on any problem, including a placeholder install.sh cannot fill."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SiteError(f"cannot read the WorkCenter-app.yml override: {exc.strerror}", path=str(path),
                        hint="site.yaml app.config-override names a file relative to site.yaml.") from None
    if len(raw) > MAX_OVERRIDE_BYTES:
        raise SiteError(f"the override is {len(raw)} bytes (at most {MAX_OVERRIDE_BYTES})", path=str(path),
                        hint="It holds only the keys the site changes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteError(f"the override is not UTF-8 text (byte {exc.start})", path=str(path)) from None
    from ..core.schema import parse_yaml
    data = _to_data(parse_yaml(text, str(path), SiteError), path, "", 0)
    if not isinstance(data, dict):
        raise SiteError("the override must be a mapping of keys", path=str(path),
                        hint="Write keys as in WorkCenter-app.yml, e.g. `workcenter:` on the first line.")
    result = merged_template(data, path)
    try:  # every placeholder must be one install.sh fills on an app node; the result must be YAML
        rendered = render_template(result, node_values(site), label=path.name)
        yaml.safe_load(rendered)
    except TemplateError as exc:
        raise SiteError(f"the override names a value install.sh cannot fill: {exc}", path=str(path),
                        hint="Use the {{NAME}} placeholders of the stock template "
                             "(installer_stub/templates/WorkCenter-app.yml).") from None
    except yaml.YAMLError as exc:  # pragma: no cover - the emitter quotes every string
        raise SiteError(f"the merged WorkCenter-app.yml is not YAML: {exc}", path=str(path)) from None
    return result
