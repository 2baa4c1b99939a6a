//! Lowering of `pool` blocks: servers and their options, the balancing strategy, timeouts,
//! active and passive health checks, retries, TLS towards the servers, and the circuit
//! breakers and outlier detection.

use crate::ast::{
    Balance, HashKey, Health, HealthCheck, Outlier, Passive, Pool, PoolTls, ProxyVersion, Retry,
    RetryOn, Server, Sticky, Timeouts, UpstreamProtocol,
};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::Spanned;
use crate::syntax::{Arg, ArgKind, Directive};

use super::table::Args::{Block, Exactly, Own};
use super::table::{add, set, unread, Given, Rule, Table};
use super::values::listed;
use super::Lowering;

pub(super) const POOL: Table = Table {
    place: "in a pool",
    rules: &[
        Rule::once("balance", Own, "balance round_robin")
            .doc("How a server is picked: `round_robin`, `least_conn`, `random`, `ewma`, or `hash` with `client_ip`, `header(\"NAME\")`, `cookie(\"NAME\")` or `path`.")
            .by_default("round_robin"),
        Rule::many(
            "server",
            Own,
            "server 10.0.0.11:8080 weight 2 max_conns 100 backup",
        )
        .required("server 127.0.0.1:8080")
        .doc("One upstream server (a DNS name stands for all its addresses; `https://` speaks TLS), with an optional `weight`, `max_conns` cap and `backup` flag.")
        .by_default("weight 1, no cap, primary"),
        Rule::many(
            "dns_srv",
            Exactly(1),
            "dns_srv \"_http._tcp.users.internal\"",
        )
        .instead_of("server")
        .doc("Servers from the SRV records of this name, resolved again as their TTL runs out."),
        Rule::once(
            "timeouts",
            Block,
            "timeouts { connect 5s  response 60s  idle 60s  tunnel 1h }",
        )
        .doc("How long to connect, to wait for a response head, to keep an idle upstream connection and a silent WebSocket.")
        .by_default("connect 5s, response 60s, idle 60s, tunnel 1h")
        .opens(&TIMEOUTS),
        Rule::once(
            "health",
            Own,
            "health http { path \"/healthz\" }` or `health tcp",
        )
        .doc("Active health checks in the background: `http` requests a path, `tcp` only connects.")
        .by_default("none")
        .opens_kinds(&[("http", &HEALTH_HTTP), ("tcp", &HEALTH_TCP)]),
        Rule::once(
            "passive",
            Block,
            "passive { max_fails 3  fail_timeout 30s }",
        )
        .doc("Passive health: failed requests take a server out for a while.")
        .by_default("none")
        .opens(&PASSIVE),
        Rule::once("retry", Own, "retry 2 on connect_error timeout")
            .doc("Retry a failed request on other servers, this many times, on `connect_error`, `timeout` and `5xx`.")
            .by_default("no retries; `on connect_error timeout`"),
        Rule::once("send_proxy", Exactly(1), "send_proxy v2")
            .doc("(tcp routes) Start each tunnel with a PROXY protocol header, `v1` or `v2`, carrying the client's address.")
            .by_default("none"),
        Rule::once("tls", Block, "tls { ca \"ca.pem\" }")
            .doc("Every server speaks TLS, with these settings.")
            .by_default("cleartext, unless servers are written `https://`")
            .opens(&POOL_TLS),
        Rule::once("protocol", Exactly(1), "protocol h2")
            .doc("The HTTP version spoken to the servers: `http1` or `h2` (for gRPC).")
            .by_default("http1"),
        Rule::once("max_pending", Exactly(1), "max_pending 100")
            .doc("Requests that may wait for a place when every usable server is at its `max_conns`, each for at most the connect timeout; the next ones get `503` at once.")
            .by_default("none wait"),
        Rule::once("max_requests", Exactly(1), "max_requests 1000")
            .doc("Requests in flight to the whole pool at once (retries included); the next ones get `503` at once.")
            .by_default("no cap"),
        Rule::once("sticky", Own, "sticky cookie \"srv\" { ttl 1h  secure  httponly }")
            .doc("Keep each client on the server that first answered it, through a cookie the proxy sets (the server's opaque id); a client whose server is unusable moves, and gets a new cookie.")
            .by_default("none")
            .opens(&STICKY),
        Rule::once("outlier", Block, "outlier { success_rate 20  latency 3 }")
            .doc("Outlier detection: servers whose success rate or latency stands out from the others' are ejected for a while.")
            .by_default("none")
            .opens(&OUTLIER),
    ],
};
const STICKY: Table = Table {
    place: "in `sticky`",
    rules: &[
        Rule::once("ttl", Exactly(1), "ttl 1h")
            .doc("How long the browser keeps the cookie (`Max-Age`).")
            .by_default("until the browser closes"),
        Rule::once("path", Exactly(1), "path \"/\"")
            .doc("The cookie's `Path`.")
            .by_default("\"/\""),
        Rule::once("secure", Exactly(0), "secure")
            .doc("The cookie is sent over HTTPS only (`Secure`).")
            .by_default("off"),
        Rule::once("httponly", Exactly(0), "httponly")
            .doc("Scripts cannot read the cookie (`HttpOnly`).")
            .by_default("off"),
    ],
};
const OUTLIER: Table = Table {
    place: "in `outlier`",
    rules: &[
        Rule::once("success_rate", Exactly(1), "success_rate 20")
            .doc("Eject a server whose success rate is more than this many percentage points below the median of the others'.")
            .by_default("not compared"),
        Rule::once("latency", Exactly(1), "latency 3")
            .doc("Eject a server whose mean latency is more than this many times the median of the others' (at least 1 ms).")
            .by_default("not compared"),
        Rule::once("interval", Exactly(1), "interval 10s")
            .doc("How often servers are compared, over the requests of the interval.")
            .by_default("10s"),
        Rule::once("min_requests", Exactly(1), "min_requests 100")
            .doc("Requests a server needs within an interval to be compared, or compared with.")
            .by_default("100"),
        Rule::once("base_ejection_time", Exactly(1), "base_ejection_time 30s")
            .doc("How long an ejected server stays out, times the number of times it was ejected.")
            .by_default("30s"),
        Rule::once("max_ejection_time", Exactly(1), "max_ejection_time 5m")
            .doc("The longest an ejected server stays out.")
            .by_default("5m"),
        Rule::once("max_ejection_percent", Exactly(1), "max_ejection_percent 10")
            .doc("The most servers ejected at once, as a percentage of the pool's (one may always be).")
            .by_default("10"),
    ],
};
const TIMEOUTS: Table = Table {
    place: "in `timeouts`",
    rules: &[
        Rule::once("connect", Exactly(1), "connect 5s")
            .doc("The longest a connection to a server may take, TLS handshake included; then `504`.")
            .by_default("5s"),
        Rule::once("response", Exactly(1), "response 5s")
            .doc("The longest wait for a server's response head; then `504`.")
            .by_default("60s"),
        Rule::once("idle", Exactly(1), "idle 5s")
            .doc("How long an idle upstream connection is kept for reuse.")
            .by_default("60s"),
        Rule::once("tunnel", Exactly(1), "tunnel 5s")
            .doc("How long a WebSocket (an upgraded connection) may stay silent before it is closed.")
            .by_default("1h"),
    ],
};
const POOL_TLS: Table = Table {
    place: "in a pool's `tls`",
    rules: &[
        Rule::once("ca", Exactly(1), "ca \"path/to/file.pem\"")
            .doc("Verify servers against this PEM CA bundle instead of the built-in roots.")
            .by_default("Mozilla's roots, built into the proxy"),
        Rule::once("sni", Exactly(1), "sni \"api.internal\"")
            .doc("The name sent by SNI and verified in every server's certificate.")
            .by_default("each server's own name"),
        Rule::once("cert", Exactly(1), "cert \"path/to/file.pem\"")
            .doc("A client certificate chain presented to servers that ask for one (mTLS); given with `key`.")
            .by_default("none"),
        Rule::once("key", Exactly(1), "key \"path/to/file.pem\"")
            .doc("The client certificate's private key; given with `cert`.")
            .by_default("none"),
        Rule::once("verify", Exactly(1), "verify off")
            .doc("`off` accepts any server certificate, unverified (a warning).")
            .by_default("on"),
    ],
};
const HEALTH_HTTP: Table = Table {
    place: "in `health http`",
    rules: &[
        Rule::once("path", Exactly(1), "path \"/healthz\"")
            .doc("The path the check requests with `GET`.")
            .by_default("\"/\""),
        Rule::once("expect", Exactly(1), "expect 200..299")
            .doc("The statuses that count as healthy: one status or an inclusive range.")
            .by_default("200..399"),
        INTERVAL,
        TIMEOUT,
        RISE,
        FALL,
    ],
};
const HEALTH_TCP: Table = Table {
    place: "in `health tcp`",
    rules: &[INTERVAL, TIMEOUT, RISE, FALL],
};
const INTERVAL: Rule = Rule::once("interval", Exactly(1), "interval 5s")
    .doc("The time between checks, jittered by 10 %.")
    .by_default("5s");
const TIMEOUT: Rule = Rule::once("timeout", Exactly(1), "timeout 5s")
    .doc("The time a check may take.")
    .by_default("1s");
const RISE: Rule = Rule::once("rise", Exactly(1), "rise 1")
    .doc("Consecutive successes that mark a server up.")
    .by_default("2");
const FALL: Rule = Rule::once("fall", Exactly(1), "fall 1")
    .doc("Consecutive failures that mark a server down.")
    .by_default("3");
const PASSIVE: Table = Table {
    place: "in `passive`",
    rules: &[
        Rule::once("max_fails", Exactly(1), "max_fails 1")
            .doc("Failed attempts (connect error or timeout) within `fail_timeout` that take a server out.")
            .by_default("1"),
        Rule::once("fail_timeout", Exactly(1), "fail_timeout 5s")
            .doc("The window failures are counted in, and how long a failing server stays out.")
            .by_default("10s"),
        Rule::once("consecutive_5xx", Exactly(1), "consecutive_5xx 1")
            .doc("`5xx` answers in a row that take a server out.")
            .by_default("off"),
    ],
};
const SERVER_OPTIONS: [&str; 3] = ["weight", "max_conns", "backup"];
const STRATEGIES: [&str; 5] = ["round_robin", "least_conn", "random", "ewma", "hash"];
const HASH_KEYS: [&str; 4] = ["client_ip", "header(\"NAME\")", "cookie(\"NAME\")", "path"];
const RETRY_ON: [&str; 3] = ["connect_error", "timeout", "5xx"];

impl Lowering {
    pub(super) fn pool(&mut self, item: Given<'_>) -> Option<Pool> {
        let (name, span, directives) = self.item(item)?;
        let before = self.diagnostics.len();
        let mut pool = Pool {
            balance: None,
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
            max_pending: None,
            max_requests: None,
            outlier: None,
            sticky: None,
        };
        let taken = self.directives(&POOL, directives, |lower, given| {
            let p = &mut pool;
            match given.name() {
                "server" => add(&mut p.servers, lower.server(given)),
                "dns_srv" => add(
                    &mut p.servers,
                    lower
                        .keep(literal::srv_name(given.arg()))
                        .map(|address| Server {
                            address,
                            https: false,
                            weight: None,
                            max_conns: None,
                            backup: None,
                            span: given.head(),
                        }),
                ),
                "balance" => set(&mut p.balance, lower.balance(given)),
                "timeouts" => {
                    lower.timeouts(given.inner, &mut p.timeouts);
                    true
                }
                "health" => set(&mut p.health, lower.health(given)),
                "passive" => {
                    let passive = lower.passive(given.inner);
                    set(&mut p.passive, Some(Spanned::new(passive, given.head())))
                }
                "retry" => set(&mut p.retry, lower.retry(given)),
                "send_proxy" => set(&mut p.send_proxy, lower.send_proxy(given)),
                "tls" => set(&mut p.tls, lower.pool_tls(given)),
                "protocol" => set(&mut p.protocol, lower.protocol(given)),
                "max_pending" => set(
                    &mut p.max_pending,
                    lower.keep(literal::count(given.arg(), 1, 1_000_000)),
                ),
                "max_requests" => set(
                    &mut p.max_requests,
                    lower.keep(literal::count(given.arg(), 1, 1_000_000)),
                ),
                "outlier" => set(&mut p.outlier, lower.outlier(given)),
                "sticky" => set(&mut p.sticky, lower.sticky(given)),
                name => unread(name),
            }
        });
        if self.diagnostics.len() == before {
            self.require(&POOL, &taken, "pool", &pool.name, span);
        }
        Some(pool)
    }

    /// `sticky cookie "NAME" [{ ttl D  path "/"  secure  httponly }]`
    fn sticky(&mut self, given: Given<'_>) -> Option<Spanned<Sticky>> {
        let cookie = match given.args {
            [kind, name] if kind.is_bare() && kind.text == "cookie" => {
                self.keep(literal::cookie_name(name))
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        "`sticky` takes `cookie` and a cookie name",
                    )
                    .with_label(Label::primary(
                        given.head(),
                        "expected `sticky cookie \"NAME\"`",
                    ))
                    .with_help(format!("write `{}`", given.usage)),
                );
                return None;
            }
        };
        let mut sticky = Sticky {
            cookie: cookie?,
            ttl: None,
            path: None,
            secure: false,
            http_only: false,
        };
        self.directives(&STICKY, given.inner, |lower, given| match given.name() {
            "ttl" => set(&mut sticky.ttl, lower.keep(literal::duration(given.arg()))),
            "path" => set(
                &mut sticky.path,
                lower.keep(literal::cookie_path(given.arg())),
            ),
            "secure" => {
                sticky.secure = true;
                true
            }
            "httponly" => {
                sticky.http_only = true;
                true
            }
            name => unread(name),
        });
        Some(Spanned::new(sticky, given.head()))
    }

    /// `server ADDR [weight N] [max_conns N] [backup]`
    fn server(&mut self, given: Given<'_>) -> Option<Server> {
        let (directive, usage) = (given.directive, given.usage);
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
                _ if self.quoted_word(option, &SERVER_OPTIONS) => return None,
                _ => {
                    let diagnostic = if SERVER_OPTIONS.contains(&option.text.as_str()) {
                        Diagnostic::error(
                            "duplicate-item",
                            format!("`{}` is given twice", option.text),
                        )
                    } else {
                        Diagnostic::error(
                            "unknown-choice",
                            format!("unknown server option `{}`", option.text),
                        )
                    };
                    self.error(
                        diagnostic
                            .with_label(Label::primary(option.span, "not expected here"))
                            .with_suggestion(&option.text, "an option", SERVER_OPTIONS)
                            .with_help(format!("write `{usage}`")),
                    );
                    return None;
                }
            };
            let Some(value) = options.next() else {
                self.error(
                    Diagnostic::error(
                        "wrong-arguments",
                        format!("`{}` needs a number", option.text),
                    )
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

    fn balance(&mut self, given: Given<'_>) -> Option<Spanned<Balance>> {
        let (directive, usage) = (given.directive, given.usage);
        if directive.block.is_some() || directive.args.is_empty() {
            self.args(directive, 1, usage);
            return None;
        }
        let span = directive.head_span();
        let strategy = &directive.args[0];
        if self.quoted_word(strategy, &STRATEGIES) {
            return None;
        }
        let balance = match (strategy.text.as_str(), &directive.args[1..]) {
            ("round_robin", []) => Balance::RoundRobin,
            ("least_conn", []) => Balance::LeastConn,
            ("random", []) => Balance::Random,
            ("ewma", []) => Balance::Ewma,
            ("hash", [key]) => Balance::Hash(self.hash_key(key)?),
            ("hash", _) => {
                self.error(
                    Diagnostic::error("wrong-arguments", "`balance hash` takes one key")
                        .with_label(Label::primary(span, "expected one key"))
                        .with_help(format!("the keys are {}", listed(&HASH_KEYS))),
                );
                return None;
            }
            (known, [extra, ..]) if STRATEGIES.contains(&known) => {
                self.error(
                    Diagnostic::error("wrong-arguments", format!("`{known}` takes no argument"))
                        .with_label(Label::primary(extra.span, "unexpected"))
                        .with_help(format!("write `balance {known}`")),
                );
                return None;
            }
            (other, _) => {
                self.error(
                    Diagnostic::error(
                        "unknown-choice",
                        format!("unknown balancing strategy `{other}`"),
                    )
                    .with_label(Label::primary(strategy.span, "not a strategy"))
                    .with_suggestion(other, "a strategy", STRATEGIES)
                    .with_help(format!("the strategies are {}", listed(&STRATEGIES))),
                );
                return None;
            }
        };
        Some(Spanned::new(balance, span))
    }

    /// `client_ip`, `path`, `header("NAME")` or `cookie("NAME")`: what a hash (or a split) keys on.
    pub(super) fn hash_key(&mut self, key: &Arg) -> Option<HashKey> {
        let name = |what: &str, argument: &str| -> Result<String, Diagnostic> {
            if literal::is_token(argument) {
                Ok(argument.to_owned())
            } else {
                Err(Diagnostic::error(
                    "invalid-literal",
                    format!("invalid {what} name `{argument}`"),
                )
                .with_label(Label::primary(key.span, format!("not a {what} name")))
                .with_help(format!("a {what} name is a token such as `x-user`")))
            }
        };
        if self.quoted_word(key, &["client_ip", "path"]) {
            return None;
        }
        let key = match (&key.kind, key.text.as_str()) {
            (ArgKind::Bare, "client_ip") => Ok(HashKey::ClientIp),
            (ArgKind::Bare, "path") => Ok(HashKey::Path),
            (ArgKind::Call(argument), "header") => {
                name("header", argument).map(|name| HashKey::Header(name.to_ascii_lowercase()))
            }
            (ArgKind::Call(argument), "cookie") => name("cookie", argument).map(HashKey::Cookie),
            _ => Err(Diagnostic::error(
                "unknown-choice",
                format!("unknown hash key `{}`", key.text),
            )
            .with_label(Label::primary(key.span, "not a hash key"))
            .with_help(format!("the keys are {}", listed(&HASH_KEYS)))),
        };
        key.map_err(|diagnostic| self.error(diagnostic)).ok()
    }

    fn timeouts(&mut self, directives: &[Directive], timeouts: &mut Timeouts) {
        self.directives(&TIMEOUTS, directives, |lower, given| {
            let slot = match given.name() {
                "connect" => &mut timeouts.connect,
                "response" => &mut timeouts.response,
                "idle" => &mut timeouts.idle,
                "tunnel" => &mut timeouts.tunnel,
                name => unread(name),
            };
            set(slot, lower.keep(literal::duration(given.arg())))
        });
    }

    /// `tls { ca ".."  sni "name"  cert ".."  key ".."  verify off }` (the block may be
    /// empty: TLS with the defaults).
    fn pool_tls(&mut self, given: Given<'_>) -> Option<Spanned<PoolTls>> {
        let before = self.diagnostics.len();
        let mut tls = PoolTls::default();
        let (mut cert, mut key) = (None, None);
        self.directives(&POOL_TLS, given.inner, |lower, inner| {
            let arg = inner.arg();
            match inner.name() {
                "ca" => set(&mut tls.ca, lower.file(arg, inner.usage)),
                "cert" => set(&mut cert, lower.file(arg, inner.usage)),
                "key" => set(&mut key, lower.file(arg, inner.usage)),
                "sni" => set(&mut tls.sni, lower.keep(literal::server_name(arg))),
                "verify" => set(&mut tls.verify, lower.on_off(arg, inner.usage)),
                name => unread(name),
            }
        });
        match (cert, key) {
            (Some(cert), Some(key)) => tls.client_cert = Some((cert, key)),
            (None, None) => {}
            (cert, _) => self.pair_missing(given.head(), cert.is_some()),
        }
        (self.diagnostics.len() == before).then(|| Spanned::new(tls, given.head()))
    }

    /// `health http { ... }` or `health tcp { ... }` (the block may be left out for defaults).
    fn health(&mut self, given: Given<'_>) -> Option<Spanned<Health>> {
        let (check, table) = match given.args {
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
                    Diagnostic::error("wrong-arguments", "`health` takes `http` or `tcp`")
                        .with_label(Label::primary(given.head(), "expected `http` or `tcp`"))
                        .with_help(format!("write `{}`", given.usage)),
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
        self.directives(table, given.inner, |lower, inner| {
            let arg = inner.arg();
            match (inner.name(), &mut health.check) {
                ("interval", _) => set(&mut health.interval, lower.keep(literal::duration(arg))),
                ("timeout", _) => set(&mut health.timeout, lower.keep(literal::duration(arg))),
                ("rise", _) => set(&mut health.rise, lower.keep(literal::count(arg, 1, 1000))),
                ("fall", _) => set(&mut health.fall, lower.keep(literal::count(arg, 1, 1000))),
                ("path", HealthCheck::Http { path, .. }) => set(path, lower.health_path(arg)),
                ("expect", HealthCheck::Http { expect, .. }) => {
                    set(expect, lower.keep(literal::status_range(arg)))
                }
                (name, _) => unread(name),
            }
        });
        (self.diagnostics.len() == before).then(|| Spanned::new(health, given.head()))
    }

    fn health_path(&mut self, path: &Arg) -> Option<Spanned<String>> {
        let valid = path.text.starts_with('/') && path.text.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            self.error(
                Diagnostic::error(
                    "invalid-literal",
                    format!("invalid health check path `{}`", path.text),
                )
                .with_label(Label::primary(path.span, "not a request path"))
                .with_help(
                    "a health check path starts with `/` and holds no spaces, as in `/healthz`",
                ),
            );
            return None;
        }
        Some(Spanned::new(path.text.clone(), path.span))
    }

    fn passive(&mut self, directives: &[Directive]) -> Passive {
        let mut passive = Passive::default();
        self.directives(&PASSIVE, directives, |lower, given| {
            let arg = given.arg();
            match given.name() {
                "max_fails" => set(
                    &mut passive.max_fails,
                    lower.keep(literal::count(arg, 1, 1000)),
                ),
                "fail_timeout" => set(
                    &mut passive.fail_timeout,
                    lower.keep(literal::duration(arg)),
                ),
                "consecutive_5xx" => set(
                    &mut passive.consecutive_5xx,
                    lower.keep(literal::count(arg, 1, 1000)),
                ),
                name => unread(name),
            }
        });
        passive
    }

    /// `outlier { ... }`, with at least one of `success_rate` and `latency`.
    fn outlier(&mut self, given: Given<'_>) -> Option<Spanned<Outlier>> {
        let before = self.diagnostics.len();
        let mut outlier = Outlier::default();
        self.directives(&OUTLIER, given.inner, |lower, inner| {
            let arg = inner.arg();
            let duration = |lower: &mut Lowering| lower.keep(literal::duration(arg));
            match inner.name() {
                "success_rate" => set(
                    &mut outlier.success_rate,
                    lower.keep(literal::count(arg, 1, 100)),
                ),
                "latency" => set(
                    &mut outlier.latency,
                    lower.keep(literal::count(arg, 2, 1000)),
                ),
                "interval" => set(&mut outlier.interval, duration(lower)),
                "min_requests" => set(
                    &mut outlier.min_requests,
                    lower.keep(literal::count(arg, 1, 1_000_000)),
                ),
                "base_ejection_time" => set(&mut outlier.base_ejection_time, duration(lower)),
                "max_ejection_time" => set(&mut outlier.max_ejection_time, duration(lower)),
                "max_ejection_percent" => set(
                    &mut outlier.max_ejection_percent,
                    lower.keep(literal::count(arg, 1, 100)),
                ),
                name => unread(name),
            }
        });
        if self.diagnostics.len() != before {
            return None;
        }
        if outlier.success_rate.is_none() && outlier.latency.is_none() {
            self.error(
                Diagnostic::error(
                    "missing-directive",
                    "`outlier` compares nothing without `success_rate` or `latency`",
                )
                .with_label(Label::primary(given.head(), "no comparison"))
                .with_help("write `success_rate 20` (percentage points below the others), `latency 3` (times the others'), or both"),
            );
            return None;
        }
        Some(Spanned::new(outlier, given.head()))
    }

    /// `send_proxy v1` or `send_proxy v2`
    fn send_proxy(&mut self, given: Given<'_>) -> Option<Spanned<ProxyVersion>> {
        let version = given.arg();
        let value = match version.text.as_str() {
            "v1" if version.is_bare() => ProxyVersion::V1,
            "v2" if version.is_bare() => ProxyVersion::V2,
            _ if self.quoted_word(version, &["v1", "v2"]) => return None,
            _ => {
                self.error(
                    Diagnostic::error(
                        "unknown-choice",
                        format!("unknown PROXY protocol version `{}`", version.text),
                    )
                    .with_label(Label::primary(version.span, "not a version"))
                    .with_help("write `send_proxy v1` (text) or `send_proxy v2` (binary)"),
                );
                return None;
            }
        };
        Some(Spanned::new(value, given.head()))
    }

    /// `protocol h2` or `protocol http1`
    fn protocol(&mut self, given: Given<'_>) -> Option<Spanned<UpstreamProtocol>> {
        let version = given.arg();
        let value = match version.text.as_str() {
            "h2" if version.is_bare() => UpstreamProtocol::Http2,
            "http1" if version.is_bare() => UpstreamProtocol::Http1,
            _ if self.quoted_word(version, &["h2", "http1"]) => return None,
            _ => {
                self.error(
                    Diagnostic::error("unknown-choice", format!("unknown protocol `{}`", version.text))
                        .with_label(Label::primary(version.span, "not a protocol"))
                        .with_help("write `protocol h2` (HTTP/2, as gRPC servers speak) or `protocol http1` (HTTP/1.1, the default)"),
                );
                return None;
            }
        };
        Some(Spanned::new(value, given.head()))
    }

    /// `retry N [on connect_error timeout 5xx]`
    fn retry(&mut self, given: Given<'_>) -> Option<Spanned<Retry>> {
        let (directive, usage) = (given.directive, given.usage);
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
                                Diagnostic::error(
                                    "unknown-choice",
                                    format!("unknown retry condition `{other}`"),
                                )
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
                    Diagnostic::error("wrong-arguments", "expected `on` and retry conditions")
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
