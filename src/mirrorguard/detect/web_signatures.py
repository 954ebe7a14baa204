"""Per-request web attack signatures over URL-decoded paths, queries and headers.

:data:`SIGNATURES` is a declarative table: each :class:`WebSignature` names an attack class,
the request part it inspects (``target`` = decoded path + query, ``agent`` = User-Agent,
``headers`` = User-Agent + Referer, ``method``) and its weight. A request's signature score is
the largest weight among the signatures it matches; weight 1.0 means "an attack on its own",
lower weights are weak evidence that only the burst detector (``detect.web.WebAttack``) adds up.

Decoding: targets are percent-decoded twice (double encoding ``%252e`` → ``%2e`` → ``.``) and
``+`` is read as a space in the query, then lower-cased. Polars has no URL decoder, so only the
*distinct* targets that contain ``%`` or ``+`` are decoded in Python (``urllib.parse``) and
joined back; everything else stays vectorised.

Classes: ``sqli``, ``xss``, ``traversal``, ``cmdi`` (command injection), ``shellshock``,
``rfi`` (remote/wrapper file inclusion), ``scanner`` (attack-tool user agents), ``bad_bot``
(spam/harvester agents), ``probe`` (admin, setup and script paths that a scanner asks for; 1.0
when the server answered 4xx, i.e. the path does not exist here, 0.3 when it exists),
``malformed`` (a request line that is not HTTP: TLS or RDP bytes sent to a web port, empty
requests), ``proxy_probe`` (CONNECT/absolute-URI proxy abuse), ``http_auth`` (a 401 for a
request that carried a user name: wrong credentials; a 401 without one is the normal
challenge), ``client_tool`` (scripting HTTP clients, weak), ``client_error`` (any 4xx, weak).

Patterns follow the OWASP testing guide's categories and CAPEC (66 SQL injection, 63 XSS,
126 path traversal, 88 OS command injection, 193 remote file inclusion); they are written here.

>>> import polars as pl
>>> f = pl.DataFrame({"url.original": ["/item?id=1%27%20UNION%20SELECT%20pass%20FROM%20users",
...                                    "/index.html"],
...                   "http.response.status_code": [200, 200],
...                   "user_agent.original": ["Mozilla/5.0", "Mozilla/5.0"]})
>>> web_signatures(f).select("web.attack.classes", "web.attack.score").rows()
[('sqli', 1.0), ('', 0.0)]
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

import polars as pl

PARTS = ("target", "agent", "headers", "method")


@dataclass(frozen=True)
class WebSignature:
    """One named pattern (Rust regex, matched on lower-cased decoded text)."""

    name: str
    attack_class: str
    part: str
    weight: float
    pattern: str


_S = WebSignature
_PROBE = (
    r"(?:^|/)(?:php-?my-?admin[\w.-]*|pma|myadmin|mysqladmin|sqladmin|dbadmin|phpmyadmin\d*|"
    r"wp-login\.php|wp-admin|wp-config\.php\S*|xmlrpc\.php|\.env|\.git|\.svn|\.hg|\.htaccess|"
    r"\.htpasswd|\.ds_store|setup\.php|admin\.php|administrator|manager/html|webmail|"
    r"v-?webmail|extmail|mails?|roundcube|squirrelmail|mail_this_entry|pmapper[\w.-]*|timthumb\.php|"
    r"azenv\.php|shell\.php|c99\.php|r57\.php|boaform|hnap1|phpunit|eval-stdin\.php|"
    r"server-status|jmx-console|invoker|actuator|solr|cgi-bin|scripts/setup\.php|"
    r"horde|vtigercrm|owa/auth|autodiscover|\.well-known/security\.txt~)(?:/|$|\?)|"
    r"/~(?:/|$)|\.(?:php|cgi|pl|asp|aspx|jsp|cfm)\d?(?:$|\?)|/cgi-bin/|~$"
)

SIGNATURES: tuple[WebSignature, ...] = (
    _S("sqli_union", "sqli", "target", 1.0, r"union(?:\s|/\*.*?\*/)+(?:all\s+)?select"),
    _S("sqli_select_from", "sqli", "target", 1.0, r"\bselect\s.+\sfrom\s|\binsert\s+into\s|"
       r"\bdrop\s+table\b|;\s*(?:delete|update)\s"),
    _S("sqli_tautology", "sqli", "target", 1.0,
       r"'\s*(?:or|and)\s+(?:'[^']*'|\d+)\s*(?:=|like|>|<)|\bor\s+1\s*=\s*1\b|'\s*or\s*'.?'\s*="
       r"|'\s*--|'\s*#|\bwaitfor\s+delay\b|\bsleep\s*\(\s*\d|\bbenchmark\s*\(|pg_sleep"),
    _S("sqli_functions", "sqli", "target", 1.0, r"information_schema|xp_cmdshell|load_file\s*\(|"
       r"into\s+(?:out|dump)file|extractvalue\s*\(|updatexml\s*\(|@@version|char\(\d+\)\s*\+|"
       r"concat\s*\(.*0x[0-9a-f]+|\bcast\s*\(.+\bas\s+\w+\)"),
    _S("xss_tag", "xss", "target", 1.0, r"<\s*/?\s*script|<\s*(?:img|svg|iframe|body|video|"
       r"audio|object|embed|details|math)\b[^>]*\bon\w+\s*=|javascript\s*:|vbscript\s*:"),
    _S("xss_handler", "xss", "target", 1.0, r"\bon(?:error|load|mouseover|focus|click|"
       r"toggle|begin)\s*=|document\.(?:cookie|location|domain)|\balert\s*\(|\bprompt\s*\(|"
       r"string\.fromcharcode"),
    _S("traversal", "traversal", "target", 1.0, r"(?:\.\.[/\\]){2,}|(?:^|[/=])\.\.[/\\].*"
       r"(?:etc|windows|boot|proc|winnt)|/etc/(?:passwd|shadow|group|hosts)|c:[/\\]windows|"
       r"boot\.ini|win\.ini|/proc/self/|\.\.%00|\.\./\.\.\\"),
    _S("cmdi", "cmdi", "target", 1.0, r"[;|`]\s*(?:/(?:usr/)?bin/)?(?:cat|ls|id|wget|curl|"
       r"uname|whoami|nc|ncat|"
       r"bash|sh|ping|nslookup|echo|chmod|rm|python|perl|busybox)\b|\$\(\s*[a-z]|/bin/(?:sh|bash|"
       r"busybox)|cmd\.exe|powershell|\b(?:wget|curl)\s+https?://"),
    _S("shellshock", "shellshock", "headers", 1.0, r"\(\)\s*\{\s*:?\s*;?\s*\}\s*;"),
    _S("shellshock_url", "shellshock", "target", 1.0, r"\(\)\s*\{\s*:?\s*;?\s*\}\s*;"),
    _S("rfi", "rfi", "target", 1.0, r"=\s*(?:https?|ftp|php|data|expect|file|zip|phar)://|"
       r"php://(?:input|filter)|\?\S*=\S*https?://\S*\?$"),
    _S("scanner_agent", "scanner", "agent", 1.0, r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|"
       r"acunetix|nessus|openvas|w3af|dirbuster|gobuster|ffuf|wpscan|whatweb|jorgee|zmeu|"
       r"morfeus|fimap|havij|netsparker|appscan|webinspect|paros|zm\.eu|muieblackcat|"
       r"internet-?scanner|censys|l9explore|nimbostratus"),
    _S("bad_bot", "bad_bot", "agent", 1.0, r"trackback/|emailcollector|emailsiphon|emailwolf|"
       r"webemailextrac|extractorpro|email ?harvest|webbandit|indy library|sitesnagger|"
       r"contentsmartz|grabber|webzip|teleport ?pro|httrack|\bzeus\b"),
    _S("client_tool", "client_tool", "agent", 0.2, r"^(?:python-requests|python-urllib|go-http|"
       r"curl|wget|libwww-perl|lwp::|java/|okhttp|apache-httpclient|ruby|php/)|^-?$"),
    _S("proxy_probe", "proxy_probe", "method", 1.0, r"^(?:connect|trace|track|debug)$"),
)


def probe_path_expr(path: pl.Expr) -> pl.Expr:
    """True where a path is one that scanners probe (admin/setup/script/home-dir paths)."""
    return path.str.to_lowercase().str.contains(_PROBE)


def _decode(values: pl.Series) -> pl.Series:
    """Percent-decode (twice) the distinct values that need it; lower-case everything."""
    lower = values.fill_null("").str.to_lowercase()
    need = lower.filter(lower.str.contains(r"[%+]")).unique()
    if need.len() == 0:
        return lower
    decoded = [unquote(unquote_plus(v)) for v in need.to_list()]
    table = dict(zip(need.to_list(), decoded, strict=True))
    return lower.replace_strict(table, default=lower, return_dtype=pl.String)


def _parts(frame: pl.DataFrame) -> dict[str, pl.Series]:
    def col(name: str) -> pl.Series:
        if name in frame.columns:
            return frame[name].cast(pl.String).fill_null("")
        return pl.Series(name, [""] * frame.height, dtype=pl.String)

    target = col("url.original")
    if "url.original" not in frame.columns and "url.path" in frame.columns:
        target = col("url.path")
    agent = col("user_agent.original").str.to_lowercase()
    return {
        "target": _decode(target),
        "agent": agent,
        "headers": agent + " " + col("http.request.referrer").str.to_lowercase(),
        "method": col("http.request.method").str.to_lowercase(),
    }


def web_signatures(frame: pl.DataFrame) -> pl.DataFrame:
    """``web.attack.classes`` (comma-separated, sorted) and ``web.attack.score`` per request.

    Reads ``url.original`` (or ``url.path``), ``user_agent.original``,
    ``http.request.referrer``, ``http.request.method``, ``http.response.status_code``,
    ``user.name`` and ``web.access.request`` when present; missing columns count as empty.
    """
    parts = _parts(frame)
    work = pl.DataFrame({f"__{k}": v for k, v in parts.items()})
    hits: dict[str, pl.Expr] = {}
    weights: dict[str, float] = {}
    for sig in SIGNATURES:
        e = pl.col(f"__{sig.part}").str.contains(sig.pattern)
        hits[sig.attack_class] = hits[sig.attack_class] | e if sig.attack_class in hits else e
        weights[sig.attack_class] = max(weights.get(sig.attack_class, 0.0), sig.weight)
    status = (frame["http.response.status_code"].cast(pl.Int32, strict=False)
              if "http.response.status_code" in frame.columns
              else pl.Series([None] * frame.height, dtype=pl.Int32))
    work = work.with_columns(status.alias("__status"))
    st = pl.col("__status")
    is_4xx = (st >= 400) & (st < 500)
    probe = probe_path_expr(pl.col("__target").str.replace(r"\?.*$", ""))
    hits["probe"] = probe & is_4xx.fill_null(True)
    weights["probe"] = 1.0
    hits["probe_ok"] = probe & ~is_4xx.fill_null(True)
    weights["probe_ok"] = 0.3
    hits["malformed"] = pl.lit(_malformed(frame))
    weights["malformed"] = 1.0
    hits["http_auth"] = (st == 401) & pl.lit(_has_user(frame))
    weights["http_auth"] = 1.0
    hits["client_error"] = is_4xx.fill_null(False)
    weights["client_error"] = 0.1
    names = sorted(hits)
    work = work.with_columns([hits[n].fill_null(False).alias(f"__h_{n}") for n in names])
    score = pl.max_horizontal([pl.when(pl.col(f"__h_{n}")).then(weights[n]).otherwise(0.0)
                               for n in names])
    strong = [n for n in names if weights[n] >= 1.0]
    classes = pl.concat_str([pl.when(pl.col(f"__h_{n}")).then(pl.lit(n)) for n in strong],
                            separator=",", ignore_nulls=True)
    return work.select(classes.fill_null("").alias("web.attack.classes"),
                       score.alias("web.attack.score"))


def _has_user(frame: pl.DataFrame) -> pl.Series:
    if "user.name" not in frame.columns:
        return pl.Series([False] * frame.height)
    user = frame["user.name"].cast(pl.String)
    return (user.is_not_null() & (user != "-")).fill_null(False)


def _malformed(frame: pl.DataFrame) -> pl.Series:
    """A request line that is not ``METHOD TARGET [HTTP/x]`` (non-HTTP bytes, empty)."""
    if "web.access.request" not in frame.columns or "http.request.method" not in frame.columns:
        return pl.Series([False] * frame.height)
    return frame["http.request.method"].is_null() & frame["web.access.request"].is_not_null()
