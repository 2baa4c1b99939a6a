//! Steering servers without a rebuild, through the admin listener (HAProxy's runtime API,
//! Envoy's admin): `POST /pools/POOL/servers/SERVER` with `{"state": "drain"}` drains a server
//! (no new requests; those in flight finish), `"maintenance"` takes it out now (no new
//! requests, idle connections closed, health checks paused) and `"ready"` brings it back;
//! `{"weight": N}` gives it another weight (1 to 1,000,000, the language's range), alone or
//! beside a state. `SERVER` is an address as `/status` shows it (`10.0.0.11:8080`,
//! `[::1]:8080`), or the `host:port` a pool's server was given by, which steers every address
//! found for it; either may be percent-encoded (`10.0.0.11%3A8080`), as the page's script
//! sends it.
//!
//! Every strategy honours weights (round robin, least connections, random, peak EWMA and
//! consistent hashing), so a weight is refused for none; hashing counts at most 64 of it on
//! its ring, as it does the config's weights. A new weight builds the pool's server set again
//! (its strategy's table with it) and swaps it in, as a name's refresh does: picks follow at
//! once, and read no lock the admin side takes.
//!
//! The body must be sent as `Content-Type: application/json`, which a page of another site
//! cannot send without a CORS preflight (never answered): a page a browser on the admin's
//! network opens cannot steer servers. Each change is logged with the pool, the server, the
//! state or weight and the peer that asked, and `/status` shows it with when and by whom. A
//! change holds until another one, a restart, or a server the pool no longer lists (an address
//! a name stopped resolving to); an upgrade carries it over (a weight with [`adopt_weight`],
//! unless the new config gives the server another weight).

use std::{borrow::Cow, fmt, net::SocketAddr};

use http::{header::CONTENT_TYPE, HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::upstream::{
    backend::{Steering, MAX_WEIGHT},
    pools::Pools,
};

/// The most a change may hold, in bytes.
const MAX_CHANGE: usize = 1024;

/// The path's pool and server, for a `POST /pools/POOL/servers/SERVER`, percent-decoded: a
/// browser's `encodeURIComponent` sends `127.0.0.1%3A8080`.
pub(super) fn target(path: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let rest = path.strip_prefix("/pools/")?;
    let (pool, server) = rest.split_once("/servers/")?;
    let decoded = |part| percent_encoding::percent_decode_str(part).decode_utf8_lossy();
    (!pool.is_empty() && !server.is_empty() && !server.contains('/'))
        .then(|| (decoded(pool), decoded(server)))
}

/// Why a change was refused: the status to answer, and the reason, one line.
pub(super) type Refused = (StatusCode, String);

/// Sets the state and weight the body names on the server `server` of `pool`, as `peer`
/// asked; the JSON of the servers changed with their state and weight, or `404` for an
/// unknown pool or server (naming the known ones), `400` for a body that is not a change
/// ([`BadChange`]).
pub(super) async fn steer(
    (pool, server): (&str, &str),
    (headers, body): (&HeaderMap, Incoming),
    pools: &Pools,
    peer: SocketAddr,
) -> Result<String, Refused> {
    let json_sent = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json_sent {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the change as Content-Type: application/json\n".to_owned(),
        ));
    }
    let named = pools
        .servers(pool, server)
        .map_err(|unknown| (StatusCode::NOT_FOUND, format!("{unknown}\n")))?;
    let Ok(body) = Limited::new(body, MAX_CHANGE).collect().await else {
        let reason = format!("a change is at most {MAX_CHANGE} bytes\n");
        return Err((StatusCode::PAYLOAD_TOO_LARGE, reason));
    };
    let change = Change::read(&body.to_bytes())
        .map_err(|bad| (StatusCode::BAD_REQUEST, format!("{bad}\n")))?;
    let by = peer.ip().to_string();
    let pool = named.pool;
    if let Some(state) = change.state {
        for backend in &named.backends {
            backend.steer(state, by.clone());
            tracing::info!(
                pool,
                server = %backend,
                state = state.name(),
                by = %by,
                "server state changed through the admin API"
            );
        }
    }
    if let Some(weight) = change.weight {
        named.reweigh(weight, &by);
        for backend in &named.backends {
            tracing::info!(
                pool,
                server = %backend,
                weight,
                configured = backend.spec.weight,
                by = %by,
                "server weight changed through the admin API"
            );
        }
    }
    let changed: Vec<serde_json::Value> = named
        .backends
        .iter()
        .map(|backend| {
            serde_json::json!({
                "server": backend.spec.upstream.to_string(),
                "state": backend.steering().name(),
                "weight": backend.weight(),
            })
        })
        .collect();
    Ok(serde_json::json!({ "pool": pool, "servers": changed }).to_string())
}

/// What a change's body asks: `{"state": "drain"}`, `{"weight": 3}`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Change {
    state: Option<Steering>,
    weight: Option<u32>,
}

/// Why a change's body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BadChange {
    /// Not a JSON object.
    NotAnObject,
    /// An object naming neither a state nor a weight.
    Nothing,
    UnknownField(String),
    /// A `state` that is not one of the states' names (the value as sent).
    UnknownState(String),
    /// A `weight` that is not a whole number (the value as sent).
    NotWhole(String),
    /// A whole `weight` outside 1 ..= [`MAX_WEIGHT`].
    OutOfRange(String),
}

const FORM: &str = "the body is {\"state\": \"drain\"} (or \"maintenance\" or \"ready\"), \
                    {\"weight\": N} or both";

impl fmt::Display for BadChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadChange::NotAnObject | BadChange::Nothing => f.write_str(FORM),
            BadChange::UnknownField(field) => write!(f, "unknown field `{field}`: {FORM}"),
            BadChange::UnknownState(state) => write!(f, "unknown state `{state}`: {FORM}"),
            BadChange::NotWhole(weight) => write!(
                f,
                "weight {weight} is not a whole number: a weight is from 1 to {MAX_WEIGHT}"
            ),
            BadChange::OutOfRange(weight) => write!(
                f,
                "weight {weight} is out of range: a weight is from 1 to {MAX_WEIGHT}"
            ),
        }
    }
}

impl Change {
    fn read(body: &[u8]) -> Result<Change, BadChange> {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
        else {
            return Err(BadChange::NotAnObject);
        };
        if let Some(other) = map
            .keys()
            .find(|key| !["state", "weight"].contains(&key.as_str()))
        {
            return Err(BadChange::UnknownField(other.clone()));
        }
        let state = map
            .get("state")
            .map(|state| {
                state
                    .as_str()
                    .and_then(Steering::parse)
                    .ok_or_else(|| BadChange::UnknownState(shown(state)))
            })
            .transpose()?;
        let weight = map.get("weight").map(weight_of).transpose()?;
        if state.is_none() && weight.is_none() {
            return Err(BadChange::Nothing);
        }
        Ok(Change { state, weight })
    }
}

/// A `weight` value: a whole number from 1 to [`MAX_WEIGHT`].
fn weight_of(value: &serde_json::Value) -> Result<u32, BadChange> {
    let whole = match value {
        serde_json::Value::Number(number) if number.is_u64() || number.is_i64() => number,
        _ => return Err(BadChange::NotWhole(value.to_string())),
    };
    whole
        .as_u64()
        .and_then(|weight| u32::try_from(weight).ok())
        .filter(|weight| (1..=MAX_WEIGHT).contains(weight))
        .ok_or_else(|| BadChange::OutOfRange(whole.to_string()))
}

/// What became of a server's weight set while a predecessor ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WeightAdoption {
    /// This config gives the server the weight the predecessor's did: the one set stands.
    Kept,
    /// This config gives the server another weight (`configured`), which is the later word.
    ConfigChanged { configured: u32 },
    /// This config has no such server in that pool.
    NoSuchServer,
}

/// Gives the server `server` of `pool` the weight `live` a predecessor's operator set, when
/// this config gives it the weight the predecessor's config did (`configured`).
pub(super) fn adopt_weight(
    pools: &Pools,
    (pool, server): (&str, &str),
    configured: u32,
    live: u32,
) -> WeightAdoption {
    let Ok(named) = pools.servers(pool, server) else {
        return WeightAdoption::NoSuchServer;
    };
    if let Some(other) = named
        .backends
        .iter()
        .find(|backend| backend.spec.weight != configured)
    {
        return WeightAdoption::ConfigChanged {
            configured: other.spec.weight,
        };
    }
    named.reweigh(live, "the previous process");
    WeightAdoption::Kept
}

/// A state as sent: a text without its quotes, anything else as JSON.
fn shown(value: &serde_json::Value) -> String {
    match value.as_str() {
        Some(text) => text.to_owned(),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use super::*;
    use crate::{Pool, PoolSpec, Process, RoundRobin, ServerSpec, Upstream};

    const fn at(port: u16, weight: u32) -> ServerSpec {
        ServerSpec {
            weight,
            ..ServerSpec::new(Upstream::Socket(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
            )))
        }
    }

    static SERVERS: [ServerSpec; 2] = [at(8001, 1), at(8002, 2)];
    static APP: PoolSpec = PoolSpec::new("app", &SERVERS);

    #[test]
    fn a_weight_set_before_an_upgrade_stands_unless_the_config_changed_it() {
        let process = Process::new();
        let pool = Pool::new(&APP, RoundRobin::default(), process.pools());
        let pools = process.pools();
        let picks = || {
            let mut first = 0;
            for _ in 0..1_000 {
                let picked =
                    pool.pick_for_bench(&http::HeaderMap::new(), "/", Ipv4Addr::LOCALHOST.into());
                first += usize::from(picked == Some(SERVERS[0].upstream));
            }
            first
        };
        assert_eq!(picks(), 333, "1:2");
        // The predecessor's config gave it weight 1, as this one does: 3 stands.
        let first = ("app", "127.0.0.1:8001");
        assert_eq!(adopt_weight(pools, first, 1, 3), WeightAdoption::Kept);
        assert_eq!(picks(), 600, "3:2 at once");
        let named = pools.servers("app", "127.0.0.1:8001").unwrap();
        assert_eq!(named.backends[0].weight(), 3);
        let (_, by) = named.backends[0].stats.last_weighed().unwrap();
        assert_eq!(by, "the previous process");
        // Its config gave the second weight 1; this one gives it 2, the later word.
        let second = ("app", "127.0.0.1:8002");
        assert_eq!(
            adopt_weight(pools, second, 1, 5),
            WeightAdoption::ConfigChanged { configured: 2 }
        );
        let named = pools.servers("app", "127.0.0.1:8002").unwrap();
        assert_eq!(
            (named.backends[0].weight(), named.backends[0].live_weight()),
            (2, None)
        );
        assert_eq!(picks(), 600);
        for gone in [("app", "127.0.0.1:9"), ("other", "127.0.0.1:8001")] {
            assert_eq!(
                adopt_weight(pools, gone, 1, 3),
                WeightAdoption::NoSuchServer
            );
        }
    }

    #[test]
    fn unknown_pools_and_servers_are_named_with_the_known_ones() {
        let process = Process::new();
        let _pool = Pool::new(&APP, RoundRobin::default(), process.pools());
        let unknown = |pool, server| match process.pools().servers(pool, server) {
            Ok(_) => panic!("{pool} {server} found"),
            Err(unknown) => unknown.to_string(),
        };
        assert_eq!(unknown("nope", "x:1"), "no pool `nope`: the pools are app");
        assert_eq!(
            unknown("app", "127.0.0.1:1"),
            "pool `app` has no server `127.0.0.1:1`: its servers are 127.0.0.1:8001, 127.0.0.1:8002"
        );
    }

    #[test]
    fn the_path_names_a_pool_and_a_server() {
        let named =
            |path| target(path).map(|(pool, server)| (pool.into_owned(), server.into_owned()));
        let app = |server: &str| Some(("app".to_owned(), server.to_owned()));
        assert_eq!(
            named("/pools/app/servers/127.0.0.1:8080"),
            app("127.0.0.1:8080")
        );
        assert_eq!(named("/pools/app/servers/[::1]:8080"), app("[::1]:8080"));
        // As the page's script sends them.
        assert_eq!(
            named("/pools/app/servers/127.0.0.1%3A8080"),
            app("127.0.0.1:8080")
        );
        assert_eq!(
            named("/pools/app/servers/%5B%3A%3A1%5D%3A8080"),
            app("[::1]:8080")
        );
        for wrong in [
            "/pools/app",
            "/pools//servers/x",
            "/pools/app/servers/",
            "/pools/a/servers/b/c",
        ] {
            assert_eq!(target(wrong), None, "{wrong}");
        }
    }

    fn state(state: Steering) -> Result<Change, BadChange> {
        Ok(Change {
            state: Some(state),
            weight: None,
        })
    }

    fn weight(weight: u32) -> Result<Change, BadChange> {
        Ok(Change {
            state: None,
            weight: Some(weight),
        })
    }

    #[test]
    fn a_change_names_a_known_state() {
        assert_eq!(
            Change::read(br#"{"state": "drain"}"#),
            state(Steering::Drain)
        );
        assert_eq!(
            Change::read(br#"{"state":"maintenance"}"#),
            state(Steering::Maintenance)
        );
        assert_eq!(
            Change::read(br#"{"state": "ready"}"#),
            state(Steering::Ready)
        );
        let unknown = Change::read(br#"{"state": "off"}"#).unwrap_err();
        assert_eq!(unknown, BadChange::UnknownState("off".to_owned()));
        assert!(unknown.to_string().starts_with("unknown state `off`"));
        assert_eq!(
            Change::read(br#"{"state": 1}"#),
            Err(BadChange::UnknownState("1".to_owned()))
        );
        let extra = Change::read(br#"{"state": "drain", "weigth": 3}"#).unwrap_err();
        assert!(
            extra.to_string().starts_with("unknown field `weigth`"),
            "{extra}"
        );
        assert_eq!(Change::read(b"drain"), Err(BadChange::NotAnObject));
        assert_eq!(Change::read(b"[]"), Err(BadChange::NotAnObject));
        assert_eq!(Change::read(b"{}"), Err(BadChange::Nothing));
    }

    #[test]
    fn a_change_names_a_whole_weight_in_the_languages_range() {
        assert_eq!(Change::read(br#"{"weight": 3}"#), weight(3));
        assert_eq!(Change::read(br#"{"weight": 1}"#), weight(1));
        assert_eq!(Change::read(br#"{"weight": 1000000}"#), weight(1_000_000));
        assert_eq!(
            Change::read(br#"{"state": "drain", "weight": 2}"#),
            Ok(Change {
                state: Some(Steering::Drain),
                weight: Some(2),
            })
        );
        for (body, refused) in [
            (r#"{"weight": 0}"#, BadChange::OutOfRange("0".into())),
            (r#"{"weight": -3}"#, BadChange::OutOfRange("-3".into())),
            (
                r#"{"weight": 1000001}"#,
                BadChange::OutOfRange("1000001".into()),
            ),
            (
                r#"{"weight": 18446744073709551615}"#,
                BadChange::OutOfRange("18446744073709551615".into()),
            ),
            (r#"{"weight": 2.5}"#, BadChange::NotWhole("2.5".into())),
            (r#"{"weight": 3.0}"#, BadChange::NotWhole("3.0".into())),
            (r#"{"weight": "3"}"#, BadChange::NotWhole("\"3\"".into())),
            (r#"{"weight": null}"#, BadChange::NotWhole("null".into())),
            (r#"{"weight": [3]}"#, BadChange::NotWhole("[3]".into())),
        ] {
            assert_eq!(Change::read(body.as_bytes()), Err(refused), "{body}");
        }
        assert_eq!(
            BadChange::OutOfRange("0".into()).to_string(),
            "weight 0 is out of range: a weight is from 1 to 1000000"
        );
        assert_eq!(
            BadChange::NotWhole("2.5".into()).to_string(),
            "weight 2.5 is not a whole number: a weight is from 1 to 1000000"
        );
    }
}
