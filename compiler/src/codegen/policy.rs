//! Code generation for policies: each policy's `static` spec, the runtime type that enforces
//! it, and the expression that builds it at start-up.

use std::time::Duration;

use edge_dsl::value::{
    Coding, HashKey, JwtAlgorithm, KeySource, LimitAlgorithm, LimitKey, Method, OnStoreError,
};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};

use super::{duration, ip_addr, number, option};
use crate::model::{AccessRule, HeaderEdits, JwtKeys, Policy, PolicyKind, RewriteRule};

/// What the generated module needs to know about one policy.
pub(super) struct Generated {
    /// The spec's type, such as `::edge_runtime::JwtSpec`.
    pub spec_type: TokenStream,
    /// The spec's value, constant.
    pub spec: TokenStream,
    /// The type of the `Edge` field that enforces it.
    pub policy_type: TokenStream,
    /// That type's path without its parameters, as expressions name it.
    pub policy_path: TokenStream,
    /// How `Edge::new` builds it.
    pub build: Build,
    /// The store its spec refers to, an index into the Model's stores.
    pub store: Option<usize>,
    /// Statics the spec refers to: arrays of header names and values cannot be temporaries in
    /// a `static` (a `HeaderName` holds `Bytes`, which has interior mutability).
    pub arrays: Vec<TokenStream>,
}

/// How `Edge::new` builds a policy from its spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Build {
    /// `Type::new(&SPEC)`.
    New,
    /// `Type::load(&SPEC)?`: it reads files, which can fail.
    Load,
    /// `Type::new(&SPEC, process.caches())`: listed in the process's caches.
    Cached,
    /// `Type::load(&SPEC, process.key_sets())?`: its keys are listed in the process's key
    /// sets (a file to read again on SIGHUP, a first fetch to wait for); reading them can fail.
    Keys,
    /// `Type::load(&SPEC, process.stores())?`: its store, if any, is started (its password
    /// read), which can fail.
    Stores,
    /// `Type::new(&SPEC, Arc::clone(&pool))`: it sends to the Model's pool of this index,
    /// shared with it.
    Pool(usize),
}

impl Build {
    /// Whether the build takes something from the process.
    pub(super) fn uses_process(self) -> bool {
        matches!(self, Build::Cached | Build::Keys | Build::Stores)
    }
}

/// Arrays of header types, each its own `static` named after the spec's.
struct Arrays<'a> {
    spec: &'a proc_macro2::Ident,
    statics: Vec<TokenStream>,
}

impl Arrays<'_> {
    /// `&[]`, or `&SPEC_FIELD` with `static SPEC_FIELD: [ty; N] = [items];` recorded.
    fn of(&mut self, field: &str, ty: TokenStream, items: Vec<TokenStream>) -> TokenStream {
        if items.is_empty() {
            return quote! { &[] };
        }
        let name = format_ident!("{}_{}", self.spec, field.to_ascii_uppercase());
        let len = Literal::usize_unsuffixed(items.len());
        self.statics
            .push(quote! { static #name: [#ty; #len] = [#(#items),*]; });
        quote! { &#name }
    }
}

const HEADER_NAME: &str = "::edge_runtime::http::HeaderName";

fn header_name_type() -> TokenStream {
    HEADER_NAME.parse().expect("a path")
}

/// `spec` is the name of the spec's `static`; `stores` are those of the Model's stores, and
/// `pool_types` the strategy types of its pools.
pub(super) fn generate(
    policy: &Policy,
    spec: &proc_macro2::Ident,
    stores: &[proc_macro2::Ident],
    pool_types: &[TokenStream],
) -> Generated {
    let name = &policy.name;
    let mut arrays = Arrays {
        spec,
        statics: Vec::new(),
    };
    let mut store = None;
    let (kind, fields, build) = match &policy.kind {
        PolicyKind::Jwt(jwt) => {
            let keys = match &jwt.keys {
                JwtKeys::Jwks(file) => {
                    quote! { ::edge_runtime::JwtKeys::Jwks(#file) }
                }
                JwtKeys::Pem(file) => {
                    quote! { ::edge_runtime::JwtKeys::Pem(#file) }
                }
                JwtKeys::Url { url, ca } => {
                    let ca = option(ca.as_ref().map(ToTokens::to_token_stream));
                    quote! { ::edge_runtime::JwtKeys::Url { url: #url, ca: #ca } }
                }
            };
            let algorithms = jwt.algorithms.iter().map(|a| algorithm(*a));
            let (issuers, audiences, required) = (&jwt.issuers, &jwt.audiences, &jwt.required);
            let leeway = duration(jwt.leeway);
            let forward = jwt
                .forward
                .iter()
                .map(|forward| {
                    let (claim, header) = (&forward.claim, header_name(&forward.header));
                    quote! { ::edge_runtime::ForwardClaim { claim: #claim, header: #header } }
                })
                .collect();
            let forward = arrays.of("forward", quote! { ::edge_runtime::ForwardClaim }, forward);
            (
                "Jwt",
                quote! {
                    keys: #keys,
                    algorithms: &[#(#algorithms),*],
                    issuers: &[#(#issuers),*],
                    audiences: &[#(#audiences),*],
                    leeway: #leeway,
                    required: &[#(#required),*],
                    forward: #forward,
                },
                Build::Keys,
            )
        }
        PolicyKind::ApiKey(api_key) => {
            let source = match &api_key.source {
                KeySource::Header(header) => {
                    let header = header_name(header);
                    quote! { ::edge_runtime::KeySource::Header(#header) }
                }
                KeySource::Query(parameter) => {
                    quote! { ::edge_runtime::KeySource::Query(#parameter) }
                }
            };
            let keys = &api_key.keys;
            let consumer_header = consumer_header(api_key.consumer_header.as_deref());
            (
                "ApiKey",
                quote! { source: #source, keys: #keys, consumer_header: #consumer_header, },
                Build::Load,
            )
        }
        PolicyKind::BasicAuth(basic) => {
            let htpasswd = &basic.htpasswd;
            let realm = &basic.realm;
            let consumer_header = consumer_header(basic.consumer_header.as_deref());
            (
                "BasicAuth",
                quote! { htpasswd: #htpasswd, realm: #realm, consumer_header: #consumer_header, },
                Build::Load,
            )
        }
        PolicyKind::RateLimit(limit) => {
            let key = match &limit.key {
                LimitKey::ClientIp => quote! { ::edge_runtime::LimitKey::ClientIp },
                LimitKey::Header(header) => {
                    let header = header_name(header);
                    quote! { ::edge_runtime::LimitKey::Header(#header) }
                }
                LimitKey::Claim(claim) => quote! { ::edge_runtime::LimitKey::Claim(#claim) },
                LimitKey::Consumer => quote! { ::edge_runtime::LimitKey::Consumer },
                LimitKey::Route => quote! { ::edge_runtime::LimitKey::Route },
            };
            let (count, per) = (number(limit.rate.count), duration(limit.rate.per));
            let burst = number(limit.burst);
            let algorithm = match limit.algorithm {
                LimitAlgorithm::TokenBucket => {
                    quote! { ::edge_runtime::LimitAlgorithm::TokenBucket }
                }
                LimitAlgorithm::Gcra => quote! { ::edge_runtime::LimitAlgorithm::Gcra },
            };
            let max_keys = number(limit.max_keys);
            let ipv6_prefix = match limit.ipv6_prefix {
                Some(prefix) => {
                    let prefix = number(prefix);
                    quote! { #prefix }
                }
                None => quote! { ::edge_runtime::RateLimitSpec::IPV6_PREFIX },
            };
            store = limit.store;
            let store_spec = option(limit.store.map(|index| {
                let name = &stores[index];
                quote! { &#name }
            }));
            let on_store_error = format_ident!(
                "{}",
                match limit.on_store_error {
                    OnStoreError::Local => "Local",
                    OnStoreError::Allow => "Allow",
                    OnStoreError::Deny => "Deny",
                }
            );
            (
                "RateLimit",
                quote! {
                    key: #key,
                    rate: ::edge_runtime::Rate { count: #count, per: #per },
                    burst: #burst,
                    algorithm: #algorithm,
                    max_keys: #max_keys,
                    ipv6_prefix: #ipv6_prefix,
                    store: #store_spec,
                    on_store_error: ::edge_runtime::OnStoreError::#on_store_error,
                },
                Build::Stores,
            )
        }
        PolicyKind::Validate(validate) => {
            let methods = validate.methods.iter().map(|m| method(*m));
            let required_headers = validate
                .required_headers
                .iter()
                .map(|h| header_name(h))
                .collect();
            let required_headers =
                arrays.of("required_headers", header_name_type(), required_headers);
            let content_types = &validate.content_types;
            let max_body = option(
                validate
                    .max_body
                    .map(|m| Literal::u64_unsuffixed(m).into_token_stream()),
            );
            let json_schema = option(validate.json_schema.as_ref().map(|file| quote! { #file }));
            (
                "Validate",
                quote! {
                    methods: &[#(#methods),*],
                    required_headers: #required_headers,
                    content_types: &[#(#content_types),*],
                    max_body: #max_body,
                    json_schema: #json_schema,
                },
                Build::Load,
            )
        }
        PolicyKind::Cors(cors) => {
            let origins = &cors.origins;
            let methods = cors.methods.iter().map(|m| method(*m));
            let headers = cors.headers.iter().map(|h| header_name(h)).collect();
            let headers = arrays.of("headers", header_name_type(), headers);
            let expose = cors.expose.iter().map(|h| header_name(h)).collect();
            let expose = arrays.of("expose", header_name_type(), expose);
            let credentials = cors.credentials;
            let max_age = option(cors.max_age.map(duration));
            (
                "Cors",
                quote! {
                    origins: &[#(#origins),*],
                    methods: &[#(#methods),*],
                    headers: #headers,
                    expose: #expose,
                    credentials: #credentials,
                    max_age: #max_age,
                },
                Build::New,
            )
        }
        PolicyKind::Headers(headers) => {
            let request = edits(&headers.request, "request", &mut arrays);
            let response = edits(&headers.response, "response", &mut arrays);
            (
                "Headers",
                quote! { request: #request, response: #response, },
                Build::New,
            )
        }
        PolicyKind::Rewrite(rewrite) => {
            let rule = match &rewrite.rule {
                RewriteRule::StripPrefix(prefix) => {
                    quote! { ::edge_runtime::RewriteRule::StripPrefix(#prefix) }
                }
                RewriteRule::ReplacePrefix { from, to } => {
                    quote! { ::edge_runtime::RewriteRule::ReplacePrefix { from: #from, to: #to } }
                }
                RewriteRule::Regex {
                    pattern,
                    replacement,
                } => {
                    quote! { ::edge_runtime::RewriteRule::Regex { pattern: #pattern, replacement: #replacement } }
                }
            };
            ("Rewrite", quote! { rule: #rule, }, Build::Load)
        }
        PolicyKind::Access(access) => {
            let rules = access.rules.iter().map(access_rule);
            ("Access", quote! { rules: &[#(#rules),*], }, Build::New)
        }
        PolicyKind::Compress(compress) => {
            let algorithms = compress.algorithms.iter().map(|coding| {
                let variant = format_ident!(
                    "{}",
                    match coding {
                        Coding::Gzip => "Gzip",
                        Coding::Brotli => "Brotli",
                        Coding::Zstd => "Zstd",
                    }
                );
                quote! { ::edge_runtime::Coding::#variant }
            });
            let min_size = Literal::u64_unsuffixed(compress.min_size);
            let types = &compress.types;
            (
                "Compress",
                quote! {
                    algorithms: &[#(#algorithms),*],
                    min_size: #min_size,
                    types: &[#(#types),*],
                },
                Build::New,
            )
        }
        PolicyKind::SecurityHeaders(security) => {
            let pairs = header_pairs(&security.headers);
            let pair_type = quote! {
                (::edge_runtime::http::HeaderName, ::edge_runtime::http::HeaderValue)
            };
            let headers = arrays.of("headers", pair_type, pairs);
            let hsts = option(security.hsts.as_ref().map(|value| {
                quote! { ::edge_runtime::http::HeaderValue::from_static(#value) }
            }));
            (
                "SecurityHeaders",
                quote! { headers: #headers, hsts: #hsts, },
                Build::New,
            )
        }
        PolicyKind::ExtAuth(ext) => {
            let path = &ext.path;
            let forward = ext.forward_headers.iter().map(|h| header_name(h)).collect();
            let forward = arrays.of("forward_headers", header_name_type(), forward);
            let copy = ext.copy_headers.iter().map(|h| header_name(h)).collect();
            let copy = arrays.of("copy_headers", header_name_type(), copy);
            let timeout = duration(ext.timeout);
            let fail_open = ext.fail_open;
            let cache = option(ext.cache.as_ref().map(|cache| {
                let ttl = duration(cache.ttl);
                let key = match &cache.key {
                    None => quote! { ::edge_runtime::AnswerKey::Request },
                    Some(HashKey::ClientIp) => quote! { ::edge_runtime::AnswerKey::ClientIp },
                    Some(HashKey::Path) => quote! { ::edge_runtime::AnswerKey::Path },
                    Some(HashKey::Header(header)) => {
                        let header = header_name(header);
                        quote! { ::edge_runtime::AnswerKey::Header(#header) }
                    }
                    Some(HashKey::Cookie(cookie)) => {
                        quote! { ::edge_runtime::AnswerKey::Cookie(#cookie) }
                    }
                };
                let max_size = Literal::u64_unsuffixed(cache.max_size);
                quote! {
                    ::edge_runtime::AnswerCache { ttl: #ttl, key: #key, max_size: #max_size }
                }
            }));
            (
                "ExtAuth",
                quote! {
                    path: #path,
                    forward_headers: #forward,
                    copy_headers: #copy,
                    timeout: #timeout,
                    fail_open: #fail_open,
                    cache: #cache,
                },
                Build::Pool(ext.pool),
            )
        }
        PolicyKind::Cache(cache) => {
            let (max_size, max_object) = (
                Literal::u64_unsuffixed(cache.max_size),
                Literal::u64_unsuffixed(cache.max_object),
            );
            let key = &cache.key;
            let (host, path, query) = (key.host, key.path, key.query);
            let headers = key.headers.iter().map(|h| header_name(h)).collect();
            let headers = arrays.of("key_headers", header_name_type(), headers);
            let seconds = |d: Option<Duration>| option(d.map(duration));
            let default_ttl = seconds(cache.default_ttl);
            let stale_while_revalidate = seconds(cache.stale_while_revalidate);
            let stale_if_error = seconds(cache.stale_if_error);
            let cache_authorized = cache.cache_authorized;
            (
                "Cache",
                quote! {
                    max_size: #max_size,
                    max_object: #max_object,
                    key: ::edge_runtime::CacheKey {
                        host: #host,
                        path: #path,
                        query: #query,
                        headers: #headers,
                    },
                    default_ttl: #default_ttl,
                    stale_while_revalidate: #stale_while_revalidate,
                    stale_if_error: #stale_if_error,
                    cache_authorized: #cache_authorized,
                },
                Build::Cached,
            )
        }
    };
    let policy_path = format_ident!("{kind}");
    let policy_path = quote! { ::edge_runtime::#policy_path };
    let spec_type = format_ident!("{kind}Spec");
    let policy_type = match build {
        Build::Pool(pool) => {
            let strategy = &pool_types[pool];
            quote! { #policy_path<#strategy> }
        }
        _ => policy_path.clone(),
    };
    Generated {
        spec_type: quote! { ::edge_runtime::#spec_type },
        spec: quote! { ::edge_runtime::#spec_type { name: #name, #fields } },
        policy_type,
        policy_path,
        build,
        store,
        arrays: arrays.statics,
    }
}

fn header_name(name: &str) -> TokenStream {
    quote! { ::edge_runtime::http::HeaderName::from_static(#name) }
}

fn consumer_header(header: Option<&str>) -> TokenStream {
    option(header.map(header_name))
}

/// `(HeaderName, HeaderValue)` literals.
fn header_pairs(pairs: &[(String, String)]) -> Vec<TokenStream> {
    pairs
        .iter()
        .map(|(name, value)| {
            let name = header_name(name);
            quote! { (#name, ::edge_runtime::http::HeaderValue::from_static(#value)) }
        })
        .collect()
}

fn method(method: Method) -> TokenStream {
    let constant = format_ident!("{}", method.as_str());
    quote! { ::edge_runtime::http::Method::#constant }
}

/// The runtime's `JwtAlgorithm` is this type, so its variant is named as `Debug` writes it.
fn algorithm(algorithm: JwtAlgorithm) -> TokenStream {
    let variant = format_ident!("{algorithm:?}");
    quote! { ::edge_runtime::JwtAlgorithm::#variant }
}

fn edits(edits: &HeaderEdits, side: &str, arrays: &mut Arrays<'_>) -> TokenStream {
    if edits.is_none() {
        return quote! { ::edge_runtime::HeaderEdits::NONE };
    }
    let pair_type = quote! {
        (::edge_runtime::http::HeaderName, ::edge_runtime::http::HeaderValue)
    };
    let set = arrays.of(
        &format!("{side}_set"),
        pair_type.clone(),
        header_pairs(&edits.set),
    );
    let add = arrays.of(&format!("{side}_add"), pair_type, header_pairs(&edits.add));
    let remove = edits.remove.iter().map(|h| header_name(h)).collect();
    let remove = arrays.of(&format!("{side}_remove"), header_name_type(), remove);
    quote! {
        ::edge_runtime::HeaderEdits {
            set: #set,
            add: #add,
            remove: #remove,
        }
    }
}

fn access_rule(rule: &AccessRule) -> TokenStream {
    let allow = rule.allow;
    let net = rule.net;
    let addr = ip_addr(net.addr);
    let prefix = Literal::u8_unsuffixed(net.prefix);
    quote! {
        ::edge_runtime::AccessRule {
            allow: #allow,
            net: ::edge_runtime::Cidr { addr: #addr, prefix: #prefix },
        }
    }
}
