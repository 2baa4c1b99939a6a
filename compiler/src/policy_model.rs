//! A policy as written becomes the Model's: every file it names checked, its patterns
//! compiled, the store it names resolved, every default applied and the `security_headers`
//! preset resolved.

use crate::files::{self, Folder};

use edge_dsl::ast::{self, KeySource, PolicyKind, Setting};
use edge_dsl::{Diagnostic, Ident, Spanned};
use edge_formats::public_key::Algorithms;

use crate::model::{self, defaults};
use crate::policy_files;

/// The checker's resolution of the names a policy gives to their indices.
pub struct Named<'a> {
    pub store: &'a dyn Fn(&Ident) -> Result<usize, Diagnostic>,
    pub pool: &'a dyn Fn(&Ident) -> Result<usize, Diagnostic>,
}

/// The policy's Model; `None` (and diagnostics) when a file, pattern, store or pool it names is
/// unusable.
pub fn policy(
    policy: &ast::Policy,
    folder: &Folder,
    named: &Named<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<model::Policy> {
    let kind = match &policy.kind.value {
        PolicyKind::Jwt(jwt) => self::jwt(jwt, folder).map(model::PolicyKind::Jwt),
        PolicyKind::ApiKey(api_key) => policy_files::api_keys(folder, &api_key.keys).map(|keys| {
            model::PolicyKind::ApiKey(model::ApiKey {
                source: api_key
                    .source
                    .clone()
                    .unwrap_or_else(|| KeySource::Header(defaults::API_KEY_HEADER.to_owned())),
                keys: keys.display().to_string(),
                consumer_header: value(&api_key.consumer_header),
            })
        }),
        PolicyKind::BasicAuth(basic) => {
            policy_files::htpasswd(folder, &basic.htpasswd).map(|htpasswd| {
                model::PolicyKind::BasicAuth(model::BasicAuth {
                    htpasswd: htpasswd.display().to_string(),
                    realm: value(&basic.realm)
                        .unwrap_or_else(|| defaults::BASIC_AUTH_REALM.to_owned()),
                    consumer_header: value(&basic.consumer_header),
                })
            })
        }
        PolicyKind::Validate(validate) => self::validate(validate, folder),
        PolicyKind::Rewrite(rewrite) => self::rewrite(&rewrite.value),
        PolicyKind::RateLimit(limit) => rate_limit(limit, named.store),
        PolicyKind::ExtAuth(ext) => ext_auth(ext, named.pool),
        PolicyKind::Cors(cors) => Ok(self::cors(cors)),
        PolicyKind::Headers(headers) => Ok(model::PolicyKind::Headers(model::Headers {
            request: edits(&headers.request),
            response: edits(&headers.response),
        })),
        PolicyKind::Access(rules) => Ok(model::PolicyKind::Access(model::Access {
            rules: rules
                .iter()
                .map(|rule| model::AccessRule {
                    allow: rule.allow,
                    net: rule.net.value,
                })
                .collect(),
        })),
        PolicyKind::Compress(compress) => Ok(self::compress(compress)),
        PolicyKind::SecurityHeaders(security) => Ok(security_headers(security)),
        PolicyKind::Cache(cache) => Ok(self::cache(cache)),
    };
    match kind {
        Ok(kind) => Some(model::Policy {
            name: policy.name.value.clone(),
            kind,
        }),
        Err(error) => {
            out.push(error);
            None
        }
    }
}

fn value<T: Clone>(spanned: &Option<Spanned<T>>) -> Option<T> {
    spanned.as_ref().map(|s| s.value.clone())
}

fn values<T: Clone>(spanned: &[Spanned<T>]) -> Vec<T> {
    spanned.iter().map(|s| s.value.clone()).collect()
}

fn jwt(jwt: &ast::Jwt, folder: &Folder) -> Result<model::Jwt, Diagnostic> {
    let algorithms = values(&jwt.algorithms);
    let allowed = Algorithms::allowed(&algorithms);
    let keys = match &jwt.keys.value {
        ast::JwtKeys::Jwks(file) => model::JwtKeys::Jwks(
            policy_files::jwks(folder, file, allowed)?
                .display()
                .to_string(),
        ),
        ast::JwtKeys::Pem(file) => model::JwtKeys::Pem(
            policy_files::public_key(folder, file, allowed)?
                .display()
                .to_string(),
        ),
        ast::JwtKeys::Url { url, ca } => model::JwtKeys::Url {
            url: url.value.clone(),
            ca: match ca {
                Some(ca) => Some(files::ca_bundle(folder, ca)?.display().to_string()),
                None => None,
            },
        },
    };
    Ok(model::Jwt {
        keys,
        algorithms,
        issuers: values(&jwt.issuers),
        audiences: values(&jwt.audiences),
        leeway: value(&jwt.leeway).unwrap_or(defaults::JWT_LEEWAY),
        required: match &jwt.required {
            Some(required) => values(required),
            None => defaults::JWT_REQUIRED
                .iter()
                .map(|claim| (*claim).to_owned())
                .collect(),
        },
        forward: jwt
            .forward
            .iter()
            .map(|(claim, header)| model::ForwardClaim {
                claim: claim.value.clone(),
                header: header.value.clone(),
            })
            .collect(),
    })
}

fn validate(validate: &ast::Validate, folder: &Folder) -> Result<model::PolicyKind, Diagnostic> {
    let json_schema = match &validate.json_schema {
        Some(file) => Some(
            policy_files::json_schema(folder, file)?
                .display()
                .to_string(),
        ),
        None => None,
    };
    Ok(model::PolicyKind::Validate(model::Validate {
        methods: values(&validate.methods),
        required_headers: values(&validate.required_headers),
        content_types: values(&validate.content_types),
        max_body: value(&validate.max_body),
        json_schema,
    }))
}

fn rewrite(rewrite: &ast::Rewrite) -> Result<model::PolicyKind, Diagnostic> {
    let rule = match rewrite {
        ast::Rewrite::StripPrefix(prefix) => model::RewriteRule::StripPrefix(prefix.clone()),
        ast::Rewrite::ReplacePrefix { from, to } => model::RewriteRule::ReplacePrefix {
            from: from.clone(),
            to: to.clone(),
        },
        ast::Rewrite::Regex {
            pattern,
            replacement,
        } => {
            policy_files::regex(pattern)?;
            model::RewriteRule::Regex {
                pattern: pattern.value.clone(),
                replacement: replacement.clone(),
            }
        }
    };
    Ok(model::PolicyKind::Rewrite(model::Rewrite { rule }))
}

/// An `ext_auth` policy with its pool resolved and its defaults applied.
fn ext_auth(
    ext: &ast::ExtAuth,
    pool_named: &dyn Fn(&Ident) -> Result<usize, Diagnostic>,
) -> Result<model::PolicyKind, Diagnostic> {
    Ok(model::PolicyKind::ExtAuth(model::ExtAuth {
        pool: pool_named(&ext.pool)?,
        path: ext.path.value.clone(),
        forward_headers: match &ext.forward_headers {
            Some(names) => values(names),
            None => defaults::EXT_AUTH_FORWARD_HEADERS
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
        },
        copy_headers: values(&ext.copy_headers),
        timeout: value(&ext.timeout).unwrap_or(defaults::EXT_AUTH_TIMEOUT),
        fail_open: value(&ext.fail_open).unwrap_or(false),
        cache: ext.cache.as_ref().map(|cache| model::AnswerCache {
            ttl: cache.ttl.value,
            key: value(&cache.key),
            max_size: value(&cache.max_size).unwrap_or(defaults::EXT_AUTH_CACHE_MAX_SIZE),
        }),
    }))
}

/// A rate limit; its burst is its rate's count unless given.
fn rate_limit(
    limit: &ast::RateLimit,
    store_named: &dyn Fn(&Ident) -> Result<usize, Diagnostic>,
) -> Result<model::PolicyKind, Diagnostic> {
    let store = limit.store.as_ref().map(store_named).transpose()?;
    Ok(model::PolicyKind::RateLimit(model::RateLimit {
        key: value(&limit.key).unwrap_or(defaults::RATE_LIMIT_KEY),
        rate: limit.rate.value,
        burst: value(&limit.burst).unwrap_or(limit.rate.value.count),
        algorithm: limit.algorithm.unwrap_or(defaults::RATE_LIMIT_ALGORITHM),
        max_keys: value(&limit.max_keys).unwrap_or(defaults::RATE_LIMIT_MAX_KEYS),
        ipv6_prefix: value(&limit.ipv6_prefix),
        store,
        on_store_error: value(&limit.on_store_error).unwrap_or(defaults::RATE_LIMIT_ON_STORE_ERROR),
    }))
}

fn cors(cors: &ast::Cors) -> model::PolicyKind {
    model::PolicyKind::Cors(model::Cors {
        origins: values(&cors.origins),
        methods: if cors.methods.is_empty() {
            defaults::CORS_METHODS.to_vec()
        } else {
            values(&cors.methods)
        },
        headers: values(&cors.headers),
        expose: values(&cors.expose),
        credentials: cors.credentials.is_some(),
        max_age: value(&cors.max_age),
    })
}

fn edits(edits: &ast::HeaderEdits) -> model::HeaderEdits {
    let pairs = |list: &[(Spanned<String>, Spanned<String>)]| {
        list.iter()
            .map(|(name, value)| (name.value.clone(), value.value.clone()))
            .collect()
    };
    model::HeaderEdits {
        set: pairs(&edits.set),
        add: pairs(&edits.add),
        remove: values(&edits.remove),
    }
}

fn compress(compress: &ast::Compress) -> model::PolicyKind {
    model::PolicyKind::Compress(model::Compress {
        algorithms: if compress.algorithms.is_empty() {
            defaults::COMPRESS_ALGORITHMS.to_vec()
        } else {
            compress.algorithms.clone()
        },
        min_size: value(&compress.min_size).unwrap_or(defaults::COMPRESS_MIN_SIZE),
        types: if compress.types.is_empty() {
            defaults::COMPRESS_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect()
        } else {
            values(&compress.types)
        },
    })
}

/// The preset's headers with the policy's overrides, in the order they are added.
fn security_headers(security: &ast::SecurityHeaders) -> model::PolicyKind {
    let mut headers = Vec::new();
    let mut preset = |name: &str, setting: &Setting<String>, default: &str| match setting {
        Setting::Preset => headers.push((name.to_owned(), default.to_owned())),
        Setting::Value(value) => headers.push((name.to_owned(), value.clone())),
        Setting::Off => {}
    };
    preset(
        "x-frame-options",
        &security.frame_options,
        defaults::SECURITY_FRAME_OPTIONS,
    );
    preset(
        "referrer-policy",
        &security.referrer_policy,
        defaults::SECURITY_REFERRER_POLICY,
    );
    preset(
        "permissions-policy",
        &security.permissions_policy,
        defaults::SECURITY_PERMISSIONS_POLICY,
    );
    if security.content_type_options != Setting::Off {
        headers.push((
            "x-content-type-options".to_owned(),
            defaults::SECURITY_CONTENT_TYPE_OPTIONS.to_owned(),
        ));
    }
    if let Some(csp) = &security.csp {
        headers.push(("content-security-policy".to_owned(), csp.clone()));
    }
    let hsts = match &security.hsts {
        Setting::Off => None,
        Setting::Preset => Some(format!(
            "max-age={}",
            defaults::SECURITY_HSTS_MAX_AGE.as_secs()
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
    model::PolicyKind::SecurityHeaders(model::SecurityHeaders { headers, hsts })
}

fn cache(cache: &ast::Cache) -> model::PolicyKind {
    let max_size = value(&cache.max_size).unwrap_or(defaults::CACHE_MAX_SIZE);
    model::PolicyKind::Cache(model::Cache {
        max_size,
        max_object: value(&cache.max_object).unwrap_or(defaults::CACHE_MAX_OBJECT.min(max_size)),
        key: cache.key.clone().unwrap_or(defaults::CACHE_KEY),
        default_ttl: value(&cache.default_ttl),
        stale_while_revalidate: value(&cache.stale_while_revalidate),
        stale_if_error: value(&cache.stale_if_error),
        cache_authorized: cache.cache_authorized.is_some(),
    })
}
