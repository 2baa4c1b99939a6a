//! Code generation for policies: each policy's `static` spec, the runtime type that enforces
//! it, and the expression that builds it at start-up.

use edge_dsl::ast::{
    AccessRule, Cache, Coding, HeaderEdits, JwtAlgorithm, JwtKeys, KeySource, LimitAlgorithm,
    LimitKey, Method, PolicyKind, Rewrite, Setting,
};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, ToTokens};

use super::{duration, ip_addr, number, option, ConfigDir};
use crate::model::{self, Policy};

/// What the generated module needs to know about one policy.
pub(super) struct Generated {
    /// The spec's type, such as `::edge_runtime::JwtSpec`.
    pub spec_type: TokenStream,
    /// The spec's value, constant.
    pub spec: TokenStream,
    /// The type of the `Edge` field that enforces it.
    pub policy_type: TokenStream,
    /// Whether building it reads files (`load`, fallible) or not (`new`).
    pub loads: bool,
    /// Whether it is listed in the process's caches when built.
    pub cached: bool,
    /// Statics the spec refers to: arrays of header names and values cannot be temporaries in
    /// a `static` (a `HeaderName` holds `Bytes`, which has interior mutability).
    pub arrays: Vec<TokenStream>,
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

/// `spec` is the name of the spec's `static`.
pub(super) fn generate(
    policy: &Policy,
    spec: &proc_macro2::Ident,
    config_dir: &ConfigDir,
) -> Generated {
    let name = &policy.name;
    let mut arrays = Arrays {
        spec,
        statics: Vec::new(),
    };
    let (kind, fields, loads) = match &policy.kind {
        PolicyKind::Jwt(jwt) => {
            let keys = match &jwt.keys.value {
                JwtKeys::Jwks(file) => {
                    let file = config_dir.path(&file.value);
                    quote! { ::edge_runtime::JwtKeys::Jwks(#file) }
                }
                JwtKeys::Pem(file) => {
                    let file = config_dir.path(&file.value);
                    quote! { ::edge_runtime::JwtKeys::Pem(#file) }
                }
            };
            let algorithms = jwt.algorithms.iter().map(|a| algorithm(a.value));
            let issuers = jwt.issuers.iter().map(|i| &i.value);
            let audiences = jwt.audiences.iter().map(|a| &a.value);
            let leeway = duration(jwt.leeway.as_ref().map_or(model::JWT_LEEWAY, |l| l.value));
            let required: Vec<&str> = match &jwt.required {
                Some(required) => required.iter().map(|r| r.value.as_str()).collect(),
                None => model::JWT_REQUIRED.to_vec(),
            };
            let forward = jwt
                .forward
                .iter()
                .map(|(claim, header)| {
                    let (claim, header) = (&claim.value, header_name(&header.value));
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
                true,
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
            let keys = config_dir.path(&api_key.keys.value);
            let consumer_header = consumer_header(api_key.consumer_header.as_ref());
            (
                "ApiKey",
                quote! { source: #source, keys: #keys, consumer_header: #consumer_header, },
                true,
            )
        }
        PolicyKind::BasicAuth(basic) => {
            let htpasswd = config_dir.path(&basic.htpasswd.value);
            let realm = basic
                .realm
                .as_ref()
                .map_or(model::BASIC_AUTH_REALM, |r| r.value.as_str());
            let consumer_header = consumer_header(basic.consumer_header.as_ref());
            (
                "BasicAuth",
                quote! { htpasswd: #htpasswd, realm: #realm, consumer_header: #consumer_header, },
                true,
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
            let rate = limit.rate.value;
            let (count, per) = (number(rate.count), duration(rate.per));
            let burst = number(limit.burst.as_ref().map_or(rate.count, |b| b.value));
            let algorithm = match limit.algorithm {
                LimitAlgorithm::TokenBucket => {
                    quote! { ::edge_runtime::LimitAlgorithm::TokenBucket }
                }
                LimitAlgorithm::Gcra => quote! { ::edge_runtime::LimitAlgorithm::Gcra },
            };
            let max_keys = number(
                limit
                    .max_keys
                    .as_ref()
                    .map_or(model::RATE_LIMIT_MAX_KEYS, |m| m.value),
            );
            let ipv6_prefix = match &limit.ipv6_prefix {
                Some(prefix) => {
                    let prefix = number(prefix.value);
                    quote! { #prefix }
                }
                None => quote! { ::edge_runtime::RateLimitSpec::IPV6_PREFIX },
            };
            (
                "RateLimit",
                quote! {
                    key: #key,
                    rate: ::edge_runtime::Rate { count: #count, per: #per },
                    burst: #burst,
                    algorithm: #algorithm,
                    max_keys: #max_keys,
                    ipv6_prefix: #ipv6_prefix,
                },
                false,
            )
        }
        PolicyKind::Validate(validate) => {
            let methods = validate.methods.iter().map(|m| method(m.value));
            let required_headers = validate
                .required_headers
                .iter()
                .map(|h| header_name(&h.value))
                .collect();
            let required_headers =
                arrays.of("required_headers", header_name_type(), required_headers);
            let content_types = validate.content_types.iter().map(|c| &c.value);
            let max_body = option(
                validate
                    .max_body
                    .as_ref()
                    .map(|m| Literal::u64_unsuffixed(m.value).into_token_stream()),
            );
            let json_schema = option(
                validate
                    .json_schema
                    .as_ref()
                    .map(|file| config_dir.path(&file.value)),
            );
            (
                "Validate",
                quote! {
                    methods: &[#(#methods),*],
                    required_headers: #required_headers,
                    content_types: &[#(#content_types),*],
                    max_body: #max_body,
                    json_schema: #json_schema,
                },
                true,
            )
        }
        PolicyKind::Cors(cors) => {
            let origins = cors.origins.iter().map(|o| &o.value);
            let methods: Vec<TokenStream> = if cors.methods.is_empty() {
                model::CORS_METHODS.iter().map(|m| method(*m)).collect()
            } else {
                cors.methods.iter().map(|m| method(m.value)).collect()
            };
            let headers = cors.headers.iter().map(|h| header_name(&h.value)).collect();
            let headers = arrays.of("headers", header_name_type(), headers);
            let expose = cors.expose.iter().map(|h| header_name(&h.value)).collect();
            let expose = arrays.of("expose", header_name_type(), expose);
            let credentials = cors.credentials.is_some();
            let max_age = option(cors.max_age.as_ref().map(|m| duration(m.value)));
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
                false,
            )
        }
        PolicyKind::Headers(headers) => {
            let request = edits(&headers.request, "request", &mut arrays);
            let response = edits(&headers.response, "response", &mut arrays);
            (
                "Headers",
                quote! { request: #request, response: #response, },
                false,
            )
        }
        PolicyKind::Rewrite(rewrite) => {
            let rule = match &rewrite.value {
                Rewrite::StripPrefix(prefix) => {
                    quote! { ::edge_runtime::RewriteRule::StripPrefix(#prefix) }
                }
                Rewrite::ReplacePrefix { from, to } => {
                    quote! { ::edge_runtime::RewriteRule::ReplacePrefix { from: #from, to: #to } }
                }
                Rewrite::Regex {
                    pattern,
                    replacement,
                } => {
                    let pattern = &pattern.value;
                    quote! { ::edge_runtime::RewriteRule::Regex { pattern: #pattern, replacement: #replacement } }
                }
            };
            ("Rewrite", quote! { rule: #rule, }, true)
        }
        PolicyKind::Access(rules) => {
            let rules = rules.iter().map(access_rule);
            ("Access", quote! { rules: &[#(#rules),*], }, false)
        }
        PolicyKind::Compress(compress) => {
            let algorithms = if compress.algorithms.is_empty() {
                model::COMPRESS_ALGORITHMS
            } else {
                &compress.algorithms
            };
            let algorithms = algorithms.iter().map(|coding| {
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
            let min_size = Literal::u64_unsuffixed(
                compress
                    .min_size
                    .as_ref()
                    .map_or(model::COMPRESS_MIN_SIZE, |m| m.value),
            );
            let types: Vec<&str> = if compress.types.is_empty() {
                model::COMPRESS_TYPES.to_vec()
            } else {
                compress.types.iter().map(|t| t.value.as_str()).collect()
            };
            (
                "Compress",
                quote! {
                    algorithms: &[#(#algorithms),*],
                    min_size: #min_size,
                    types: &[#(#types),*],
                },
                false,
            )
        }
        PolicyKind::SecurityHeaders(security) => {
            let mut headers: Vec<(&str, String)> = Vec::new();
            let mut preset =
                |name: &'static str, setting: &Setting<String>, default: &str| match setting {
                    Setting::Preset => headers.push((name, default.to_owned())),
                    Setting::Value(value) => headers.push((name, value.clone())),
                    Setting::Off => {}
                };
            preset(
                "x-frame-options",
                &security.frame_options,
                model::SECURITY_FRAME_OPTIONS,
            );
            preset(
                "referrer-policy",
                &security.referrer_policy,
                model::SECURITY_REFERRER_POLICY,
            );
            preset(
                "permissions-policy",
                &security.permissions_policy,
                model::SECURITY_PERMISSIONS_POLICY,
            );
            if security.content_type_options != Setting::Off {
                headers.push((
                    "x-content-type-options",
                    model::SECURITY_CONTENT_TYPE_OPTIONS.to_owned(),
                ));
            }
            if let Some(csp) = &security.csp {
                headers.push(("content-security-policy", csp.clone()));
            }
            let pairs = headers
                .iter()
                .map(|(name, value)| {
                    let name = header_name(name);
                    quote! { (#name, ::edge_runtime::http::HeaderValue::from_static(#value)) }
                })
                .collect();
            let pair_type = quote! {
                (::edge_runtime::http::HeaderName, ::edge_runtime::http::HeaderValue)
            };
            let headers = arrays.of("headers", pair_type, pairs);
            let hsts = match &security.hsts {
                Setting::Off => None,
                Setting::Preset => Some(format!(
                    "max-age={}",
                    model::SECURITY_HSTS_MAX_AGE.as_secs()
                )),
                Setting::Value(hsts) => {
                    let mut value = format!("max-age={}", hsts.max_age.as_secs());
                    if hsts.include_subdomains {
                        value.push_str("; includeSubDomains");
                    }
                    if hsts.preload {
                        value.push_str("; preload");
                    }
                    Some(value)
                }
            };
            let hsts = option(hsts.map(|value| {
                quote! { ::edge_runtime::http::HeaderValue::from_static(#value) }
            }));
            (
                "SecurityHeaders",
                quote! { headers: #headers, hsts: #hsts, },
                false,
            )
        }
        PolicyKind::Cache(cache) => {
            let max_size = cache
                .max_size
                .as_ref()
                .map_or(Cache::DEFAULT_MAX_SIZE, |size| size.value);
            let max_object = cache
                .max_object
                .as_ref()
                .map_or(Cache::DEFAULT_MAX_OBJECT.min(max_size), |object| {
                    object.value
                });
            let (max_size, max_object) = (
                Literal::u64_unsuffixed(max_size),
                Literal::u64_unsuffixed(max_object),
            );
            let key = cache.key.clone().unwrap_or(model::CACHE_KEY);
            let (host, path, query) = (key.host, key.path, key.query);
            let headers = key.headers.iter().map(|h| header_name(h)).collect();
            let headers = arrays.of("key_headers", header_name_type(), headers);
            let seconds = |d: &Option<edge_dsl::Spanned<std::time::Duration>>| {
                option(d.as_ref().map(|d| duration(d.value)))
            };
            let default_ttl = seconds(&cache.default_ttl);
            let stale_while_revalidate = seconds(&cache.stale_while_revalidate);
            let stale_if_error = seconds(&cache.stale_if_error);
            let cache_authorized = cache.cache_authorized.is_some();
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
                false,
            )
        }
    };
    let policy_type = format_ident!("{kind}");
    let spec_type = format_ident!("{kind}Spec");
    Generated {
        spec_type: quote! { ::edge_runtime::#spec_type },
        spec: quote! { ::edge_runtime::#spec_type { name: #name, #fields } },
        policy_type: quote! { ::edge_runtime::#policy_type },
        loads,
        cached: kind == "Cache",
        arrays: arrays.statics,
    }
}

fn header_name(name: &str) -> TokenStream {
    quote! { ::edge_runtime::http::HeaderName::from_static(#name) }
}

fn consumer_header(header: Option<&edge_dsl::Spanned<String>>) -> TokenStream {
    option(header.map(|h| header_name(&h.value)))
}

fn method(method: Method) -> TokenStream {
    let constant = format_ident!("{}", method.as_str());
    quote! { ::edge_runtime::http::Method::#constant }
}

fn algorithm(algorithm: JwtAlgorithm) -> TokenStream {
    let variant = match algorithm {
        JwtAlgorithm::Hs256 => "Hs256",
        JwtAlgorithm::Hs384 => "Hs384",
        JwtAlgorithm::Hs512 => "Hs512",
        JwtAlgorithm::Rs256 => "Rs256",
        JwtAlgorithm::Rs384 => "Rs384",
        JwtAlgorithm::Rs512 => "Rs512",
        JwtAlgorithm::Ps256 => "Ps256",
        JwtAlgorithm::Ps384 => "Ps384",
        JwtAlgorithm::Ps512 => "Ps512",
        JwtAlgorithm::Es256 => "Es256",
        JwtAlgorithm::Es384 => "Es384",
        JwtAlgorithm::EdDsa => "EdDsa",
    };
    let variant = format_ident!("{variant}");
    quote! { ::edge_runtime::JwtAlgorithm::#variant }
}

fn edits(edits: &HeaderEdits, side: &str, arrays: &mut Arrays<'_>) -> TokenStream {
    if edits.set.is_empty() && edits.add.is_empty() && edits.remove.is_empty() {
        return quote! { ::edge_runtime::HeaderEdits::NONE };
    }
    let pairs = |list: &[(edge_dsl::Spanned<String>, edge_dsl::Spanned<String>)]| {
        list.iter()
            .map(|(name, value)| {
                let (name, value) = (header_name(&name.value), &value.value);
                quote! { (#name, ::edge_runtime::http::HeaderValue::from_static(#value)) }
            })
            .collect::<Vec<_>>()
    };
    let pair_type = quote! {
        (::edge_runtime::http::HeaderName, ::edge_runtime::http::HeaderValue)
    };
    let set = arrays.of(&format!("{side}_set"), pair_type.clone(), pairs(&edits.set));
    let add = arrays.of(&format!("{side}_add"), pair_type, pairs(&edits.add));
    let remove = edits.remove.iter().map(|h| header_name(&h.value)).collect();
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
    let net = rule.net.value;
    let addr = ip_addr(net.addr);
    let prefix = Literal::u8_unsuffixed(net.prefix);
    quote! {
        ::edge_runtime::AccessRule {
            allow: #allow,
            net: ::edge_runtime::Cidr { addr: #addr, prefix: #prefix },
        }
    }
}
