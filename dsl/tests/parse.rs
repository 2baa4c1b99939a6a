//! Parser tests: what valid files lower to, spans included. Error output is covered by the UI
//! tests in `tests/ui`.

use std::time::Duration;

use edge_dsl::ast::{Action, Address, HostPattern, Method, PathMatch};
use edge_dsl::{parse, SourceFile, Span};

fn parse_ok(text: &str) -> edge_dsl::ast::Config {
    let source = SourceFile::new("test.edge", text);
    parse(&source).unwrap_or_else(|diagnostics| panic!("{}", source.render(&diagnostics)))
}

#[test]
fn lowers_every_directive_with_typed_literals() {
    let config = parse_ok(
        r#"
# a comment
listener web {
    bind [::1]:8080   # trailing comment
    max_header_size 16KiB
    header_timeout 2m
}

pool app {
    balance round_robin
    server 10.0.0.1:80
    server users.internal:8080
    timeouts { connect 250ms; response 1h }
}

route r {
    on web
    host "API.example.com" "*.example.org"
    path = /health
    methods GET, HEAD
    respond 503 "down\t\"now\"\n"
}

route f { on web; path /static/; forward app }
"#,
    );
    let listener = &config.listeners[0];
    assert_eq!(listener.bind.value, "[::1]:8080".parse().unwrap());
    assert_eq!(listener.max_header_size.as_ref().unwrap().value, 16 * 1024);
    assert_eq!(
        listener.header_timeout.as_ref().unwrap().value,
        Duration::from_secs(120)
    );

    let pool = &config.pools[0];
    assert_eq!(
        pool.balance.as_ref().unwrap().value,
        edge_dsl::ast::Balance::RoundRobin
    );
    assert_eq!(
        pool.servers[0].address.value,
        Address::Socket("10.0.0.1:80".parse().unwrap())
    );
    assert_eq!(
        pool.servers[1].address.value,
        Address::Name {
            host: "users.internal".into(),
            port: 8080
        }
    );
    assert_eq!(
        pool.timeouts.connect.as_ref().unwrap().value,
        Duration::from_millis(250)
    );
    assert_eq!(
        pool.timeouts.response.as_ref().unwrap().value,
        Duration::from_secs(3600)
    );
    assert!(pool.timeouts.idle.is_none());

    let route = &config.routes[0];
    assert_eq!(
        route
            .hosts
            .iter()
            .map(|h| h.value.clone())
            .collect::<Vec<_>>(),
        [
            HostPattern::Exact("api.example.com".into()),
            HostPattern::Suffix(".example.org".into())
        ]
    );
    assert_eq!(
        route.path.as_ref().unwrap().value,
        PathMatch::Exact("/health".into())
    );
    assert_eq!(
        route.methods.iter().map(|m| m.value).collect::<Vec<_>>(),
        [Method::Get, Method::Head]
    );
    let Action::Respond { status, body } = &route.action.value else {
        panic!("a respond action")
    };
    assert_eq!(status.value, 503);
    assert_eq!(body.as_ref().unwrap().value, "down\t\"now\"\n");

    let forward = &config.routes[1];
    assert_eq!(
        forward.path.as_ref().unwrap().value,
        PathMatch::Prefix("/static/".into())
    );
    assert!(matches!(&forward.action.value, Action::Forward(pool) if pool.value == "app"));
}

#[test]
fn every_node_carries_the_span_of_its_source() {
    let text = "listener web {\n    bind 127.0.0.1:80\n}\nroute r { on web; respond 200 }\n";
    let config = parse_ok(text);
    let span = |s: Span| &text[s.start..s.end];
    assert_eq!(span(config.listeners[0].name.span), "web");
    assert_eq!(span(config.listeners[0].span), "listener web");
    assert_eq!(span(config.listeners[0].bind.span), "127.0.0.1:80");
    assert_eq!(span(config.routes[0].on.span), "web");
    assert_eq!(span(config.routes[0].action.span), "respond 200");
}

#[test]
fn an_empty_file_is_an_empty_config() {
    let config = parse_ok("\n# nothing here\n\n");
    assert!(config.listeners.is_empty() && config.pools.is_empty() && config.routes.is_empty());
}

#[test]
fn rejects_bad_input_without_panicking() {
    for text in [
        "listener",
        "{",
        "}",
        "listener web {",
        "route r { on web; respond }",
        "listener web { bind \"unterminated }",
        "pool p { server 1.2.3.4:0 }",
        "listener web { bind 127.0.0.1:80 } listener",
        "route r { path }",
        "\u{0}",
        "listener wéb { bind 127.0.0.1:80 }",
    ] {
        let source = SourceFile::new("bad.edge", text);
        let diagnostics = parse(&source).expect_err(text);
        assert!(!diagnostics.is_empty());
        assert!(!source.render(&diagnostics).is_empty());
    }
}

#[test]
fn lowers_load_balancing_directives() {
    use edge_dsl::ast::{Balance, HashKey, HealthCheck, RetryOn, StatusRange};
    let config = parse_ok(
        r#"
pool app {
    balance hash header("X-User")
    server 10.0.0.1:80 weight 3 max_conns 50
    server 10.0.0.2:80 backup
    health http {
        path "/healthz"
        expect 200..299
        interval 200ms
        rise 1
    }
    passive { max_fails 2; fail_timeout 2s; consecutive_5xx 5 }
    retry 2 on connect_error 5xx
}
pool other {
    balance hash cookie("sid")
    server 10.0.0.3:80
    dns_srv "_http._tcp.Users.internal."
    health tcp
}
pool plain { server 10.0.0.4:80 }
"#,
    );
    let pool = &config.pools[0];
    assert_eq!(
        pool.balance.as_ref().unwrap().value,
        Balance::Hash(HashKey::Header("x-user".into()))
    );
    assert_eq!(pool.servers[0].weight.as_ref().unwrap().value, 3);
    assert_eq!(pool.servers[0].max_conns.as_ref().unwrap().value, 50);
    assert!(pool.servers[0].backup.is_none() && pool.servers[1].backup.is_some());
    let health = &pool.health.as_ref().unwrap().value;
    let HealthCheck::Http { path, expect } = &health.check else {
        panic!("an http check")
    };
    assert_eq!(path.as_ref().unwrap().value, "/healthz");
    assert_eq!(
        expect.as_ref().unwrap().value,
        StatusRange { min: 200, max: 299 }
    );
    assert_eq!(
        health.interval.as_ref().unwrap().value,
        Duration::from_millis(200)
    );
    assert_eq!(health.rise.as_ref().unwrap().value, 1);
    assert!(health.fall.is_none() && health.timeout.is_none());
    let passive = &pool.passive.as_ref().unwrap().value;
    assert_eq!(passive.max_fails.as_ref().unwrap().value, 2);
    assert_eq!(passive.consecutive_5xx.as_ref().unwrap().value, 5);
    let retry = &pool.retry.as_ref().unwrap().value;
    assert_eq!(retry.attempts.value, 2);
    assert_eq!(
        retry.on.iter().map(|on| on.value).collect::<Vec<_>>(),
        [RetryOn::ConnectError, RetryOn::Status5xx]
    );
    let other = &config.pools[1];
    assert_eq!(
        other.balance.as_ref().unwrap().value,
        Balance::Hash(HashKey::Cookie("sid".into()))
    );
    assert!(matches!(
        other.health.as_ref().unwrap().value.check,
        HealthCheck::Tcp
    ));
    // Left out, the strategy is left to the compiler's defaults.
    assert!(config.pools[2].balance.is_none());
}

#[test]
fn lowers_https_servers_and_a_pool_tls_block() {
    let config = parse_ok(
        r#"
pool secure {
    server https://api.internal
    server https://10.0.0.5:8443
    server https://[::1]
    server 10.0.0.6:8080
    tls {
        ca "ca.pem"
        sni "API.internal"
        cert "client.crt"
        key "client.key"
        verify off
    }
    timeouts { tunnel 30m }
}

pool plain { server 10.0.0.7:80 }
"#,
    );
    let secure = &config.pools[0];
    let servers: Vec<(Address, bool)> = secure
        .servers
        .iter()
        .map(|s| (s.address.value.clone(), s.https))
        .collect();
    assert_eq!(
        servers,
        [
            (
                Address::Name {
                    host: "api.internal".into(),
                    port: 443
                },
                true
            ),
            (Address::Socket("10.0.0.5:8443".parse().unwrap()), true),
            (Address::Socket("[::1]:443".parse().unwrap()), true),
            (Address::Socket("10.0.0.6:8080".parse().unwrap()), false),
        ]
    );
    let tls = &secure.tls.as_ref().unwrap().value;
    assert_eq!(tls.ca.as_ref().unwrap().value, "ca.pem");
    assert_eq!(tls.sni.as_ref().unwrap().value, "api.internal");
    let (cert, key) = tls.client_cert.as_ref().unwrap();
    assert_eq!(
        (cert.value.as_str(), key.value.as_str()),
        ("client.crt", "client.key")
    );
    assert!(!tls.verify.as_ref().unwrap().value);
    assert_eq!(
        secure.timeouts.tunnel.as_ref().unwrap().value,
        Duration::from_secs(1800)
    );
    let plain = &config.pools[1];
    assert!(plain.tls.is_none() && !plain.servers[0].https);
}

#[test]
fn lowers_stores_and_the_rate_limits_that_use_them() {
    let config = parse_ok(
        r#"
store shared = redis {
    url "rediss://edge@redis.internal:6380/3"
    password_env REDIS_PASSWORD
    timeout 20ms
    prefix "edge:gateway:"
}

store local_redis = redis { url "redis://[::1]"; password_file "secrets/redis.pass" }
store plain = redis { url "redis://127.0.0.1:6379/0" }

policy limit = rate_limit {
    rate 20/s
    store shared
    on_store_error deny
}
"#,
    );
    use edge_dsl::ast::{OnStoreError, StoreKind, StorePassword};
    let redis = |index: usize| {
        let StoreKind::Redis(redis) = &config.stores[index].kind.value else {
            panic!("a redis store");
        };
        redis
    };
    let shared = redis(0);
    assert_eq!(config.stores[0].name.value, "shared");
    assert_eq!(shared.url.value, "rediss://edge@redis.internal:6380/3");
    let shared = &shared.options;
    assert!(matches!(
        &shared.password.as_ref().unwrap().value,
        StorePassword::Env(name) if name.value == "REDIS_PASSWORD"
    ));
    assert_eq!(
        shared.timeout.as_ref().unwrap().value,
        Duration::from_millis(20)
    );
    assert_eq!(shared.prefix.as_ref().unwrap().value, "edge:gateway:");
    assert!(matches!(
        &redis(1).options.password.as_ref().unwrap().value,
        StorePassword::File(file) if file.value == "secrets/redis.pass"
    ));
    let plain = &redis(2).options;
    assert!(plain.password.is_none() && plain.timeout.is_none() && plain.prefix.is_none());

    let edge_dsl::ast::PolicyKind::RateLimit(limit) = &config.policies[0].kind.value else {
        panic!("a rate limit");
    };
    assert_eq!(limit.store.as_ref().unwrap().value, "shared");
    assert_eq!(
        limit.on_store_error.as_ref().unwrap().value,
        OnStoreError::Deny
    );
}

#[test]
fn lowers_a_redis_cluster_store_like_a_redis_one() {
    let config = parse_ok(
        r#"
store shared = redis_cluster {
    nodes "redis://10.0.0.1:7000" "redis://10.0.0.2:7000/0", "redis://[::1]:7000" "redis://Redis.Internal"
    password_file "secrets/redis.pass"
    timeout 20ms
    prefix "edge:gw:"
}

store seed = redis_cluster { nodes "rediss://edge@redis.internal:7000"; password_env REDIS_PASSWORD }

policy limit = rate_limit {
    rate 20/s
    store shared
}
"#,
    );
    use edge_dsl::ast::{StoreKind, StorePassword};
    let cluster = |index: usize| {
        let StoreKind::RedisCluster(cluster) = &config.stores[index].kind.value else {
            panic!("a redis_cluster store");
        };
        cluster
    };
    let shared = cluster(0);
    let nodes: Vec<&str> = shared.nodes.iter().map(|n| n.value.as_str()).collect();
    assert_eq!(
        nodes,
        [
            "redis://10.0.0.1:7000",
            "redis://10.0.0.2:7000/0",
            "redis://[::1]:7000",
            "redis://Redis.Internal"
        ]
    );
    let options = config.stores[0].kind.value.options();
    assert!(matches!(
        &options.password.as_ref().unwrap().value,
        StorePassword::File(file) if file.value == "secrets/redis.pass"
    ));
    assert_eq!(
        options.timeout.as_ref().unwrap().value,
        Duration::from_millis(20)
    );
    assert_eq!(options.prefix.as_ref().unwrap().value, "edge:gw:");
    let seed = cluster(1);
    assert_eq!(seed.nodes.len(), 1);
    assert!(matches!(
        &seed.options.password.as_ref().unwrap().value,
        StorePassword::Env(name) if name.value == "REDIS_PASSWORD"
    ));
    assert!(seed.options.timeout.is_none() && seed.options.prefix.is_none());
}

#[test]
fn lowers_a_redis_sentinel_store_with_the_sentinels_port_filled_in() {
    let config = parse_ok(
        r#"
store shared = redis_sentinel {
    sentinels "redis://10.0.0.1" "redis://10.0.0.2:26380" "redis://[::1]"
    master "mymaster"
    database 2
    password_env REDIS_PASSWORD
    timeout 10ms
}

store tls = redis_sentinel { sentinels "rediss://Sentinel.Internal"; master "edge-primary" }

policy limit = rate_limit {
    rate 20/s
    store shared
}
"#,
    );
    use edge_dsl::ast::StoreKind;
    let sentinel = |index: usize| {
        let StoreKind::RedisSentinel(sentinel) = &config.stores[index].kind.value else {
            panic!("a redis_sentinel store");
        };
        sentinel
    };
    let shared = sentinel(0);
    let sentinels: Vec<&str> = shared.sentinels.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(
        sentinels,
        [
            "redis://10.0.0.1:26379",
            "redis://10.0.0.2:26380",
            "redis://[::1]:26379"
        ]
    );
    assert_eq!(shared.master.value, "mymaster");
    assert_eq!(shared.database.as_ref().unwrap().value, 2);
    assert!(shared.options.password.is_some());
    let tls = sentinel(1);
    assert_eq!(tls.sentinels[0].value, "rediss://sentinel.internal:26379");
    assert_eq!(tls.master.value, "edge-primary");
    assert!(tls.database.is_none());
}

#[test]
fn tracing_takes_its_receiver_share_and_service() {
    let config = parse_ok("tracing {\n    otlp \"http://collector:4318\"\n}\n");
    let tracing = config.tracing.unwrap().value;
    assert_eq!(
        tracing.otlp, "http://collector:4318/v1/traces",
        "the standard path added"
    );
    assert_eq!((tracing.sample, tracing.service.as_str()), (10_000, "edge"));
    let config = parse_ok(
        "tracing {\n    otlp \"http://[::1]:9000/otlp/traces\"\n    sample 0.5%\n    \
         service \"gateway eu\"\n}\n",
    );
    let tracing = config.tracing.unwrap().value;
    assert_eq!(
        tracing.otlp, "http://[::1]:9000/otlp/traces",
        "a path is kept"
    );
    assert_eq!(
        (tracing.sample, tracing.service.as_str()),
        (50, "gateway eu")
    );
    let slash = parse_ok("tracing {\n    otlp \"http://127.0.0.1:4318/\"\n}\n");
    assert_eq!(
        slash.tracing.unwrap().value.otlp,
        "http://127.0.0.1:4318/v1/traces"
    );
}
