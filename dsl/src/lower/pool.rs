//! Lowering of `pool` blocks: servers and their options, the balancing strategy, timeouts,
//! active and passive health checks, retries and TLS towards the servers.

use crate::ast::{
    Balance, HashKey, Health, HealthCheck, Passive, Pool, PoolTls, ProxyVersion, Retry, RetryOn,
    Server, Timeouts, UpstreamProtocol,
};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::{Arg, ArgKind, Block, Directive};

use super::{Lowering, Seen};

const POOL: [&str; 10] = [
    "balance",
    "server",
    "dns_srv",
    "timeouts",
    "health",
    "passive",
    "retry",
    "send_proxy",
    "tls",
    "protocol",
];
const SERVER_OPTIONS: [&str; 3] = ["weight", "max_conns", "backup"];
const TIMEOUTS: [&str; 4] = ["connect", "response", "idle", "tunnel"];
const POOL_TLS: [&str; 5] = ["ca", "sni", "cert", "key", "verify"];
const STRATEGIES: [&str; 5] = ["round_robin", "least_conn", "random", "ewma", "hash"];
const HASH_KEYS: [&str; 4] = ["client_ip", "header(\"NAME\")", "cookie(\"NAME\")", "path"];
const HEALTH_HTTP: [&str; 6] = ["path", "expect", "interval", "timeout", "rise", "fall"];
const HEALTH_TCP: [&str; 4] = ["interval", "timeout", "rise", "fall"];
const PASSIVE: [&str; 3] = ["max_fails", "fail_timeout", "consecutive_5xx"];
const RETRY_ON: [&str; 3] = ["connect_error", "timeout", "5xx"];

/// A list of names for help lines: "`a`, `b`, `c`".
pub(super) fn listed(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Lowering {
    pub(super) fn pool(&mut self, item: &Directive) -> Option<Pool> {
        let (name, span, directives) = self.item(item)?;
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let mut pool = Pool {
            balance: Spanned::new(Balance::RoundRobin, span),
            name,
            span,
            servers: Vec::new(),
            timeouts: Timeouts::default(),
            health: None,
            passive: None,
            retry: None,
            send_proxy: None,
            tls: None,
            protocol: None,
        };
        for directive in directives {
            match directive.name.value.as_str() {
                "server" => pool.servers.extend(self.server(directive)),
                "dns_srv" => {
                    if let Some([name]) =
                        self.args(directive, 1, "dns_srv \"_http._tcp.users.internal\"")
                    {
                        if let Some(address) = self.keep(literal::srv_name(name)) {
                            pool.servers.push(Server {
                                address,
                                https: false,
                                weight: None,
                                max_conns: None,
                                backup: None,
                                span: directive.head_span(),
                            });
                        }
                    }
                }
                "balance" if self.once(&mut seen, directive) => {
                    if let Some(balance) = self.balance(directive) {
                        pool.balance = balance;
                    }
                }
                "timeouts" if self.once(&mut seen, directive) => {
                    if let Some(block) = self.block(
                        directive,
                        "timeouts { connect 5s  response 60s  idle 60s  tunnel 1h }",
                    ) {
                        self.timeouts(block, &mut pool.timeouts);
                    }
                }
                "health" if self.once(&mut seen, directive) => pool.health = self.health(directive),
                "passive" if self.once(&mut seen, directive) => {
                    if let Some(block) =
                        self.block(directive, "passive { max_fails 3  fail_timeout 30s }")
                    {
                        pool.passive =
                            Some(Spanned::new(self.passive(block), directive.head_span()));
                    }
                }
                "retry" if self.once(&mut seen, directive) => pool.retry = self.retry(directive),
                "send_proxy" if self.once(&mut seen, directive) => {
                    pool.send_proxy = self.send_proxy(directive);
                }
                "tls" if self.once(&mut seen, directive) => pool.tls = self.pool_tls(directive),
                "protocol" if self.once(&mut seen, directive) => {
                    pool.protocol = self.protocol(directive);
                }
                known if POOL.contains(&known) => {}
                _ => self.unknown(directive, "in a pool", &POOL),
            }
        }
        if pool.servers.is_empty() && self.diagnostics.len() == before {
            self.missing("pool", &pool.name, span, "server", "server 127.0.0.1:8080");
        }
        Some(pool)
    }

    /// The block of a directive that takes a block and no arguments.
    pub(super) fn block<'d>(&mut self, directive: &'d Directive, usage: &str) -> Option<&'d Block> {
        match &directive.block {
            Some(block) if directive.args.is_empty() => Some(block),
            _ => {
                self.error(
                    Diagnostic::error(format!("`{}` takes a block", directive.name))
                        .with_label(Label::primary(directive.head_span(), "expected `{ ... }`"))
                        .with_help(format!("write `{usage}`")),
                );
                None
            }
        }
    }

    /// `server ADDR [weight N] [max_conns N] [backup]`
    fn server(&mut self, directive: &Directive) -> Option<Server> {
        let usage = "server 10.0.0.11:8080 weight 2 max_conns 100 backup";
        let (address, options) = match directive.args.split_first() {
            Some((address, options)) if directive.block.is_none() => (address, options),
            _ => {
                self.args(directive, 1, usage);
                return None;
            }
        };
        let address = self.keep(literal::server_address(address))?;
        let ((address, https), span) = (address.value, address.span);
        let mut server = Server {
            address: Spanned::new(address, span),
            https,
            weight: None,
            max_conns: None,
            backup: None,
            span: directive.head_span(),
        };
        let mut options = options.iter();
        let mut ok = true;
        while let Some(option) = options.next() {
            let slot = match option.text.as_str() {
                "backup" if option.is_bare() && server.backup.is_none() => {
                    server.backup = Some(option.span);
                    continue;
                }
                "weight" if option.is_bare() && server.weight.is_none() => &mut server.weight,
                "max_conns" if option.is_bare() && server.max_conns.is_none() => {
                    &mut server.max_conns
                }
                _ => {
                    let known = SERVER_OPTIONS.contains(&option.text.as_str());
                    self.error(
                        Diagnostic::error(if known {
                            format!("`{}` is given twice", option.text)
                        } else {
                            format!("unknown server option `{}`", option.text)
                        })
                        .with_label(Label::primary(option.span, "not expected here"))
                        .with_suggestion(&option.text, "an option", SERVER_OPTIONS)
                        .with_help(format!("write `{usage}`")),
                    );
                    return None;
                }
            };
            let Some(value) = options.next() else {
                self.error(
                    Diagnostic::error(format!("`{}` needs a number", option.text))
                        .with_label(Label::primary(option.span, "no number follows"))
                        .with_help(format!("write `{usage}`")),
                );
                return None;
            };
            let read = self.keep(literal::count(value, 1, 1_000_000));
            ok &= read.is_some();
            *slot = read;
        }
        ok.then_some(server)
    }

    fn balance(&mut self, directive: &Directive) -> Option<Spanned<Balance>> {
        let usage = "balance round_robin";
        if directive.block.is_some() || directive.args.is_empty() {
            self.args(directive, 1, usage);
            return None;
        }
        let span = directive.head_span();
        let strategy = &directive.args[0];
        let balance = match (strategy.text.as_str(), &directive.args[1..]) {
            ("round_robin", []) => Balance::RoundRobin,
            ("least_conn", []) => Balance::LeastConn,
            ("random", []) => Balance::Random,
            ("ewma", []) => Balance::Ewma,
            ("hash", [key]) => Balance::Hash(self.hash_key(key)?),
            ("hash", _) => {
                self.error(
                    Diagnostic::error("`balance hash` takes one key")
                        .with_label(Label::primary(span, "expected one key"))
                        .with_help(format!("the keys are {}", listed(&HASH_KEYS))),
                );
                return None;
            }
            (known, [extra, ..]) if STRATEGIES.contains(&known) => {
                self.error(
                    Diagnostic::error(format!("`{known}` takes no argument"))
                        .with_label(Label::primary(extra.span, "unexpected"))
                        .with_help(format!("write `balance {known}`")),
                );
                return None;
            }
            (other, _) => {
                self.error(
                    Diagnostic::error(format!("unknown balancing strategy `{other}`"))
                        .with_label(Label::primary(strategy.span, "not a strategy"))
                        .with_suggestion(other, "a strategy", STRATEGIES)
                        .with_help(format!("the strategies are {}", listed(&STRATEGIES))),
                );
                return None;
            }
        };
        Some(Spanned::new(balance, span))
    }

    fn hash_key(&mut self, key: &Arg) -> Option<HashKey> {
        let name = |what: &str, argument: &str| -> Result<String, Diagnostic> {
            if literal::is_token(argument) {
                Ok(argument.to_owned())
            } else {
                Err(
                    Diagnostic::error(format!("invalid {what} name `{argument}`"))
                        .with_label(Label::primary(key.span, format!("not a {what} name")))
                        .with_help(format!("a {what} name is a token such as `x-user`")),
                )
            }
        };
        let key = match (&key.kind, key.text.as_str()) {
            (ArgKind::Bare, "client_ip") => Ok(HashKey::ClientIp),
            (ArgKind::Bare, "path") => Ok(HashKey::Path),
            (ArgKind::Call(argument), "header") => {
                name("header", argument).map(|name| HashKey::Header(name.to_ascii_lowercase()))
            }
            (ArgKind::Call(argument), "cookie") => name("cookie", argument).map(HashKey::Cookie),
            _ => Err(
                Diagnostic::error(format!("unknown hash key `{}`", key.text))
                    .with_label(Label::primary(key.span, "not a hash key"))
                    .with_help(format!("the keys are {}", listed(&HASH_KEYS))),
            ),
        };
        key.map_err(|diagnostic| self.error(diagnostic)).ok()
    }

    fn timeouts(&mut self, block: &Block, timeouts: &mut Timeouts) {
        let mut seen = Seen::new();
        for directive in &block.directives {
            let slot = match directive.name.value.as_str() {
                "connect" => &mut timeouts.connect,
                "response" => &mut timeouts.response,
                "idle" => &mut timeouts.idle,
                "tunnel" => &mut timeouts.tunnel,
                _ => {
                    self.unknown(directive, "in `timeouts`", &TIMEOUTS);
                    continue;
                }
            };
            if self.once(&mut seen, directive) {
                *slot = self.duration(directive);
            }
        }
    }

    /// `tls { ca ".."  sni "name"  cert ".."  key ".."  verify off }` (the block may be
    /// empty: TLS with the defaults).
    fn pool_tls(&mut self, directive: &Directive) -> Option<Spanned<PoolTls>> {
        let block = self.block(directive, "tls { ca \"ca.pem\" }")?;
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let mut tls = PoolTls::default();
        let (mut cert, mut key) = (None, None);
        for inner in &block.directives {
            match inner.name.value.as_str() {
                "ca" if self.once(&mut seen, inner) => tls.ca = self.file(inner),
                "cert" if self.once(&mut seen, inner) => cert = self.file(inner),
                "key" if self.once(&mut seen, inner) => key = self.file(inner),
                "sni" if self.once(&mut seen, inner) => {
                    if let Some([name]) = self.args(inner, 1, "sni \"api.internal\"") {
                        tls.sni = self.keep(literal::server_name(name));
                    }
                }
                "verify" if self.once(&mut seen, inner) => {
                    if let Some([word]) = self.args(inner, 1, "verify off") {
                        tls.verify = self.on_off(word, "verify off");
                    }
                }
                known if POOL_TLS.contains(&known) => {}
                _ => self.unknown(inner, "in a pool's `tls`", &POOL_TLS),
            }
        }
        match (cert, key) {
            (Some(cert), Some(key)) => tls.client_cert = Some((cert, key)),
            (None, None) => {}
            (cert, _) => self.pair_missing(directive.head_span(), cert.is_some()),
        }
        (self.diagnostics.len() == before).then(|| Spanned::new(tls, directive.head_span()))
    }

    /// `on` or `off`; `example` shows the directive written right.
    pub(super) fn on_off(&mut self, word: &Arg, example: &str) -> Option<Spanned<bool>> {
        match word.text.as_str() {
            "on" if word.is_bare() => Some(Spanned::new(true, word.span)),
            "off" if word.is_bare() => Some(Spanned::new(false, word.span)),
            _ => {
                self.error(
                    Diagnostic::error(format!("expected `on` or `off`, not `{}`", word.text))
                        .with_label(Label::primary(word.span, "not `on` or `off`"))
                        .with_help(format!("write `{example}`")),
                );
                None
            }
        }
    }

    pub(super) fn duration(
        &mut self,
        directive: &Directive,
    ) -> Option<Spanned<std::time::Duration>> {
        let usage = format!("{} 5s", directive.name);
        let [duration] = self.args(directive, 1, &usage)? else {
            unreachable!("args checked the count")
        };
        self.keep(literal::duration(duration))
    }

    pub(super) fn count(
        &mut self,
        directive: &Directive,
        min: u32,
        max: u32,
    ) -> Option<Spanned<u32>> {
        let usage = format!("{} {min}", directive.name);
        let [count] = self.args(directive, 1, &usage)? else {
            unreachable!("args checked the count")
        };
        self.keep(literal::count(count, min, max))
    }

    /// `health http { ... }` or `health tcp { ... }` (the block may be left out for defaults).
    fn health(&mut self, directive: &Directive) -> Option<Spanned<Health>> {
        let usage = "health http { path \"/healthz\" }` or `health tcp";
        let (check, known): (HealthCheck, &[&str]) = match directive.args.as_slice() {
            [kind] if kind.is_bare() && kind.text == "http" => (
                HealthCheck::Http {
                    path: None,
                    expect: None,
                },
                &HEALTH_HTTP,
            ),
            [kind] if kind.is_bare() && kind.text == "tcp" => (HealthCheck::Tcp, &HEALTH_TCP),
            _ => {
                self.error(
                    Diagnostic::error("`health` takes `http` or `tcp`")
                        .with_label(Label::primary(
                            directive.head_span(),
                            "expected `http` or `tcp`",
                        ))
                        .with_help(format!("write `{usage}`")),
                );
                return None;
            }
        };
        let mut health = Health {
            check,
            interval: None,
            timeout: None,
            rise: None,
            fall: None,
        };
        let before = self.diagnostics.len();
        let mut seen = Seen::new();
        let directives = directive.block.as_ref().map_or(&[][..], |b| &b.directives);
        for inner in directives {
            let name = inner.name.value.as_str();
            if !known.contains(&name) {
                self.unknown(
                    inner,
                    &format!("in `health {}`", directive.args[0].text),
                    known,
                );
                continue;
            }
            if !self.once(&mut seen, inner) {
                continue;
            }
            match (name, &mut health.check) {
                ("interval", _) => health.interval = self.duration(inner),
                ("timeout", _) => health.timeout = self.duration(inner),
                ("rise", _) => health.rise = self.count(inner, 1, 1000),
                ("fall", _) => health.fall = self.count(inner, 1, 1000),
                ("path", HealthCheck::Http { path, .. }) => {
                    *path = self.health_path(inner);
                }
                ("expect", HealthCheck::Http { expect, .. }) => {
                    if let Some([range]) = self.args(inner, 1, "expect 200..299") {
                        *expect = self.keep(literal::status_range(range));
                    }
                }
                _ => unreachable!("the known directives are matched above"),
            }
        }
        (self.diagnostics.len() == before).then(|| Spanned::new(health, directive.head_span()))
    }

    fn health_path(&mut self, directive: &Directive) -> Option<Spanned<String>> {
        let [path] = self.args(directive, 1, "path \"/healthz\"")? else {
            unreachable!("args checked the count")
        };
        let valid = path.text.starts_with('/') && path.text.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            self.error(
                Diagnostic::error(format!("invalid health check path `{}`", path.text))
                    .with_label(Label::primary(path.span, "not a request path"))
                    .with_help(
                        "a health check path starts with `/` and holds no spaces, as in `/healthz`",
                    ),
            );
            return None;
        }
        Some(Spanned::new(path.text.clone(), path.span))
    }

    fn passive(&mut self, block: &Block) -> Passive {
        let mut passive = Passive::default();
        let mut seen = Seen::new();
        for directive in &block.directives {
            if !PASSIVE.contains(&directive.name.value.as_str()) {
                self.unknown(directive, "in `passive`", &PASSIVE);
                continue;
            }
            if !self.once(&mut seen, directive) {
                continue;
            }
            match directive.name.value.as_str() {
                "max_fails" => passive.max_fails = self.count(directive, 1, 1000),
                "fail_timeout" => passive.fail_timeout = self.duration(directive),
                _ => passive.consecutive_5xx = self.count(directive, 1, 1000),
            }
        }
        passive
    }

    /// `send_proxy v1` or `send_proxy v2`
    fn send_proxy(&mut self, directive: &Directive) -> Option<Spanned<ProxyVersion>> {
        let [version] = self.args(directive, 1, "send_proxy v2")? else {
            unreachable!("args checked the count")
        };
        let value = match version.text.as_str() {
            "v1" if version.is_bare() => ProxyVersion::V1,
            "v2" if version.is_bare() => ProxyVersion::V2,
            _ => {
                self.error(
                    Diagnostic::error(format!("unknown PROXY protocol version `{}`", version.text))
                        .with_label(Label::primary(version.span, "not a version"))
                        .with_help("write `send_proxy v1` (text) or `send_proxy v2` (binary)"),
                );
                return None;
            }
        };
        Some(Spanned::new(value, directive.head_span()))
    }

    /// `protocol h2` or `protocol http1`
    fn protocol(&mut self, directive: &Directive) -> Option<Spanned<UpstreamProtocol>> {
        let [version] = self.args(directive, 1, "protocol h2")? else {
            unreachable!("args checked the count")
        };
        let value = match version.text.as_str() {
            "h2" if version.is_bare() => UpstreamProtocol::Http2,
            "http1" if version.is_bare() => UpstreamProtocol::Http1,
            _ => {
                self.error(
                    Diagnostic::error(format!("unknown protocol `{}`", version.text))
                        .with_label(Label::primary(version.span, "not a protocol"))
                        .with_help("write `protocol h2` (HTTP/2, as gRPC servers speak) or `protocol http1` (HTTP/1.1, the default)"),
                );
                return None;
            }
        };
        Some(Spanned::new(value, directive.head_span()))
    }

    /// `retry N [on connect_error timeout 5xx]`
    fn retry(&mut self, directive: &Directive) -> Option<Spanned<Retry>> {
        let usage = "retry 2 on connect_error timeout";
        let (attempts, rest) = match directive.args.split_first() {
            Some(split) if directive.block.is_none() => split,
            _ => {
                self.args(directive, 1, usage);
                return None;
            }
        };
        let attempts = self.keep(literal::count(attempts, 1, 10));
        let mut on = Vec::new();
        match rest.split_first() {
            None => {}
            Some((word, conditions))
                if word.is_bare() && word.text == "on" && !conditions.is_empty() =>
            {
                for condition in conditions {
                    let value = match condition.text.as_str() {
                        "connect_error" => RetryOn::ConnectError,
                        "timeout" => RetryOn::Timeout,
                        "5xx" => RetryOn::Status5xx,
                        other => {
                            self.error(
                                Diagnostic::error(format!("unknown retry condition `{other}`"))
                                    .with_label(Label::primary(condition.span, "not a condition"))
                                    .with_suggestion(other, "a condition", RETRY_ON)
                                    .with_help(format!("the conditions are {}", listed(&RETRY_ON))),
                            );
                            continue;
                        }
                    };
                    on.push(Spanned::new(value, condition.span));
                }
            }
            Some((word, _)) => {
                self.error(
                    Diagnostic::error("expected `on` and retry conditions")
                        .with_label(Label::primary(word.span, "expected `on`"))
                        .with_help(format!("write `{usage}`")),
                );
                return None;
            }
        }
        Some(Spanned::new(
            Retry {
                attempts: attempts?,
                on,
            },
            directive.head_span(),
        ))
    }
}
