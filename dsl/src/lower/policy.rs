//! Lowering of `policy NAME = KIND { ... }` items: each kind's directives, typed.

use crate::ast::{
    AccessRule, ApiKey, BasicAuth, Cache, CacheKey, Coding, Compress, Cors, HeaderEdits, Headers,
    Hsts, Jwt, JwtAlgorithm, JwtKeys, KeySource, LimitAlgorithm, LimitKey, Policy, PolicyKind,
    RateLimit, Rewrite, SecurityHeaders, Setting, Validate,
};
use crate::diagnostic::{Diagnostic, Label};
use crate::literal;
use crate::span::{Ident, Span, Spanned};
use crate::syntax::{Arg, ArgKind, Block, Directive};

use super::pool::listed;
use super::{is_identifier, Lowering, Seen};

const JWT: [&str; 8] = [
    "jwks",
    "public_key",
    "algorithms",
    "issuer",
    "audience",
    "leeway",
    "require",
    "forward_claim",
];
const API_KEY: [&str; 4] = ["keys", "header", "query", "consumer_header"];
const BASIC_AUTH: [&str; 3] = ["htpasswd", "realm", "consumer_header"];
const RATE_LIMIT: [&str; 6] = [
    "key",
    "rate",
    "burst",
    "algorithm",
    "max_keys",
    "ipv6_prefix",
];
const LIMIT_KEYS: [&str; 5] = [
    "client_ip",
    "header(\"NAME\")",
    "claim(\"NAME\")",
    "consumer",
    "route",
];
const VALIDATE: [&str; 5] = [
    "methods",
    "required_headers",
    "content_type",
    "max_body",
    "json_schema",
];
const CORS: [&str; 6] = [
    "origins",
    "methods",
    "headers",
    "expose",
    "credentials",
    "max_age",
];
const HEADERS: [&str; 2] = ["request", "response"];
const HEADER_EDITS: [&str; 3] = ["set", "add", "remove"];
const REWRITE: [&str; 3] = ["strip_prefix", "replace_prefix", "regex"];
const ACCESS: [&str; 2] = ["allow", "deny"];
const COMPRESS: [&str; 3] = ["algorithms", "min_size", "types"];
const CACHE: [&str; 7] = [
    "max_size",
    "max_object",
    "key",
    "default_ttl",
    "stale_while_revalidate",
    "stale_if_error",
    "cache_authorized",
];
const CACHE_KEY_PARTS: [&str; 4] = ["host", "path", "query", "header(\"NAME\")"];
const SECURITY_HEADERS: [&str; 6] = [
    "hsts",
    "frame_options",
    "content_type_options",
    "referrer_policy",
    "permissions_policy",
    "csp",
];

impl Lowering {
    /// `policy NAME = KIND { ... }`
    pub(super) fn policy(&mut self, item: &Directive) -> Option<Policy> {
        let usage = "write `policy NAME = KIND { ... }`, such as `policy auth = jwt { ... }`";
        let (name, kind) = match item.args.as_slice() {
            [name, eq, kind]
                if name.is_bare()
                    && is_identifier(&name.text)
                    && eq.is_bare()
                    && eq.text == "="
                    && kind.is_bare() =>
            {
                (Ident::new(name.text.clone(), name.span), kind)
            }
            _ => {
                self.error(
                    Diagnostic::error("a policy is written `policy NAME = KIND { ... }`")
                        .with_label(Label::primary(item.head_span(), "not a policy head"))
                        .with_help(usage),
                );
                return None;
            }
        };
        let span = item.head_span();
        let Some(block) = &item.block else {
            self.error(
                Diagnostic::error(format!("policy `{name}` has no block"))
                    .with_label(Label::primary(span, "a `{` must follow"))
                    .with_help(usage),
            );
            return None;
        };
        let before = self.diagnostics.len();
        let directives = &block.directives;
        let lowered = match kind.text.as_str() {
            "jwt" => self.jwt(&name, span, directives).map(PolicyKind::Jwt),
            "api_key" => self
                .api_key(&name, span, directives)
                .map(PolicyKind::ApiKey),
            "basic_auth" => self
                .basic_auth(&name, span, directives)
                .map(PolicyKind::BasicAuth),
            "rate_limit" => self
                .rate_limit(&name, span, directives)
                .map(PolicyKind::RateLimit),
            "validate" => Some(PolicyKind::Validate(self.validate(directives))),
            "cors" => self.cors(&name, span, directives).map(PolicyKind::Cors),
            "headers" => Some(PolicyKind::Headers(self.headers(directives))),
            "rewrite" => self
                .rewrite(&name, span, directives)
                .map(PolicyKind::Rewrite),
            "access" => self.access(&name, span, directives).map(PolicyKind::Access),
            "compress" => Some(PolicyKind::Compress(self.compress(directives))),
            "security_headers" => Some(PolicyKind::SecurityHeaders(
                self.security_headers(directives),
            )),
            "cache" => Some(PolicyKind::Cache(self.cache(directives))),
            other => {
                self.error(
                    Diagnostic::error(format!("unknown policy kind `{other}`"))
                        .with_label(Label::primary(kind.span, "not a policy kind"))
                        .with_suggestion(other, "a kind", PolicyKind::NAMES.iter().copied())
                        .with_help(format!("the kinds are {}", listed(&PolicyKind::NAMES))),
                );
                return None;
            }
        };
        if self.diagnostics.len() > before {
            return None;
        }
        Some(Policy {
            name,
            span,
            kind: Spanned::new(lowered?, kind.span),
        })
    }

    /// One quoted string: `realm "staff"`.
    fn string(&mut self, directive: &Directive, example: &str) -> Option<Spanned<String>> {
        let usage = format!("{} \"{example}\"", directive.name);
        let [text] = self.args(directive, 1, &usage)? else {
            unreachable!("args checked the count")
        };
        self.keep(literal::text(text, "the value", &usage))
    }

    /// One or more quoted strings.
    fn strings(&mut self, directive: &Directive, example: &str) -> Vec<Spanned<String>> {
        let usage = format!("{} \"{example}\"", directive.name);
        let Some(args) = self.some_args(directive, &usage) else {
            return Vec::new();
        };
        args.iter()
            .filter_map(|arg| self.keep(literal::text(arg, "each value", &usage)))
            .collect()
    }

    fn header_names(&mut self, directive: &Directive, example: &str) -> Vec<Spanned<String>> {
        let usage = format!("{} \"{example}\"", directive.name);
        let Some(args) = self.some_args(directive, &usage) else {
            return Vec::new();
        };
        args.iter()
            .filter_map(|arg| self.keep(literal::header_name(arg)))
            .collect()
    }

    fn header_name_arg(&mut self, directive: &Directive) -> Option<Spanned<String>> {
        let usage = format!("{} \"x-consumer\"", directive.name);
        let [name] = self.args(directive, 1, &usage)? else {
            unreachable!("args checked the count")
        };
        self.keep(literal::header_name(name))
    }

    fn methods(&mut self, directive: &Directive) -> Vec<Spanned<crate::ast::Method>> {
        let Some(args) = self.some_args(directive, "methods GET POST") else {
            return Vec::new();
        };
        args.iter()
            .filter_map(|arg| self.keep(literal::method(arg)))
            .collect()
    }

    fn policy_missing(&mut self, name: &Ident, head: Span, what: &str, example: &str) {
        self.missing("policy", name, head, what, example);
    }

    fn jwt(&mut self, name: &Ident, head: Span, directives: &[Directive]) -> Option<Jwt> {
        let mut seen = Seen::new();
        let mut keys: Option<Spanned<JwtKeys>> = None;
        let mut jwt = Jwt {
            keys: Spanned::new(JwtKeys::Jwks(Spanned::new(String::new(), head)), head),
            algorithms: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: None,
            required: None,
            forward: Vec::new(),
        };
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if JWT.contains(&directive_name)
                && directive_name != "forward_claim"
                && !self.once(&mut seen, directive)
            {
                continue;
            }
            match directive_name {
                "jwks" | "public_key" => {
                    if let Some(first) = &keys {
                        self.error(
                            Diagnostic::error(format!("policy `{name}` has two key sources"))
                                .with_label(Label::primary(directive.head_span(), "second"))
                                .with_label(Label::secondary(first.span, "first"))
                                .with_help("give either `jwks \"file\"` or `public_key \"file\"`"),
                        );
                        continue;
                    }
                    let Some(file) = self.file(directive) else {
                        continue;
                    };
                    let source = if directive_name == "jwks" {
                        JwtKeys::Jwks(file)
                    } else {
                        JwtKeys::Pem(file)
                    };
                    keys = Some(Spanned::new(source, directive.head_span()));
                }
                "algorithms" => {
                    let Some(args) = self.some_args(directive, "algorithms RS256 ES256") else {
                        continue;
                    };
                    for arg in args {
                        jwt.algorithms.extend(self.keep(algorithm(arg)));
                    }
                }
                "issuer" => jwt.issuers = self.strings(directive, "https://auth.example.com"),
                "audience" => jwt.audiences = self.strings(directive, "my-api"),
                "leeway" => jwt.leeway = self.duration(directive),
                "require" => {
                    let Some(args) = self.some_args(directive, "require exp sub") else {
                        continue;
                    };
                    jwt.required = Some(
                        args.iter()
                            .map(|arg| Spanned::new(arg.text.clone(), arg.span))
                            .collect(),
                    );
                }
                "forward_claim" => {
                    let usage = "forward_claim sub \"x-user-id\"";
                    if let Some([claim, header]) = self.args(directive, 2, usage) {
                        let header = self.keep(literal::header_name(header));
                        if let Some(header) = header {
                            jwt.forward
                                .push((Spanned::new(claim.text.clone(), claim.span), header));
                        }
                    }
                }
                _ => self.unknown(directive, "in a jwt policy", &JWT),
            }
        }
        match keys {
            Some(keys) => jwt.keys = keys,
            None => {
                self.policy_missing(name, head, "jwks", "jwks \"jwks.json\"");
                return None;
            }
        }
        Some(jwt)
    }

    fn api_key(&mut self, name: &Ident, head: Span, directives: &[Directive]) -> Option<ApiKey> {
        let mut seen = Seen::new();
        let mut keys = None;
        let mut source: Option<Spanned<KeySource>> = None;
        let mut consumer_header = None;
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if API_KEY.contains(&directive_name) && !self.once(&mut seen, directive) {
                continue;
            }
            match directive_name {
                "keys" => keys = self.file(directive),
                "header" | "query" => {
                    if let Some(first) = &source {
                        self.error(
                            Diagnostic::error(format!("policy `{name}` reads the key twice"))
                                .with_label(Label::primary(directive.head_span(), "second"))
                                .with_label(Label::secondary(first.span, "first"))
                                .with_help("the key comes from one header or one query parameter"),
                        );
                        continue;
                    }
                    let read = if directive_name == "header" {
                        self.header_name_arg(directive)
                            .map(|h| KeySource::Header(h.value))
                    } else {
                        self.string(directive, "api_key")
                            .map(|q| KeySource::Query(q.value))
                    };
                    source = read.map(|read| Spanned::new(read, directive.head_span()));
                }
                "consumer_header" => consumer_header = self.header_name_arg(directive),
                _ => self.unknown(directive, "in an api_key policy", &API_KEY),
            }
        }
        let Some(keys) = keys else {
            self.policy_missing(name, head, "keys", "keys \"api-keys.txt\"");
            return None;
        };
        Some(ApiKey {
            keys,
            source: source.map_or_else(|| KeySource::Header("x-api-key".to_owned()), |s| s.value),
            consumer_header,
        })
    }

    fn basic_auth(
        &mut self,
        name: &Ident,
        head: Span,
        directives: &[Directive],
    ) -> Option<BasicAuth> {
        let mut seen = Seen::new();
        let mut htpasswd = None;
        let mut realm = None;
        let mut consumer_header = None;
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if BASIC_AUTH.contains(&directive_name) && !self.once(&mut seen, directive) {
                continue;
            }
            match directive_name {
                "htpasswd" => htpasswd = self.file(directive),
                "realm" => {
                    realm = self.string(directive, "staff").and_then(|realm| {
                        let plain = realm
                            .value
                            .bytes()
                            .all(|b| b == b' ' || b.is_ascii_graphic())
                            && !realm.value.contains(['"', '\\']);
                        if plain {
                            Some(realm)
                        } else {
                            self.error(
                                Diagnostic::error("invalid realm")
                                    .with_label(Label::primary(realm.span, "not a plain realm"))
                                    .with_help("a realm is visible ASCII without `\"` or `\\`"),
                            );
                            None
                        }
                    })
                }
                "consumer_header" => consumer_header = self.header_name_arg(directive),
                _ => self.unknown(directive, "in a basic_auth policy", &BASIC_AUTH),
            }
        }
        let Some(htpasswd) = htpasswd else {
            self.policy_missing(name, head, "htpasswd", "htpasswd \"users.htpasswd\"");
            return None;
        };
        Some(BasicAuth {
            htpasswd,
            realm,
            consumer_header,
        })
    }

    fn rate_limit(
        &mut self,
        name: &Ident,
        head: Span,
        directives: &[Directive],
    ) -> Option<RateLimit> {
        let mut seen = Seen::new();
        let mut key = LimitKey::ClientIp;
        let mut rate = None;
        let mut burst = None;
        let mut algorithm = LimitAlgorithm::TokenBucket;
        let mut max_keys = None;
        let mut ipv6_prefix = None;
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if RATE_LIMIT.contains(&directive_name) && !self.once(&mut seen, directive) {
                continue;
            }
            match directive_name {
                "key" => {
                    if let Some([arg]) = self.args(directive, 1, "key client_ip") {
                        key = self.limit_key(arg).unwrap_or(key);
                    }
                }
                "rate" => {
                    if let Some([arg]) = self.args(directive, 1, "rate 10/s") {
                        rate = self.keep(literal::rate(arg));
                    }
                }
                "burst" => burst = self.count(directive, 1, 1_000_000),
                "algorithm" => {
                    if let Some([arg]) = self.args(directive, 1, "algorithm token_bucket") {
                        match arg.text.as_str() {
                            "token_bucket" if arg.is_bare() => {
                                algorithm = LimitAlgorithm::TokenBucket
                            }
                            "gcra" if arg.is_bare() => algorithm = LimitAlgorithm::Gcra,
                            other => self.error(
                                Diagnostic::error(format!("unknown algorithm `{other}`"))
                                    .with_label(Label::primary(arg.span, "not an algorithm"))
                                    .with_help("the algorithms are `token_bucket` and `gcra`"),
                            ),
                        }
                    }
                }
                "max_keys" => max_keys = self.count(directive, 1, 100_000_000),
                "ipv6_prefix" => ipv6_prefix = self.count(directive, 1, 128),
                _ => self.unknown(directive, "in a rate_limit policy", &RATE_LIMIT),
            }
        }
        let Some(rate) = rate else {
            self.policy_missing(name, head, "rate", "rate 10/s");
            return None;
        };
        Some(RateLimit {
            key,
            rate,
            burst,
            algorithm,
            max_keys,
            ipv6_prefix,
        })
    }

    fn limit_key(&mut self, arg: &Arg) -> Option<LimitKey> {
        let key = match (&arg.kind, arg.text.as_str()) {
            (ArgKind::Bare, "client_ip") => Some(LimitKey::ClientIp),
            (ArgKind::Bare, "consumer") => Some(LimitKey::Consumer),
            (ArgKind::Bare, "route") => Some(LimitKey::Route),
            (ArgKind::Call(inner), "header") => {
                let inner = Arg {
                    text: inner.clone(),
                    kind: ArgKind::Quoted,
                    span: arg.span,
                };
                return self
                    .keep(literal::header_name(&inner))
                    .map(|name| LimitKey::Header(name.value));
            }
            (ArgKind::Call(inner), "claim") if !inner.is_empty() => {
                Some(LimitKey::Claim(inner.clone()))
            }
            _ => None,
        };
        if key.is_none() {
            self.error(
                Diagnostic::error(format!("unknown rate-limit key `{}`", arg.text))
                    .with_label(Label::primary(arg.span, "not a key"))
                    .with_help(format!("the keys are {}", listed(&LIMIT_KEYS))),
            );
        }
        key
    }

    fn validate(&mut self, directives: &[Directive]) -> Validate {
        let mut seen = Seen::new();
        let mut validate = Validate::default();
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if VALIDATE.contains(&directive_name) && !self.once(&mut seen, directive) {
                continue;
            }
            match directive_name {
                "methods" => validate.methods = self.methods(directive),
                "required_headers" => {
                    validate.required_headers = self.header_names(directive, "x-request-id")
                }
                "content_type" => {
                    validate.content_types = self
                        .strings(directive, "application/json")
                        .into_iter()
                        .filter_map(|media| self.media_type(media))
                        .collect()
                }
                "max_body" => {
                    if let Some([size]) = self.args(directive, 1, "max_body 1MiB") {
                        validate.max_body = self.keep(literal::size(size));
                    }
                }
                "json_schema" => validate.json_schema = self.file(directive),
                _ => self.unknown(directive, "in a validate policy", &VALIDATE),
            }
        }
        validate
    }

    /// A media type `type/subtype`, lower-cased.
    fn media_type(&mut self, media: Spanned<String>) -> Option<Spanned<String>> {
        let token = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
        };
        match media.value.split_once('/') {
            Some((kind, subtype)) if token(kind) && token(subtype) => {
                Some(Spanned::new(media.value.to_ascii_lowercase(), media.span))
            }
            _ => {
                self.error(
                    Diagnostic::error(format!("invalid media type `{}`", media.value))
                        .with_label(Label::primary(media.span, "not `type/subtype`"))
                        .with_help(
                            "write a media type without parameters, such as `\"application/json\"`",
                        ),
                );
                None
            }
        }
    }

    fn cors(&mut self, name: &Ident, head: Span, directives: &[Directive]) -> Option<Cors> {
        let mut seen = Seen::new();
        let mut cors = Cors::default();
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if CORS.contains(&directive_name) && !self.once(&mut seen, directive) {
                continue;
            }
            match directive_name {
                "origins" => {
                    cors.origins = self
                        .strings(directive, "https://app.example.com")
                        .into_iter()
                        .filter_map(|origin| self.origin(origin))
                        .collect()
                }
                "methods" => cors.methods = self.methods(directive),
                "headers" => cors.headers = self.header_names(directive, "content-type"),
                "expose" => cors.expose = self.header_names(directive, "x-request-id"),
                "credentials" => {
                    if self.args(directive, 0, "credentials").is_some() {
                        cors.credentials = Some(directive.head_span());
                    }
                }
                "max_age" => cors.max_age = self.duration(directive),
                _ => self.unknown(directive, "in a cors policy", &CORS),
            }
        }
        if cors.origins.is_empty() {
            self.policy_missing(name, head, "origins", "origins \"https://app.example.com\"");
            return None;
        }
        if let (Some(credentials), Some(any)) = (
            cors.credentials,
            cors.origins.iter().find(|o| o.value == "*"),
        ) {
            self.error(
                Diagnostic::error("`credentials` cannot go with the origin `*`")
                    .with_label(Label::primary(any.span, "any origin"))
                    .with_label(Label::secondary(credentials, "credentials allowed"))
                    .with_help("browsers refuse credentialed answers for `*`: list the origins"),
            );
        }
        Some(cors)
    }

    /// `"*"` or `scheme://host[:port]`, lower-cased, without a path.
    fn origin(&mut self, origin: Spanned<String>) -> Option<Spanned<String>> {
        if origin.value == "*" {
            return Some(origin);
        }
        let valid = origin
            .value
            .split_once("://")
            .is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            });
        if valid {
            Some(Spanned::new(origin.value.to_ascii_lowercase(), origin.span))
        } else {
            self.error(
                Diagnostic::error(format!("invalid origin `{}`", origin.value))
                    .with_label(Label::primary(origin.span, "not an origin"))
                    .with_help("an origin is `\"https://app.example.com\"` (scheme, host, optional port; no path), or `\"*\"`"),
            );
            None
        }
    }

    fn headers(&mut self, directives: &[Directive]) -> Headers {
        let mut seen = Seen::new();
        let mut headers = Headers::default();
        for directive in directives {
            let directive_name = directive.name.value.as_str();
            if HEADERS.contains(&directive_name) && !self.once(&mut seen, directive) {
                continue;
            }
            let edits = match directive_name {
                "request" => &mut headers.request,
                "response" => &mut headers.response,
                _ => {
                    self.unknown(directive, "in a headers policy", &HEADERS);
                    continue;
                }
            };
            let usage =
                format!("{directive_name} {{ set \"x-env\" \"prod\"  remove \"x-debug\" }}");
            if let Some(block) = self.block(directive, &usage) {
                *edits = self.header_edits(block);
            }
        }
        headers
    }

    fn header_edits(&mut self, block: &Block) -> HeaderEdits {
        let mut edits = HeaderEdits::default();
        for directive in &block.directives {
            match directive.name.value.as_str() {
                "set" | "add" => {
                    let usage = format!("{} \"x-env\" \"prod\"", directive.name);
                    let Some([name, value]) = self.args(directive, 2, &usage) else {
                        continue;
                    };
                    let name = self.keep(literal::header_name(name));
                    let value = self.keep(literal::header_value(value));
                    if let (Some(name), Some(value)) = (name, value) {
                        let list = if directive.name.value == "set" {
                            &mut edits.set
                        } else {
                            &mut edits.add
                        };
                        list.push((name, value));
                    }
                }
                "remove" => edits.remove.extend(self.header_names(directive, "x-debug")),
                _ => self.unknown(directive, "in a header edit block", &HEADER_EDITS),
            }
        }
        edits
    }

    fn rewrite(
        &mut self,
        name: &Ident,
        head: Span,
        directives: &[Directive],
    ) -> Option<Spanned<Rewrite>> {
        let mut rule: Option<Spanned<Rewrite>> = None;
        for directive in directives {
            let read = match directive.name.value.as_str() {
                "strip_prefix" => self
                    .args(directive, 1, "strip_prefix /api")
                    .and_then(|args| self.keep(literal::path(&args[0], true)))
                    .map(|prefix| Rewrite::StripPrefix(exact_path(prefix.value))),
                "replace_prefix" => {
                    self.args(directive, 2, "replace_prefix /v1 /v2")
                        .and_then(|args| {
                            let from = self.keep(literal::path(&args[0], true));
                            let to = self.keep(literal::path(&args[1], true));
                            Some(Rewrite::ReplacePrefix {
                                from: exact_path(from?.value),
                                to: exact_path(to?.value),
                            })
                        })
                }
                "regex" => {
                    let usage = "regex \"^/old/(.*)$\" \"/new/$1\"";
                    self.args(directive, 2, usage).and_then(|args| {
                        let pattern = self.keep(literal::text(&args[0], "a pattern", usage));
                        let replacement =
                            self.keep(literal::text(&args[1], "a replacement", usage));
                        Some(Rewrite::Regex {
                            pattern: pattern?,
                            replacement: replacement?.value,
                        })
                    })
                }
                _ => {
                    self.unknown(directive, "in a rewrite policy", &REWRITE);
                    continue;
                }
            };
            let Some(read) = read else {
                continue;
            };
            if let Some(first) = &rule {
                self.error(
                    Diagnostic::error(format!("policy `{name}` has two rewrite rules"))
                        .with_label(Label::primary(directive.head_span(), "second rule"))
                        .with_label(Label::secondary(first.span, "first rule"))
                        .with_help("a rewrite policy has one rule; chain two policies for more"),
                );
                continue;
            }
            rule = Some(Spanned::new(read, directive.head_span()));
        }
        if rule.is_none() {
            self.policy_missing(name, head, "strip_prefix", "strip_prefix /api");
        }
        rule
    }

    fn access(
        &mut self,
        name: &Ident,
        head: Span,
        directives: &[Directive],
    ) -> Option<Vec<AccessRule>> {
        let mut rules = Vec::new();
        for directive in directives {
            let allow = match directive.name.value.as_str() {
                "allow" => true,
                "deny" => false,
                _ => {
                    self.unknown(directive, "in an access policy", &ACCESS);
                    continue;
                }
            };
            let usage = format!("{} 10.0.0.0/8", directive.name);
            let Some(args) = self.some_args(directive, &usage) else {
                continue;
            };
            for arg in args {
                if arg.is_bare() && arg.text == "all" {
                    for any in ["0.0.0.0/0", "::/0"] {
                        let net = Arg {
                            text: any.to_owned(),
                            ..arg.clone()
                        };
                        rules.extend(
                            self.keep(literal::cidr(&net))
                                .map(|net| AccessRule { allow, net }),
                        );
                    }
                } else {
                    rules.extend(
                        self.keep(literal::cidr(arg))
                            .map(|net| AccessRule { allow, net }),
                    );
                }
            }
        }
        if rules.is_empty() {
            self.policy_missing(name, head, "allow", "allow 10.0.0.0/8");
            return None;
        }
        Some(rules)
    }
}

impl Lowering {
    fn compress(&mut self, directives: &[Directive]) -> Compress {
        let mut seen = Seen::new();
        let mut compress = Compress::default();
        for directive in directives {
            let name = directive.name.value.as_str();
            if COMPRESS.contains(&name) && !self.once(&mut seen, directive) {
                continue;
            }
            match name {
                "algorithms" => {
                    let Some(args) = self.some_args(directive, "algorithms br gzip zstd") else {
                        continue;
                    };
                    for arg in args {
                        let coding = match arg.text.as_str() {
                            "gzip" if arg.is_bare() => Coding::Gzip,
                            "br" if arg.is_bare() => Coding::Brotli,
                            "zstd" if arg.is_bare() => Coding::Zstd,
                            other => {
                                self.error(
                                    Diagnostic::error(format!("unknown compression `{other}`"))
                                        .with_label(Label::primary(arg.span, "not an algorithm"))
                                        .with_suggestion(
                                            other,
                                            "an algorithm",
                                            ["gzip", "br", "zstd"],
                                        )
                                        .with_help("the algorithms are `gzip`, `br` and `zstd`"),
                                );
                                continue;
                            }
                        };
                        if compress.algorithms.contains(&coding) {
                            self.error(
                                Diagnostic::error(format!("`{}` is listed twice", arg.text))
                                    .with_label(Label::primary(arg.span, "listed again here")),
                            );
                        } else {
                            compress.algorithms.push(coding);
                        }
                    }
                }
                "min_size" => {
                    if let Some([size]) = self.args(directive, 1, "min_size 1KiB") {
                        compress.min_size = self.keep(literal::size(size));
                    }
                }
                "types" => {
                    compress.types = self
                        .strings(directive, "text/*")
                        .into_iter()
                        .filter_map(|media| {
                            if let Some(family) = media.value.strip_suffix("/*") {
                                let valid = !family.is_empty()
                                    && family
                                        .bytes()
                                        .all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b));
                                if valid {
                                    return Some(Spanned::new(
                                        media.value.to_ascii_lowercase(),
                                        media.span,
                                    ));
                                }
                            }
                            self.media_type(media)
                        })
                        .collect()
                }
                _ => self.unknown(directive, "in a compress policy", &COMPRESS),
            }
        }
        compress
    }

    fn security_headers(&mut self, directives: &[Directive]) -> SecurityHeaders {
        let mut seen = Seen::new();
        let mut headers = SecurityHeaders::default();
        for directive in directives {
            let name = directive.name.value.as_str();
            if SECURITY_HEADERS.contains(&name) && !self.once(&mut seen, directive) {
                continue;
            }
            let off =
                matches!(directive.args.as_slice(), [arg] if arg.is_bare() && arg.text == "off");
            match name {
                "hsts" if off => headers.hsts = Setting::Off,
                "hsts" => {
                    let usage = "hsts 365d include_subdomains preload";
                    let Some(args) = self.some_args(directive, usage) else {
                        continue;
                    };
                    let Some(max_age) = self.keep(literal::duration(&args[0])) else {
                        continue;
                    };
                    let mut hsts = Hsts {
                        max_age: max_age.value,
                        include_subdomains: false,
                        preload: false,
                    };
                    for flag in &args[1..] {
                        match flag.text.as_str() {
                            "include_subdomains" if flag.is_bare() => {
                                hsts.include_subdomains = true
                            }
                            "preload" if flag.is_bare() => hsts.preload = true,
                            other => self.error(
                                Diagnostic::error(format!("unknown HSTS option `{other}`"))
                                    .with_label(Label::primary(flag.span, "not an option"))
                                    .with_help(
                                        "the options are `include_subdomains` and `preload`",
                                    ),
                            ),
                        }
                    }
                    headers.hsts = Setting::Value(hsts);
                }
                "frame_options" if off => headers.frame_options = Setting::Off,
                "frame_options" => {
                    if let Some([value]) = self.args(directive, 1, "frame_options deny") {
                        match value.text.as_str() {
                            "deny" if value.is_bare() => {
                                headers.frame_options = Setting::Value("DENY".to_owned())
                            }
                            "sameorigin" if value.is_bare() => {
                                headers.frame_options = Setting::Value("SAMEORIGIN".to_owned())
                            }
                            other => self.error(
                                Diagnostic::error(format!("unknown frame option `{other}`"))
                                    .with_label(Label::primary(value.span, "not a frame option"))
                                    .with_help("write `deny`, `sameorigin` or `off`; for more, use `csp \"frame-ancestors ...\"`"),
                            ),
                        }
                    }
                }
                "content_type_options" if off => headers.content_type_options = Setting::Off,
                "referrer_policy" | "permissions_policy" | "csp" if !off => {
                    let Some([value]) = self.args(directive, 1, &format!("{name} \"...\"")) else {
                        continue;
                    };
                    let Some(value) = self.keep(literal::header_value(value)) else {
                        continue;
                    };
                    match name {
                        "referrer_policy" => headers.referrer_policy = Setting::Value(value.value),
                        "permissions_policy" => {
                            headers.permissions_policy = Setting::Value(value.value)
                        }
                        _ => headers.csp = Some(value.value),
                    }
                }
                "referrer_policy" => headers.referrer_policy = Setting::Off,
                "permissions_policy" => headers.permissions_policy = Setting::Off,
                "csp" | "content_type_options" => {
                    self.error(
                        Diagnostic::error(format!("`{name}` takes `off` or a value"))
                            .with_label(Label::primary(directive.head_span(), "unexpected"))
                            .with_help(if name == "csp" {
                                "write `csp \"default-src 'self'\"` (there is no CSP unless given)"
                            } else {
                                "`X-Content-Type-Options: nosniff` is on; `content_type_options off` drops it"
                            }),
                    );
                }
                _ => self.unknown(directive, "in a security_headers policy", &SECURITY_HEADERS),
            }
        }
        headers
    }
}

impl Lowering {
    fn cache(&mut self, directives: &[Directive]) -> Cache {
        let mut seen = Seen::new();
        let mut cache = Cache::default();
        for directive in directives {
            let name = directive.name.value.as_str();
            if CACHE.contains(&name) && !self.once(&mut seen, directive) {
                continue;
            }
            match name {
                "max_size" | "max_object" => {
                    let usage = format!("{name} 64MiB");
                    if let Some([size]) = self.args(directive, 1, &usage) {
                        let size = self.keep(literal::size(size));
                        if name == "max_size" {
                            cache.max_size = size;
                        } else {
                            cache.max_object = size;
                        }
                    }
                }
                "key" => cache.key = self.cache_key(directive),
                "default_ttl" => cache.default_ttl = self.duration(directive),
                "stale_while_revalidate" => cache.stale_while_revalidate = self.duration(directive),
                "stale_if_error" => cache.stale_if_error = self.duration(directive),
                "cache_authorized" => {
                    if self.args(directive, 0, "cache_authorized").is_some() {
                        cache.cache_authorized = Some(directive.head_span());
                    }
                }
                _ => self.unknown(directive, "in a cache policy", &CACHE),
            }
        }
        let max_size = cache
            .max_size
            .as_ref()
            .map_or(Cache::DEFAULT_MAX_SIZE, |size| size.value);
        if let Some(object) = cache.max_object.as_ref().filter(|o| o.value > max_size) {
            let mut error = Diagnostic::error("`max_object` is larger than the whole cache")
                .with_label(Label::primary(object.span, "the largest answer stored"))
                .with_help("make `max_object` at most `max_size` (64MiB unless given)");
            if let Some(size) = &cache.max_size {
                error = error.with_label(Label::secondary(size.span, "the cache's size"));
            }
            self.error(error);
        }
        cache
    }

    /// `key host path query header("x-tenant")`: parts of the URL and request headers.
    fn cache_key(&mut self, directive: &Directive) -> Option<CacheKey> {
        let args = self.some_args(directive, "key host path query header(\"x-tenant\")")?;
        let mut key = CacheKey::default();
        for arg in args {
            let twice = match (&arg.kind, arg.text.as_str()) {
                (ArgKind::Bare, "host") => std::mem::replace(&mut key.host, true),
                (ArgKind::Bare, "path") => std::mem::replace(&mut key.path, true),
                (ArgKind::Bare, "query") => std::mem::replace(&mut key.query, true),
                (ArgKind::Call(inner), "header") => {
                    let inner = Arg {
                        text: inner.clone(),
                        kind: ArgKind::Quoted,
                        span: arg.span,
                    };
                    let Some(name) = self.keep(literal::header_name(&inner)) else {
                        continue;
                    };
                    let twice = key.headers.contains(&name.value);
                    if !twice {
                        key.headers.push(name.value);
                    }
                    twice
                }
                _ => {
                    self.error(
                        Diagnostic::error(format!("unknown cache key part `{}`", arg.text))
                            .with_label(Label::primary(arg.span, "not a key part"))
                            .with_suggestion(&arg.text, "a key part", ["host", "path", "query"])
                            .with_help(format!(
                                "the parts are {}; the method is always GET (HEAD is answered from GET's answers)",
                                listed(&CACHE_KEY_PARTS)
                            )),
                    );
                    continue;
                }
            };
            if twice {
                let part = match &arg.kind {
                    ArgKind::Call(inner) => {
                        format!("{}(\"{}\")", arg.text, inner.to_ascii_lowercase())
                    }
                    _ => arg.text.clone(),
                };
                self.error(
                    Diagnostic::error(format!("`{part}` is listed twice"))
                        .with_label(Label::primary(arg.span, "listed again here")),
                );
            }
        }
        if !key.path {
            self.error(
                Diagnostic::error("a cache key without `path`")
                    .with_label(Label::primary(
                        directive.head_span(),
                        "no `path` in this key",
                    ))
                    .with_help("every path would share one answer: add `path` to the key"),
            );
        }
        Some(key)
    }
}

fn exact_path(path: crate::ast::PathMatch) -> String {
    match path {
        crate::ast::PathMatch::Exact(path) | crate::ast::PathMatch::Prefix(path) => path,
    }
}

/// A JWT algorithm name as RFC 7518 writes it: `RS256`, `EdDSA`...
fn algorithm(arg: &Arg) -> Result<Spanned<JwtAlgorithm>, Diagnostic> {
    JwtAlgorithm::ALL
        .iter()
        .find(|(name, _)| *name == arg.text)
        .map(|(_, algorithm)| Spanned::new(*algorithm, arg.span))
        .ok_or_else(|| {
            let names: Vec<&str> = JwtAlgorithm::ALL.iter().map(|(name, _)| *name).collect();
            Diagnostic::error(format!("unknown JWT algorithm `{}`", arg.text))
                .with_label(Label::primary(arg.span, "not an algorithm"))
                .with_suggestion(&arg.text, "an algorithm", names.iter().copied())
                .with_help(format!(
                    "the algorithms are {} (`none` is never accepted)",
                    names.join(", ")
                ))
        })
}
