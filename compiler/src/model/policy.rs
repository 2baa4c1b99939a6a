//! Policies as the Model holds them: one type per kind, its fields named as the runtime's spec
//! names them, every file path absolute and checked, every default applied (no runtime spec of
//! a policy has a `DEFAULT`; the rate limit's `IPV6_PREFIX` is the one default left to it).

use std::time::Duration;

use edge_dsl::value::{
    CacheKey, Cidr, Coding, JwtAlgorithm, KeySource, LimitAlgorithm, LimitKey, Method,
    OnStoreError, Rate,
};

/// A policy a route uses, under the name it was given.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub kind: PolicyKind,
}

/// What a policy does; each variant is the runtime spec of the same name.
#[derive(Clone, Debug)]
pub enum PolicyKind {
    Jwt(Jwt),
    ApiKey(ApiKey),
    BasicAuth(BasicAuth),
    RateLimit(RateLimit),
    Validate(Validate),
    Cors(Cors),
    Headers(Headers),
    Rewrite(Rewrite),
    Access(Access),
    Compress(Compress),
    SecurityHeaders(SecurityHeaders),
    Cache(Cache),
    ExtAuth(ExtAuth),
}

/// `ExtAuthSpec`.
#[derive(Clone, Debug)]
pub struct ExtAuth {
    /// Index into `Model::pools`.
    pub pool: usize,
    pub path: String,
    pub forward_headers: Vec<String>,
    pub copy_headers: Vec<String>,
    pub timeout: Duration,
    pub fail_open: bool,
    /// How long answers are kept, by what key and in how many bytes.
    pub cache: Option<AnswerCache>,
}

/// `AnswerCache`.
#[derive(Clone, Debug)]
pub struct AnswerCache {
    pub ttl: Duration,
    /// `None`: the forwarded headers, the method and the path.
    pub key: Option<edge_dsl::value::HashKey>,
    pub max_size: u64,
}

/// `JwtSpec`.
#[derive(Clone, Debug)]
pub struct Jwt {
    pub keys: JwtKeys,
    /// Empty: every algorithm the key allows.
    pub algorithms: Vec<JwtAlgorithm>,
    pub issuers: Vec<String>,
    pub audiences: Vec<String>,
    pub leeway: Duration,
    /// Claims a token must carry.
    pub required: Vec<String>,
    pub forward: Vec<ForwardClaim>,
}

/// Where a `jwt` policy's verifying keys are: a JWKS file or a PEM key, or a JWKS URL with
/// the CA bundle its server is verified against.
#[derive(Clone, Debug)]
pub enum JwtKeys {
    Jwks(String),
    Pem(String),
    Url { url: String, ca: Option<String> },
}

/// A claim copied into a request header.
#[derive(Clone, Debug)]
pub struct ForwardClaim {
    pub claim: String,
    pub header: String,
}

/// `ApiKeySpec`.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub source: KeySource,
    /// The key file, absolute.
    pub keys: String,
    pub consumer_header: Option<String>,
}

/// `BasicAuthSpec`.
#[derive(Clone, Debug)]
pub struct BasicAuth {
    /// The password file, absolute.
    pub htpasswd: String,
    pub realm: String,
    pub consumer_header: Option<String>,
}

/// `RateLimitSpec`.
#[derive(Clone, Debug)]
pub struct RateLimit {
    pub key: LimitKey,
    pub rate: Rate,
    pub burst: u32,
    pub algorithm: LimitAlgorithm,
    pub max_keys: u32,
    /// `None`: the runtime's `RateLimitSpec::IPV6_PREFIX`.
    pub ipv6_prefix: Option<u32>,
    /// The store the buckets are kept in, an index into `Model::stores`; `None`: this
    /// process's own.
    pub store: Option<usize>,
    pub on_store_error: OnStoreError,
}

/// `ValidateSpec`.
#[derive(Clone, Debug)]
pub struct Validate {
    pub methods: Vec<Method>,
    pub required_headers: Vec<String>,
    pub content_types: Vec<String>,
    pub max_body: Option<u64>,
    /// The schema file, absolute.
    pub json_schema: Option<String>,
}

/// `CorsSpec`.
#[derive(Clone, Debug)]
pub struct Cors {
    pub origins: Vec<String>,
    pub methods: Vec<Method>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub credentials: bool,
    pub max_age: Option<Duration>,
}

/// `HeadersSpec`.
#[derive(Clone, Debug)]
pub struct Headers {
    pub request: HeaderEdits,
    pub response: HeaderEdits,
}

/// Header changes on one side: (name, value) pairs to set and add, names to remove.
#[derive(Clone, Debug, Default)]
pub struct HeaderEdits {
    pub set: Vec<(String, String)>,
    pub add: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl HeaderEdits {
    /// Whether it changes nothing (the runtime's `HeaderEdits::NONE`).
    pub fn is_none(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// `RewriteSpec`.
#[derive(Clone, Debug)]
pub struct Rewrite {
    pub rule: RewriteRule,
}

/// How a path is rewritten; a regular expression is known to compile.
#[derive(Clone, Debug)]
pub enum RewriteRule {
    StripPrefix(String),
    ReplacePrefix {
        from: String,
        to: String,
    },
    Regex {
        pattern: String,
        replacement: String,
    },
}

/// `AccessSpec`.
#[derive(Clone, Debug)]
pub struct Access {
    /// In order; the first whose network holds the client decides.
    pub rules: Vec<AccessRule>,
}

#[derive(Clone, Copy, Debug)]
pub struct AccessRule {
    pub allow: bool,
    pub net: Cidr,
}

/// `CompressSpec`.
#[derive(Clone, Debug)]
pub struct Compress {
    /// In preference order.
    pub algorithms: Vec<Coding>,
    pub min_size: u64,
    pub types: Vec<String>,
}

/// `SecurityHeadersSpec`: the preset with its overrides resolved.
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    /// (name, value), in the order they are added.
    pub headers: Vec<(String, String)>,
    /// The `Strict-Transport-Security` value; `None`: not sent.
    pub hsts: Option<String>,
}

/// `CacheSpec`.
#[derive(Clone, Debug)]
pub struct Cache {
    pub max_size: u64,
    pub max_object: u64,
    pub key: CacheKey,
    pub default_ttl: Option<Duration>,
    pub stale_while_revalidate: Option<Duration>,
    pub stale_if_error: Option<Duration>,
    pub cache_authorized: bool,
}
