"""Normalised authentication events from many services, for raw or syslog-parsed lines.

Every line is classified by a declarative table of named patterns (:data:`RULES`): each
:class:`EventRule` names the service family it belongs to and the *kind* of event it means.
Rules are tried in table order and the first match wins, so narrow "this looks like a failure
but is not one" rules (a PAM sub-line that repeats an attempt sshd logs itself, a client that
made no authentication attempt) come before the families' failure rules, and a generic
failure vocabulary for unknown services comes last. Matching is vectorised: one Rust-regex
``str.contains`` per rule over the whole frame, then a ``coalesce`` picks the first hit.

Kinds and whether they flag a line as an attack/failure event (:data:`FLAG_KINDS`):

* flagged — ``failure`` (wrong credentials), ``invalid_user`` (unknown account), ``denied``
  (policy or ACL refused the client), ``rejected`` (mail/VoIP/DNS request refused),
  ``protocol`` (handshake aborted before authentication, malformed or hostile protocol use),
  ``attack`` (the service itself calls it an attack: scan, spam, exploit filter),
  ``blocked`` (a blocklist, rate limit or ban hit the client), ``probe`` (a request named a
  script that does not exist: what scanners do);
* ``not_found`` — a web server could not find the requested path: flagged only when the path
  is a probe (:func:`mirrorguard.detect.web_signatures.probe_path_expr`);
* not flagged — ``success``, ``session``, ``info``, ``companion`` (a second record of an attempt
  that another line of the same service already reports), ``locked`` (a locked account, the
  attempt is reported by the session's closing line).

The patterns were written for this project from the services' documented log formats and
messages; they are not taken from fail2ban's (GPL) filters.

>>> import polars as pl
>>> f = classify(pl.DataFrame({"message": [
...     "Failed password for invalid user oracle from 203.0.113.66 port 4242 ssh2",
...     "pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost=203.0.113.66",
...     "warning: unknown[198.51.100.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"]}))
>>> f.select("auth.kind", "auth.flag", "user.name", "source.ip").rows()
[('invalid_user', True, 'oracle', '203.0.113.66'), ('companion', False, None, '203.0.113.66'), \
('failure', True, None, '198.51.100.7')]
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from mirrorguard.detect.web_signatures import probe_path_expr
from mirrorguard.errors import MirrorguardError
from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.syslog import SyslogParser

FLAG_KINDS: frozenset[str] = frozenset(
    {"failure", "invalid_user", "denied", "rejected", "protocol", "attack", "blocked", "probe"})
ALL_KINDS: frozenset[str] = FLAG_KINDS | {"not_found", "success", "session", "info",
                                          "companion", "locked"}
#: outcome (ECS ``event.outcome``) implied by each kind
OUTCOME: dict[str, str] = {**dict.fromkeys(FLAG_KINDS | {"not_found", "locked"}, "failure"),
                           "success": "success", "session": "success"}


@dataclass(frozen=True)
class EventRule:
    """One named message pattern (Rust regex syntax) and the event it means."""

    name: str
    family: str
    kind: str
    pattern: str

    def __post_init__(self) -> None:
        if self.kind not in ALL_KINDS:
            raise MirrorguardError(f"rule {self.name!r}: unknown kind {self.kind!r}")


_R = EventRule
_I = "(?i)"
_PRE = r"(?:Connection closed by|Connection reset by|Disconnected from|Received disconnect from|" \
       r"Disconnecting|Read from socket failed|fatal:).*\[preauth\]"

# Order matters: first match wins. Exceptions first, then families, then generic vocabulary.
RULES: tuple[EventRule, ...] = (
    # --- exceptions: looks like a failure, is not one (or is reported by another line) --------
    _R("no_auth_attempt", "mail", "info", r"\(no auth attempts"),
    _R("digest_fallback", "voip", "info", r"Falling back to Digest auth"),
    _R("http_auth_challenge", "web", "info", _I + r"(?:missing or )?invalid Authorization header"),
    _R("audit_user_login", "ssh", "companion", r"type=USER_LOGIN\b"),
    _R("sogo_ldap_backend", "web", "companion", r"NAME:LDAPException"),
    _R("xrdp_wm_echo", "rdp", "companion", r"xrdp_wm_log_msg"),
    _R("ssh_pam_subline", "ssh", "companion", r"pam_unix\(sshd:auth\): authentication failure"),
    _R("ssh_userauth_request", "ssh", "companion", r"input_userauth_request: invalid user"),
    _R("ssh_locked", "ssh", "locked", r"not allowed because account is locked"),
    _R("ssh_postponed", "ssh", "info", r"\bPostponed \S+ for "),
    _R("ssh_reverse_dns", "ssh", "info",
       r"maps to \S+, but this does not map back|reverse mapping checking getaddrinfo"),
    _R("reverse_dns", "mail", "info", r"no host name found for IP|no IP address found for host"),
    _R("ssh_audit_trace", "ssh", "info", r"SSH: Server;Ltype:"),
    _R("fail2ban_unban", "ips", "info", r"\bUnban\b"),
    _R("success", "generic", "success",
       _I + r"\bAccepted (?:password|publickey|keyboard-interactive\S*|hostbased|gssapi\S*) for|"
       r"successful(?:ly)? (?:login|logged|authenticat)|\blogin success|authentication: "
       r"succeeded|authentication successful|auth succeeded for|\bsession opened for|"
       r"connected to \S+ from|cowrie\.login\.success|Accepted connection"),
    # --- ssh ---------------------------------------------------------------------------------
    _R("ssh_pubkey_invalid_user", "ssh", "invalid_user", r"Failed publickey for invalid user"),
    _R("ssh_pubkey_probe", "ssh", "info", r"Failed publickey for "),
    _R("ssh_failed_invalid_user", "ssh", "invalid_user",
       r"Failed \S+ for (?:invalid user|illegal user|<invalid username>)"),
    _R("ssh_failed", "ssh", "failure", r"Failed (?:password|keyboard-interactive\S*|hostbased|"
       r"unknown|none|gssapi\S*) for "),
    _R("ssh_invalid_user", "ssh", "invalid_user", r"\b(?:Invalid|Illegal) user .*from "),
    _R("ssh_not_allowed", "ssh", "denied", r"\bUser \S+ (?:from \S+ )?not allowed because"),
    _R("ssh_root_refused", "ssh", "denied", r"ROOT LOGIN REFUSED|refused connect from"),
    _R("ssh_pam_failure", "ssh", "failure",
       _I + r"PAM: (?:authentication (?:failure|error)|user not known)"),
    _R("ssh_max_attempts", "ssh", "failure",
       _I + r"maximum authentication attempts exceeded|Too many authentication failures"),
    _R("ssh_auth_fail_disconnect", "ssh", "failure",
       r"\bAuth fail\b|No (?:supported )?authentication methods available"),
    _R("ssh_protocol", "ssh", "protocol",
       r"Did not receive identification string|Bad protocol version identification|"
       r"kex_exchange_identification|banner exchange:|Unable to negotiate|no matching \S+ "
       r"found|ssh_dispatch_run_fatal|Timeout before authentication|Change of username or "
       r"service not allowed|Exit before auth|Max auth tries reached"),
    _R("ssh_preauth_abort", "ssh", "protocol", _PRE),
    _R("audit_auth_failed", "ssh", "failure", r"type=USER_(?:AUTH|ERR)\b.*res=failed"),
    # --- pam / generic unix ------------------------------------------------------------------
    _R("pam_failure", "pam", "failure", r"authentication failure;|pam_authenticate\(\) failed|"
       r"check pass; user unknown"),
    # --- mail ---------------------------------------------------------------------------------
    _R("mail_lost_early", "mail", "protocol",
       r"lost connection after (?:CONNECT|STARTTLS|EHLO|HELO)"),
    _R("mail_lost_late", "mail", "info", r"lost connection after "),
    _R("mail_auth_failed", "mail", "failure",
       _I + r"\(auth failed, \d+ attempts|SASL \S+ authentication failed|authenticator failed "
       r"for|\bAUTH failure\b|badlogin:|Incorrect authentication data|AUTH errors|"
       r"sender authentication errors|535 (?:\d\.\d\.\d )?(?:Error: )?authentication failed|"
       r"proxy dest auth failed|tried to use dis\w+ plaintext auth"),
    _R("mail_login_failed", "mail", "failure", r"LOGIN FAILED,|Login failed user=|"
       r"excessive login failures|Login disabled user=|Failed uwmaster override"),
    _R("mail_attack", "mail", "attack", _I + r"possible SMTP attack|Spam attack detected|"
       r"Action: (?:silently tossed|flagged as Spam)|contains a virus"),
    _R("mail_blocked", "mail", "blocked",
       _I + r"found in DNS ?blacklist|listed at \S+|found in dnsbl|in a black list|"
       r"IP in \S+ RBL|IP in SpamCop|rblsmtpd|badiprbl|rate limit exceeded|Too many connections"),
    _R("mail_protocol", "mail", "protocol",
       r"improper command pipelining|too many errors after|\bPREGREET\b|HANGUP after|"
       r"COMMAND (?:TIME|COUNT) LIMIT|SMTP protocol (?:synchronization )?error|too many "
       r"(?:nonmail|syntax or protocol|unrecognized) (?:commands|errors)|disconnected before "
       r"auth was ready|client didn't finish SASL auth|no MAIL in SMTP connection|"
       r"did not issue MAIL/EXPN/VRFY/ETRN|\bauth=0/\d+|lost input channel from|"
       r"pre-greeting traffic|before SMTP greeting|nrcpts=0,|does not resolve to address"),
    _R("mail_rejected", "mail", "rejected",
       r"\breject(?:ed)?:|\breject=\d{3}|rejected RCPT|rejected by local_scan|rejected after "
       r"DATA|relay not permitted|Relay access denied|Relaying (?:temporarily )?denied|relay "
       r"attempt blocked|Relay attempt from|\[rejected\]|sender verify fail|rejected "
       r"connection from|closed by DROP in ACL|dropped by '\w+' ACL|rejecting commands from|"
       r"unknown recipient|doesn't exist\. Attempt|550 User|rejected for policy reasons|"
       r"connection rejected"),
    _R("sendmail_rcpt_status", "mail", "info", r"\.\.\. (?:No such user here|User unknown)\s*$"),
    # --- voip ----------------------------------------------------------------------------------
    _R("sip_failed", "voip", "failure",
       r"Registration from .* failed for|Request (?:'\w+' )?from .* failed for|No registration "
       r"for peer|failed (?:MD5 )?authentication for|failed to authenticate as|SIP auth "
       r"(?:failure|challenge)|Can't find user|SecurityEvent=\"(?:InvalidPassword|"
       r"ChallengeResponseFailed)\""),
    _R("sip_invalid", "voip", "invalid_user", r"SecurityEvent=\"InvalidAccountID\"|"
       r"tried to authenticate with nonexistent user"),
    _R("sip_rejected", "voip", "rejected", r"Call (?:from .*)?\(.*\) to extension .* rejected|"
       r"Call from .* rejected because|Rejecting unknown SIP connection|SecurityEvent="
       r"\"FailedACL\"|hacking attempt detected"),
    # --- dns -----------------------------------------------------------------------------------
    _R("dns_denied", "dns", "denied", r"query (?:\(cache\) )?'[^']*' denied|zone transfer "
       r"'[^']*' denied|bad zone transfer request|axfr for .* refused|ratelimit block"),
    # --- web servers, web applications -------------------------------------------------------
    _R("web_exploit", "web", "attack",
       r"ModSecurity: |ALERT - |ignoring function definition attempt|error importing function "
       r"definition|Invalid URI in request|URI too long|erroneous characters after protocol "
       r"string|Invalid method in request|invalid URI path"),
    _R("web_tls", "web", "protocol", r"SSL_do_handshake\(\) failed|SSL_read\(\) failed|"
       r"SSL negotiation with client failed|SSL_accept|TLS Error|TLS Auth Error|VERIFY ERROR|"
       r"AH0203[123]:|connection-reset\] received"),
    _R("web_denied", "web", "denied", _I + r"client denied by server configuration|access "
       r"forbidden by rule|Access not allowed|TCP_DENIED/|NONE/4\d\d |authorization failure for"
       r"|Authorization of user .* failed|wrong authentication scheme|not allowed to talk to us"
       r"|user denied:|IP address not allowed"),
    _R("web_rate_limited", "web", "blocked", r"limiting (?:requests|connections)|"
       r"delaying request, excess"),
    _R("web_digest", "web", "failure", r"invalid nonce|realm mismatch|unknown algorithm|"
       r"invalid qop|uri mismatch"),
    _R("haproxy_401", "web", "failure", r"\] \S+ \S+/\S+ [-\d/]+ 401 \d"),
    _R("web_script_missing", "web", "probe", r"Primary script unknown|script not found or "
       r"unable to stat|script '[^']*' not found"),
    _R("web_not_found", "web", "not_found",
       r"File does not exist:|\(2: No such file or directory\)|- NOTEXIST -"),
    # --- other services --------------------------------------------------------------------------
    _R("ips_ban", "ips", "blocked", r"\] Ban \S+\s*$|\bTCP Blocked|\bUDP Blocked"),
    _R("port_scan", "ips", "attack", r"\d+\.\d+\.\d+\.\d+ to \S+ ports \d+"),
    _R("honeypot", "ssh", "attack", r"cowrie\.(?:login\.failed|session\.connect)"),
    _R("proxy_denied", "proxy", "denied", r"error after reading \d+ bytes? in \d+ seconds?:|"
       r"PROXY\.\d+ 0*[1-9]\d* "),
    _R("xinetd_fail", "generic", "denied", r"\bFAIL: \S+ (?:address|libwrap) from="),
    _R("ldap_bad_bind", "ldap", "failure", r"\berr=49\b"),
    _R("ssh_connection", "ssh", "info", r"Connection (?:from|closed by|reset by) |"
       r"Disconnected from |Received disconnect from|session closed for"),
    # --- generic failure vocabulary (unknown services) ------------------------------------------
    _R("generic_invalid_user", "generic", "invalid_user",
       _I + r"\buser \S*\s?(?:was )?not found|in realm .* not found|\bunknown user\b|"
       r"\bno such user\b|\buser not "
       r"found|\bnon-?existent (?:login|user)|could not find a login|could not retrieve user|"
       r"doesn't exist|can't map user|user is not in the allow"),
    _R("generic_failure", "generic", "failure",
       _I + r"password mismatch|password doesn't match|wrong password|password incorrect|"
       r"incorrect password|bad password|invalid password|invalid credentials|invalid username "
       r"or password|username or password is incorrect|password verification failed|"
       r"authentication (?:failed|failure|error)|\bauth(?:entication)? failed|login (?:failed|"
       r"failure|error|denied|attempt failed)|failed (?:\w+ ){0,2}(?:login|logon|"
       r"authentication)|\binvalid login|\bLOGIN_ERROR|tried to login|\bFAIL LOGIN|login "
       r"failures?\b|bad rcon|invalid (?:admin )?token|invalid TOTP|2FA invalid|not "
       r"authenticated|\bAUTHFAIL\b|might not have worked|rejected connection from|failed to "
       r"(?:authenticate|login)|get_password failed|can't find APOP secret|login not allowed|"
       r"maximum login attempts|login attempts? exceeded|failure from \S+|Login with username .*"
       r" failed|Authentication attempt from .* failed|fatal error reading authentication|"
       r"empty password|login into .* failed|\bAUTHERR\b|authentication: failed"),
    _R("generic_denied", "generic", "denied",
       _I + r"access denied|permission denied|SECURITY VIOLATION|\bdenied\b"),
    _R("generic_rejected", "generic", "rejected", _I + r"\brejected\b"),
)

#: regexes whose first group is the client address, tried in order (raw lines only)
ADDRESS_PATTERNS: tuple[str, ...] = (
    r"rhost=(?:::ffff:)?([0-9A-Za-z][\w.:-]*)", r"\brip=([0-9a-fA-F.:]+)",
    r"\[client \[?([0-9a-fA-F.:]+?)\]?(?::\d+)?\]", r"\bclient:? \[?([0-9a-fA-F.:]+?)\]?[,:#\s]",
    r"\"src_ip\":\"([^\"]+)\"", r"(?i)\bfrom[ =]\[?(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})\b",
    r"(?i)\b(?:ip|addr|host|relay|client|viewer address)[=:] ?\[?(?:::ffff:)?"
    r"(\d{1,3}(?:\.\d{1,3}){3})\b",
    r"\[(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})\]", r"(?i)\bfrom \[?([0-9a-f]*:[0-9a-f:]*:[0-9a-f]+)",
    r"\b(\d{1,3}(?:\.\d{1,3}){3})\b",
)
#: regexes whose first group is the account name, tried in order
USER_PATTERNS: tuple[str, ...] = (
    r"for (?:invalid |illegal )?user ['\"<]?([^\s'\"<>,;:]+)",
    r"(?i)\b(?:user|username|uname|acct|login|account|sasl_username|set_id)[=:] ?['\"<(]?"
    r"([^\s'\"<>,;()]+)",
    r"(?i)\b(?:user|account|login as|for) ['\"`]([^'\"`]+)['\"`]",
    r"(?:Accepted|Failed) \S+ for (?:invalid user )?(\S+) from", r"Invalid user (\S+) from",
)

_SENTINEL = len(RULES)


def event_text(frame: pl.DataFrame) -> pl.Expr:
    """The text rules run on: ``app: message`` for parsed rows, else the raw line."""
    msg = pl.col("message") if "message" in frame.columns else pl.lit(None, pl.String)
    if "log.syslog.appname" in frame.columns:
        app = pl.col("log.syslog.appname")
        msg = pl.when(app.is_not_null()).then(pl.format("{}: {}", app, msg)).otherwise(msg)
    if "event.original" in frame.columns:
        msg = pl.coalesce(msg, pl.col("event.original"))
    return msg.fill_null("")


def _first_match(text: pl.Expr, patterns: tuple[str, ...]) -> pl.Expr:
    return pl.coalesce([text.str.extract(p, 1) for p in patterns])


def classify(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` plus ``auth.rule``, ``auth.family``, ``auth.kind``, ``auth.flag``, and —
    where the frame has no value (a parser's own fields win) — ``event.outcome``,
    ``user.name``, ``source.ip`` and ``url.path``.

    ``frame`` needs ``message`` or ``event.original`` (raw line); ``log.syslog.appname`` and
    existing ``user.name``/``source.ip``/``url.path`` columns are used when present. Lines no rule
    matches get kind ``info`` and rule ``none``.
    """
    text = event_text(frame)
    work = frame.with_columns(text.alias("__text"))
    t = pl.col("__text")
    idx = pl.coalesce([pl.when(t.str.contains(r.pattern)).then(pl.lit(i, pl.Int32))
                       for i, r in enumerate(RULES)]).fill_null(_SENTINEL)
    work = work.with_columns(idx.alias("__rule"))
    names = [r.name for r in RULES] + ["none"]
    fams = [r.family for r in RULES] + ["generic"]
    kinds = [r.kind for r in RULES] + ["info"]
    rule = pl.col("__rule")
    kind = rule.replace_strict(list(range(len(names))), kinds, return_dtype=pl.String)
    path = _error_log_path(t)
    if "url.path" in frame.columns:
        path = pl.coalesce(pl.col("url.path"), path)
    probe = probe_path_expr(path).fill_null(False)
    flag = kind.is_in(list(FLAG_KINDS)) | ((kind == "not_found") & probe)
    user = _first_match(t, USER_PATTERNS).str.strip_chars("'\"`<>()[].")
    addr = _first_match(t, ADDRESS_PATTERNS).str.strip_chars("[]")
    if "user.name" in frame.columns:
        user = pl.coalesce(pl.col("user.name"), user)
    if "source.ip" in frame.columns:
        addr = pl.coalesce(pl.col("source.ip"), addr)
    outcome = kind.replace_strict(list(OUTCOME), list(OUTCOME.values()), default=None,
                                  return_dtype=pl.String)
    if "event.outcome" in frame.columns:
        outcome = pl.coalesce(pl.col("event.outcome"), outcome)
    out = work.with_columns(
        rule.replace_strict(list(range(len(names))), names, return_dtype=pl.String)
        .alias("auth.rule"),
        rule.replace_strict(list(range(len(fams))), fams, return_dtype=pl.String)
        .alias("auth.family"),
        kind.alias("auth.kind"),
        flag.alias("auth.flag"),
        outcome.alias("event.outcome"),
        user.replace("", None).alias("user.name"),
        addr.replace("", None).alias("source.ip"),
        path.alias("url.path"),
    )
    return out.drop("__text", "__rule")


def _error_log_path(text: pl.Expr) -> pl.Expr:
    """The requested path named in a web server's error-log line, when there is one."""
    return pl.coalesce(
        text.str.extract(r"request: \"[A-Z]+ (\S+)", 1),
        text.str.extract(r"(?:File does not exist|script not found or unable to stat|"
                         r"configuration|NOTEXIST - \[[^\]]*\] File does not exist): (\S+)", 1),
        text.str.extract(r"script '([^']+)' not found", 1),
        text.str.extract(r"(?:open\(\) )?\"(/[^\"]+)\" (?:failed|is not found)", 1),
    ).str.strip_chars_end(",")


def lines_frame(data: bytes, *, name: str = "lines") -> pl.DataFrame:
    """A frame of every non-empty line of ``data``: syslog-parsed where the header parses,
    else the raw line in ``event.original`` (``mirrorguard.record`` = 1-based line number).

    Lines the syslog parser rejects are not lost: many services (mail servers, VoIP, web
    applications) write their own layouts, which :func:`classify` reads from the raw text.
    """
    ctx = ParseContext(origin=Origin(name, None, "0" * 64), ingested_at=datetime.now(UTC),
                       keep_original=True)
    parsed, rejected = [], []
    for res in SyslogParser(skip_comments=True).parse(io.BytesIO(data), ctx):
        if res.events.height:
            parsed.append(res.events)
        if res.rejects.height:
            rejected.append(res.rejects.select(
                pl.col("line").alias("mirrorguard.record"),
                pl.col("raw").cast(pl.String, strict=False).alias("event.original")))
    frames = parsed + rejected
    if not frames:
        return pl.DataFrame(schema={"mirrorguard.record": pl.Int64, "event.original": pl.String})
    out = pl.concat(frames, how="diagonal_relaxed").sort("mirrorguard.record")
    return out.filter(pl.col("event.original").fill_null("x").str.strip_chars() != "")
