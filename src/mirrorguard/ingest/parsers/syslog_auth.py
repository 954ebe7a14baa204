"""Authentication events inside syslog messages: sshd, sudo, su, login, PAM, account changes.

Each :class:`AuthRule` is one regular expression with named groups plus the ECS event it
describes. Rules run vectorised (Polars ``str.extract_groups``) over the rows of the programs
they name only, in order; the first rule that matches a row wins. Group names map to ECS fields
through :data:`GROUP_FIELDS`; the group ``addr`` (host name or address) becomes
``source.address`` and, when it looks like an IP address, ``source.ip``, else ``source.domain``.

Patterns follow the messages OpenSSH, sudo, util-linux ``su``/``login``, shadow-utils and
Linux-PAM ``pam_unix`` write (the same families Elastic's ``system.auth`` pipeline and fail2ban's
``sshd``/``pam-generic`` filters recognise); they were written here from those programs' log
formats and checked against the fail2ban and loghub samples.

>>> import polars as pl
>>> f = pl.DataFrame({"mirrorguard.record": [1],
...                   "log.syslog.appname": ["sshd"],
...                   "message": ["Failed password for invalid user bob from 10.0.0.9 port 22"]})
>>> row = auth_fields(f).row(0, named=True)
>>> row["event.action"], row["event.outcome"], row["user.name"], row["source.ip"]
('ssh_login', 'failure', 'bob', '10.0.0.9')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

RECORD = "mirrorguard.record"

#: programs whose lines belong to the ``system.auth`` dataset (base names, lower case)
AUTH_PROGRAMS: frozenset[str] = frozenset({
    "sshd", "sshd-session", "sshd-auth", "dropbear", "sudo", "su", "login", "passwd", "chpasswd",
    "chage", "chsh", "chfn", "useradd", "userdel", "usermod", "groupadd", "groupdel",
    "groupmod", "gpasswd", "newusers", "systemd-logind", "polkitd", "pkexec", "doas", "klogind",
    "unix_chkpwd", "gdm-password", "lightdm", "sddm", "cron-auth", "runuser",
})

SSHD = frozenset({"sshd", "sshd-session", "sshd-auth"})
_ACCOUNTS = frozenset({"useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod",
                       "passwd", "chpasswd", "gpasswd", "newusers"})

#: regex group name -> ECS field
GROUP_FIELDS: dict[str, str] = {
    "user": "user.name",
    "port": "source.port",
    "target": "user.target.name",
    "effective": "user.effective.name",
    "cmd": "process.command_line",
    "cwd": "process.working_directory",
    "tty": "system.auth.tty",
    "method": "system.auth.ssh.method",
    "service": "system.auth.pam.service",
    "ruser": "source.user.name",
    "reason": "event.reason",
    "group": "group.name",
    "uid": "user.id",
}

_IP_LIKE = r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]+)$"
# sshd prefixes seen in the wild: Solaris "[ID 800047 auth.info] ", "error: ", "fatal: "
_SSH = r"^(?P<hit>)(?:\[ID \d+ [\w.]+\] )?(?:error: |fatal: )?"
_PAM = r"^(?P<hit>)(?:pam_unix\((?P<service>[^:)]*)(?::\w+)?\):?\s*|\(pam_unix\)\s*|pam_unix:\s*)?"
# dropbear may repeat its own "[pid] Mon dd hh:mm:ss " inside the message
_DROPBEAR = r"^(?P<hit>)(?:\[\d+\] [A-Za-z]{3} +\d+ [\d:]+ )?"
_ADDR = r"(?P<addr>\S*[^\s:,\]])"
_PORT = r"(?: port (?P<port>\d+))?"


@dataclass(frozen=True)
class AuthRule:
    """One message pattern and the event it means.

    ``keywords`` are literals of which every message the pattern matches contains one (they
    route rows to candidate rules cheaply). ``outcome`` is ``success``/``failure``/``None``;
    with ``fail_if`` set, rows where that group matched are failures and the rest successes.
    """

    keywords: tuple[str, ...]
    programs: frozenset[str] | None  # None: any program (PAM modules log under many)
    pattern: str
    action: str
    category: str
    type: str = "info"
    outcome: str | None = None
    fail_if: str | None = None


_DISCONNECT = ("Received disconnect from", "Disconnected from", "Connection closed by",
               "Connection reset by")

RULES: tuple[AuthRule, ...] = (
    AuthRule(("Failed ",), SSHD | {"dropbear"}, _SSH + r"Failed (?P<method>\S+) for "
             r"(?:invalid user )?(?P<user>.*?) from " + _ADDR + _PORT,
             "ssh_login", "authentication", "start", "failure"),
    AuthRule(("Accepted ",), SSHD, _SSH + r"Accepted (?P<method>\S+) for (?P<user>\S+) from "
             + _ADDR + _PORT, "ssh_login", "authentication", "start", "success"),
    AuthRule(("Invalid user ",), SSHD, _SSH + r"Invalid user (?P<user>.*?) from " + _ADDR + _PORT
             + r"\s*$", "ssh_invalid_user", "authentication", "start", "failure"),
    AuthRule(("input_userauth_request",), SSHD, _SSH + r"input_userauth_request: invalid user "
             r"(?P<user>.*?)(?: \[preauth\])?$", "ssh_invalid_user", "authentication", "start",
             "failure"),
    AuthRule(("PAM: ",), SSHD, _SSH + r"PAM: (?:[Aa]uthentication (?:failure|error)|User not known "
             r"to the underlying authentication module) for (?:illegal user )?(?P<user>\S+) from "
             + _ADDR + r"(?: via \S+)?\s*$", "ssh_login", "authentication", "start", "failure"),
    AuthRule(("User ",), SSHD, _SSH + r"User (?P<user>\S+) (?:from " + _ADDR + r" )?not allowed "
             r"because (?P<reason>.*)$", "ssh_user_not_allowed", "authentication", "start",
             "failure"),
    AuthRule(("ROOT LOGIN REFUSED",), SSHD, _SSH + r"ROOT LOGIN REFUSED FROM " + _ADDR + _PORT,
             "ssh_root_login_refused", "authentication", "start", "failure"),
    AuthRule(("maximum authentication attempts",), SSHD, _SSH + r"maximum authentication "
             r"attempts exceeded for (?:invalid user )?(?P<user>\S+) from " + _ADDR + _PORT,
             "ssh_max_auth_attempts", "authentication", "start", "failure"),
    AuthRule(("Disconnecting",), SSHD, _SSH + r"Disconnecting(?: (?:invalid|authenticating) user "
             r"(?P<user2>\S+) " + _ADDR + r" port (?P<port>\d+))?: Too many authentication "
             r"failures(?: for (?:invalid user )?(?P<user>\S+))?", "ssh_max_auth_attempts",
             "authentication", "start", "failure"),
    AuthRule(("Disconnecting",), SSHD, _SSH + r"Disconnecting (?:(?:invalid|authenticating) )?"
             r"user (?P<user>\S+) " + _ADDR + r" port (?P<port>\d+): (?P<reason>.*?)"
             r"(?: \[preauth\])?$", "ssh_disconnect", "network", "end"),
    AuthRule(("Did not receive identification",), SSHD, _SSH + r"Did not receive identification "
             r"string from " + _ADDR + _PORT, "ssh_no_identification", "network", "info",
             "failure"),
    AuthRule(_DISCONNECT, SSHD, _SSH + r"(?:" + "|".join(_DISCONNECT) + r") (?:(?:invalid "
             r"|authenticating )?user (?P<user>\S*) )?" + _ADDR + r"(?::? port (?P<port>\d+))?"
             r"(?:[: ]|$)", "ssh_disconnect", "network", "end"),
    AuthRule(("reverse mapping checking", "Address "), SSHD, _SSH + r"(?:reverse mapping checking "
             r"getaddrinfo for \S+ \[(?P<addr>[^\]]+)\]|Address (?P<addr2>\S+) maps to \S+, "
             r"but this does not map back)", "ssh_reverse_mapping_failed", "network", "info"),
    AuthRule(("Connection from ",), SSHD, _SSH + r"Connection from " + _ADDR + _PORT + r" on ",
             "ssh_connection", "network", "start"),
    AuthRule(("bad password attempt", "Bad password attempt"), frozenset({"dropbear"}),
             _DROPBEAR + r"[Bb]ad password attempt for '(?P<user>[^']*)' from (?P<addr>\S*?)"
             r"(?::(?P<port>\d+))?$", "ssh_login", "authentication", "start", "failure"),
    AuthRule(("ogin attempt for nonexistent user",), frozenset({"dropbear"}),
             _DROPBEAR + r"[Ll]ogin attempt for nonexistent user from (?P<addr>\S*?)"
             r"(?::(?P<port>\d+))?$", "ssh_invalid_user", "authentication", "start", "failure"),
    AuthRule(("auth succeeded for",), frozenset({"dropbear"}), _DROPBEAR + r"(?:Password|Pubkey) "
             r"auth succeeded for '(?P<user>[^']*)' (?:with key \S+ )?from (?P<addr>\S*?)"
             r"(?::(?P<port>\d+))?$", "ssh_login", "authentication", "start", "success"),
    AuthRule(("Exit before auth",), frozenset({"dropbear"}), _DROPBEAR + r"Exit before auth"
             r"(?: \(user '(?P<user>[^']*)', \d+ fails\))?(?: from <(?P<addr>[^>]*?)"
             r"(?::(?P<port>\d+))?>)?: (?P<reason>.*?)(?: - user '(?P<user2>[^']*)' from "
             r"(?P<addr2>\S*?)(?::(?P<port2>\d+))?)?$", "ssh_exit_before_auth", "authentication",
             "start", "failure"),
    AuthRule(("Kerberos authentication failed", "Authentication failed from"),
             frozenset({"klogind"}), r"^(?P<hit>)(?:Kerberos authentication failed|"
             r"Authentication failed from (?P<addr>[^\s(]+))", "kerberos_login",
             "authentication", "start", "failure"),
    AuthRule(("authentication failure",), None, _PAM + r"(?:PAM \d+ more )?authentication "
             r"failures?; logname=\S* uid=\S* euid=\S* tty=(?P<tty>\S*) ruser=(?P<ruser>\S*) "
             r"rhost=(?P<addr>\S*)(?:\s+user=(?P<user>\S+))?", "pam_auth_failure",
             "authentication", "start", "failure"),
    AuthRule(("session opened for", "session closed for"), None, _PAM + r"session "
             r"(?P<state>opened|closed) for user (?P<user>[^\s(]+)(?:\(uid=(?P<uid>\d+)\))?"
             r"(?: by (?P<effective>[^\s(]*)\(uid=\d+\))?", "session", "session"),
    AuthRule(("check pass; user unknown",), None, _PAM + r"check pass; user (?P<reason>unknown)",
             "pam_user_unknown", "authentication", "start", "failure"),
    AuthRule(("COMMAND=",), frozenset({"sudo"}), r"^(?P<hit>)\s*(?P<user>\S+) : "
             r"(?:(?P<reason>[^;]*?) ; )?TTY=(?P<tty>\S+) ; PWD=(?P<cwd>.*?) ; "
             r"USER=(?P<effective>\S+) ;(?: GROUP=\S+ ;)?(?: TSID=\S+ ;)?(?: ENV=.*? ;)? "
             r"COMMAND=(?P<cmd>.*)$", "sudo_command", "process", "start", fail_if="reason"),
    AuthRule(("Successful su for",), frozenset({"su"}), r"^(?P<hit>)Successful su for "
             r"(?P<target>\S+) by (?P<user>\S+)", "su", "authentication", "start", "success"),
    AuthRule(("FAILED su for", "'su "), frozenset({"su"}), r"^(?P<hit>)(?:FAILED su for "
             r"(?P<target>\S+) by (?P<user>\S+)|'su (?P<target2>\S+)' failed for (?P<user2>\S+) "
             r"on (?P<tty>\S+))", "su", "authentication", "start", "failure"),
    AuthRule(("(to ",), frozenset({"su"}), r"^(?P<hit>)\(to (?P<target>\S+)\) (?P<user>\S+) "
             r"on (?P<tty>\S+)", "su", "authentication", "start", "success"),
    AuthRule(("FAILED LOGIN",), frozenset({"login"}), r"^(?P<hit>)FAILED LOGIN \(?\d+\)? "
             r"(?:on '?(?P<tty>[^' ]+)'? )?FROM '?(?P<addr>[^' ]+)'? FOR '?(?P<user>[^',]+)'?",
             "login", "authentication", "start", "failure"),
    AuthRule(("ROOT LOGIN ON", "ROOT LOGIN on"), frozenset({"login"}), r"^(?P<hit>)ROOT LOGIN "
             r"(?:ON|on) '?(?P<tty>[^' ]+)'?", "login", "authentication", "start", "success"),
    AuthRule(("new user: ",), _ACCOUNTS, r"^(?P<hit>)new user: name=(?P<user>[^,]+), "
             r"UID=(?P<uid>\d+)", "user_created", "iam", "creation", "success"),
    AuthRule(("new group: ",), _ACCOUNTS, r"^(?P<hit>)new group: name=(?P<group>[^,]+)",
             "group_created", "iam", "creation", "success"),
    AuthRule(("delete user '",), _ACCOUNTS, r"^(?P<hit>)delete user '(?P<user>[^']+)'",
             "user_deleted", "iam", "deletion", "success"),
    AuthRule(("password changed for",), _ACCOUNTS, r"^(?P<hit>)(?:pam_unix\(\S+\): )?password "
             r"changed for (?P<user>\S+)", "password_changed", "iam", "change", "success"),
)


def _escape(literal: str) -> str:
    """Escape a literal for the Rust regex engine Polars uses."""
    return re.sub(r"([\\.+*?()|\[\]{}^$#&~-])", r"\\\1", literal)


_BY_KEYWORD: dict[str, list[int]] = {}
for _i, _rule in enumerate(RULES):
    for _kw in _rule.keywords:
        _BY_KEYWORD.setdefault(_kw, []).append(_i)
#: one alternation of every keyword, longest first (Rust's regex finds these with SIMD)
DISPATCH = "(" + "|".join(_escape(k) for k in sorted(_BY_KEYWORD, key=len, reverse=True)) + ")"


def base_program(appname: pl.Expr) -> pl.Expr:
    """``sshd(pam_unix)`` → ``sshd``, ``postfix/smtpd`` → ``postfix/smtpd``; lower case."""
    return appname.str.replace(r"\(.*$", "").str.to_lowercase()


def is_auth_row(appname: pl.Expr, message: pl.Expr) -> pl.Expr:
    """Rows that belong to the ``system.auth`` dataset even when no rule matches them."""
    return (
        base_program(appname).is_in(list(AUTH_PROGRAMS))
        | appname.str.contains("pam_", literal=True)
        | message.str.contains(r"^(?:pam_unix|\(pam_unix\)|pam_\w+\()")
    ).fill_null(False)


def _rule_frame(hits: pl.DataFrame, rule: AuthRule) -> pl.DataFrame:
    """ECS columns from one rule's matched groups."""
    groups = hits["g"].struct.unnest()
    # alternations name the same field twice (user, user2, user3): fold them
    for name in list(groups.columns):
        base = name.rstrip("0123456789")
        if base != name:
            if base in groups.columns:
                groups = groups.with_columns(pl.coalesce(base, name).alias(base)).drop(name)
            else:
                groups = groups.rename({name: base})
    out: dict[str, pl.Expr] = {
        "event.action": pl.lit(rule.action),
        "event.category": pl.lit(rule.category),
        "event.type": pl.lit(rule.type),
    }
    cols = set(groups.columns)
    for group, field in GROUP_FIELDS.items():
        if group in cols:
            out[field] = pl.col(group).replace("", None)
    if "addr" in cols:
        addr = pl.col("addr").replace("", None)
        is_ip = addr.str.contains(_IP_LIKE)
        out["source.address"] = addr
        # IPv4-mapped IPv6 (::ffff:1.2.3.4) is the IPv4 host
        out["source.ip"] = pl.when(is_ip).then(addr.str.replace(r"^::ffff:(\d+\.)", "$1"))
        out["source.domain"] = pl.when(~is_ip).then(addr)
    if rule.fail_if is not None and rule.fail_if in cols:
        fail = pl.col(rule.fail_if).is_not_null() & (pl.col(rule.fail_if) != "")
        out["event.outcome"] = pl.when(fail).then(pl.lit("failure")).otherwise(pl.lit("success"))
    elif rule.outcome is not None:
        out["event.outcome"] = pl.lit(rule.outcome)
    if "state" in cols:  # PAM session opened/closed
        out["event.action"] = pl.format("session_{}", pl.col("state"))
        out["event.type"] = (pl.when(pl.col("state") == "opened").then(pl.lit("start"))
                             .otherwise(pl.lit("end")))
    exprs = [e.alias(name) for name, e in out.items()]
    return groups.select(exprs).with_columns(hits[RECORD])


def _apply(rest: pl.DataFrame, rule_ids: list[int],
           parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Try ``rule_ids`` in order on ``rest``; matched rows go to ``parts``, the rest return."""
    for i in rule_ids:
        if rest.height == 0:
            break
        rule = RULES[i]
        tried = rest.with_columns(pl.col("__msg").str.extract_groups(rule.pattern).alias("g"))
        hit = pl.col("g").struct.field("hit").is_not_null()
        if rule.programs is not None:
            hit = hit & pl.col("__prog").is_in(list(rule.programs))
        tried = tried.with_columns(hit.alias("__hit"))
        hits = tried.filter(pl.col("__hit"))
        if hits.height:
            parts.append(_rule_frame(hits, rule))
            rest = tried.filter(~pl.col("__hit")).drop("g", "__hit")
    return rest


def auth_fields(frame: pl.DataFrame) -> pl.DataFrame:
    """ECS auth fields for the rows of ``frame`` that an :data:`RULES` entry matches.

    ``frame`` needs ``mirrorguard.record``, ``log.syslog.appname`` and ``message``. The result
    has one row per matched record: ``mirrorguard.record`` plus the extracted fields.

    One pass of the :data:`DISPATCH` alternation finds each message's first keyword; rows are
    grouped by it and only that keyword's rules run on them (in table order, first match wins).
    Rows none of those rules match get every other rule whose keyword they contain.
    """
    cand = frame.select(
        pl.col(RECORD),
        base_program(pl.col("log.syslog.appname")).alias("__prog"),
        pl.col("message").alias("__msg"),
        pl.col("message").str.extract(DISPATCH, 1).alias("__kw"),
    ).filter(pl.col("__kw").is_not_null())
    parts: list[pl.DataFrame] = []
    left = [_apply(group, _BY_KEYWORD[str(kw)], parts)
            for (kw,), group in cand.partition_by("__kw", as_dict=True).items()]
    rest = pl.concat(left) if left else cand
    if rest.height:  # a later keyword's rule may still match (rare): try those rules too
        kws = rest.select(pl.col("__msg").str.extract_all(DISPATCH).explode().unique())
        for i, rule in enumerate(RULES):
            if rest.height == 0:
                break
            if not any(k in kws["__msg"] for k in rule.keywords):
                continue
            has = rest.filter(pl.any_horizontal(
                [pl.col("__msg").str.contains(k, literal=True) for k in rule.keywords]))
            still = _apply(has, [i], parts)
            done = has.join(still, on=RECORD, how="anti")[RECORD]
            rest = rest.filter(~pl.col(RECORD).is_in(done.implode()))
    if not parts:
        return pl.DataFrame(schema={RECORD: pl.Int64})
    return pl.concat(parts, how="diagonal_relaxed")
