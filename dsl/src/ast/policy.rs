//! Policies as written: `policy NAME = KIND { ... }` items, attached to routes with `use`.
//! File paths are kept as written (the compiler resolves and checks them); header names are
//! lower-cased and valid tokens; header values are visible ASCII.

use std::time::Duration;

use crate::span::{Ident, Span, Spanned};
use crate::value::{
    CacheKey, Cidr, Coding, HashKey, JwtAlgorithm, KeySource, LimitAlgorithm, LimitKey, Method,
    OnStoreError, Rate,
};

/// `policy NAME = KIND { ... }`
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: Ident,
    /// The `policy NAME = KIND` head.
    pub span: Span,
    pub kind: Spanned<PolicyKind>,
}

#[derive(Clone, Debug)]
pub enum PolicyKind {
    Jwt(Jwt),
    ApiKey(ApiKey),
    BasicAuth(BasicAuth),
    RateLimit(RateLimit),
    Validate(Validate),
    Cors(Cors),
    Headers(Headers),
    Rewrite(Spanned<Rewrite>),
    Access(Vec<AccessRule>),
    Compress(Compress),
    SecurityHeaders(SecurityHeaders),
    Cache(Cache),
    ExtAuth(ExtAuth),
}

impl PolicyKind {
    /// The kinds, as written after `=`.
    pub const NAMES: [&'static str; 13] = [
        "jwt",
        "api_key",
        "basic_auth",
        "rate_limit",
        "validate",
        "cors",
        "headers",
        "rewrite",
        "access",
        "compress",
        "security_headers",
        "cache",
        "ext_auth",
    ];
}

/// `jwt { jwks "f" | public_key "f" | jwks_url "https://.." [jwks_ca "f"]  algorithms ..  issuer ..  audience ..  leeway D  require ..
/// forward_claim CLAIM "header" }`
#[derive(Clone, Debug)]
pub struct Jwt {
    pub keys: Spanned<JwtKeys>,
    pub algorithms: Vec<Spanned<JwtAlgorithm>>,
    pub issuers: Vec<Spanned<String>>,
    pub audiences: Vec<Spanned<String>>,
    pub leeway: Option<Spanned<Duration>>,
    /// `None`: the default (`exp`).
    pub required: Option<Vec<Spanned<String>>>,
    /// (claim, header)
    pub forward: Vec<(Spanned<String>, Spanned<String>)>,
}

#[derive(Clone, Debug)]
pub enum JwtKeys {
    Jwks(Spanned<String>),
    Pem(Spanned<String>),
    /// `jwks_url "https://..."`, with `jwks_ca "FILE"` when given.
    Url {
        url: Spanned<String>,
        ca: Option<Spanned<String>>,
    },
}

/// `ext_auth { pool NAME  path "/check"  forward_headers ..  copy_headers ..  timeout D
/// on_error deny|allow  cache D [by KEY] [max_size SIZE] }`: each request asks an
/// authorisation service first.
#[derive(Clone, Debug)]
pub struct ExtAuth {
    pub pool: Ident,
    pub path: Spanned<String>,
    /// `None`: the default (`authorization` and `cookie`).
    pub forward_headers: Option<Vec<Spanned<String>>>,
    pub copy_headers: Vec<Spanned<String>>,
    pub timeout: Option<Spanned<Duration>>,
    /// `on_error allow`: a failed check lets the request through.
    pub fail_open: Option<Spanned<bool>>,
    /// How long answers are kept, by what key and in how many bytes.
    pub cache: Option<AnswerCache>,
}

/// `cache D [by KEY] [max_size SIZE]` in an `ext_auth` policy.
#[derive(Clone, Debug)]
pub struct AnswerCache {
    pub ttl: Spanned<Duration>,
    /// `None`: the forwarded headers, the method and the path.
    pub key: Option<Spanned<HashKey>>,
    /// `None`: [`crate::value::EXT_AUTH_CACHE_MAX_SIZE`].
    pub max_size: Option<Spanned<u64>>,
}

/// `api_key { keys "f"  header "x-api-key" | query "api_key"  consumer_header "x-consumer" }`
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub keys: Spanned<String>,
    /// `None`: the default header.
    pub source: Option<KeySource>,
    pub consumer_header: Option<Spanned<String>>,
}

/// `basic_auth { htpasswd "f"  realm "r"  consumer_header "x-consumer" }`
#[derive(Clone, Debug)]
pub struct BasicAuth {
    pub htpasswd: Spanned<String>,
    pub realm: Option<Spanned<String>>,
    pub consumer_header: Option<Spanned<String>>,
}

/// `rate_limit { key K  rate N/s  burst N  algorithm token_bucket|gcra  max_keys N
/// ipv6_prefix N  store NAME  on_store_error local|allow|deny }`
#[derive(Clone, Debug)]
pub struct RateLimit {
    /// `None`: the default key, the client's address.
    pub key: Option<Spanned<LimitKey>>,
    pub rate: Spanned<Rate>,
    pub burst: Option<Spanned<u32>>,
    /// `None`: the default algorithm.
    pub algorithm: Option<LimitAlgorithm>,
    pub max_keys: Option<Spanned<u32>>,
    /// How many leading bits of an IPv6 client address make its key (1 to 128).
    pub ipv6_prefix: Option<Spanned<u32>>,
    /// `store NAME`: the buckets are kept in this store, shared with other proxies.
    pub store: Option<Ident>,
    /// What a request gets when the store does not answer; only given with `store`.
    pub on_store_error: Option<Spanned<OnStoreError>>,
}

/// `validate { methods ..  required_headers ..  content_type ..  max_body S  json_schema "f" }`
#[derive(Clone, Debug, Default)]
pub struct Validate {
    pub methods: Vec<Spanned<Method>>,
    pub required_headers: Vec<Spanned<String>>,
    /// Media types, lower-cased.
    pub content_types: Vec<Spanned<String>>,
    pub max_body: Option<Spanned<u64>>,
    pub json_schema: Option<Spanned<String>>,
}

/// `cors { origins ..  methods ..  headers ..  expose ..  credentials  max_age D }`
#[derive(Clone, Debug, Default)]
pub struct Cors {
    pub origins: Vec<Spanned<String>>,
    pub methods: Vec<Spanned<Method>>,
    pub headers: Vec<Spanned<String>>,
    pub expose: Vec<Spanned<String>>,
    pub credentials: Option<Span>,
    pub max_age: Option<Spanned<Duration>>,
}

/// `headers { request { set "n" "v"  add "n" "v"  remove "n" }  response { ... } }`
#[derive(Clone, Debug, Default)]
pub struct Headers {
    pub request: HeaderEdits,
    pub response: HeaderEdits,
}

#[derive(Clone, Debug, Default)]
pub struct HeaderEdits {
    pub set: Vec<(Spanned<String>, Spanned<String>)>,
    pub add: Vec<(Spanned<String>, Spanned<String>)>,
    pub remove: Vec<Spanned<String>>,
}

/// One of `strip_prefix /api`, `replace_prefix /v1 /v2`, `regex "PATTERN" "REPLACEMENT"`.
#[derive(Clone, Debug)]
pub enum Rewrite {
    StripPrefix(String),
    ReplacePrefix {
        from: String,
        to: String,
    },
    Regex {
        pattern: Spanned<String>,
        replacement: String,
    },
}

/// `allow CIDR..` / `deny CIDR..`, in order.
#[derive(Clone, Debug)]
pub struct AccessRule {
    pub allow: bool,
    pub net: Spanned<Cidr>,
}

/// `compress { algorithms gzip br zstd  min_size 1KiB  types "text/*" ... }`
#[derive(Clone, Debug, Default)]
pub struct Compress {
    /// In preference order; empty: the default (`br gzip zstd`).
    pub algorithms: Vec<Coding>,
    pub min_size: Option<Spanned<u64>>,
    /// Media types or `family/*`, lower-cased; empty: the default list.
    pub types: Vec<Spanned<String>>,
}

/// `security_headers { hsts 365d include_subdomains preload  frame_options deny ... }`: a preset
/// with overrides; `off` drops a header.
#[derive(Clone, Debug, Default)]
pub struct SecurityHeaders {
    pub hsts: Setting<Hsts>,
    /// `DENY` or `SAMEORIGIN`.
    pub frame_options: Setting<String>,
    pub content_type_options: Setting<()>,
    pub referrer_policy: Setting<String>,
    pub permissions_policy: Setting<String>,
    /// `Content-Security-Policy`; none unless given.
    pub csp: Option<String>,
}

/// A preset header: kept as the preset has it, turned off, or given a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Setting<T> {
    #[default]
    Preset,
    Off,
    Value(T),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hsts {
    pub max_age: Duration,
    pub include_subdomains: bool,
    pub preload: bool,
}

/// `cache { max_size S  max_object S  key PART..  default_ttl D  stale_while_revalidate D
/// stale_if_error D  cache_authorized }`
#[derive(Clone, Debug, Default)]
pub struct Cache {
    pub max_size: Option<Spanned<u64>>,
    pub max_object: Option<Spanned<u64>>,
    /// `None`: the default key (host, path and query).
    pub key: Option<CacheKey>,
    pub default_ttl: Option<Spanned<Duration>>,
    pub stale_while_revalidate: Option<Spanned<Duration>>,
    pub stale_if_error: Option<Spanned<Duration>>,
    pub cache_authorized: Option<Span>,
}
