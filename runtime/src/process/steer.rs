//! Steering servers without a rebuild, through the admin listener (HAProxy's runtime API,
//! Envoy's admin): `POST /pools/POOL/servers/SERVER` with `{"state": "drain"}` drains a server
//! (no new requests; those in flight finish), `"maintenance"` takes it out now (no new
//! requests, idle connections closed, health checks paused) and `"ready"` brings it back.
//! `SERVER` is an address as `/status` shows it (`10.0.0.11:8080`, `[::1]:8080`), or the
//! `host:port` a pool's server was given by, which steers every address found for it; either
//! may be percent-encoded (`10.0.0.11%3A8080`), as the page's script sends it.
//!
//! The body must be sent as `Content-Type: application/json`, which a page of another site
//! cannot send without a CORS preflight (never answered): a page a browser on the admin's
//! network opens cannot steer servers. Each change is logged with the pool, the server, the
//! state and the peer that asked, and `/status` shows it with when and by whom. A change holds until another one, a restart, or a
//! server the pool no longer lists (an address a name stopped resolving to).

use std::{borrow::Cow, net::SocketAddr};

use http::{header::CONTENT_TYPE, HeaderMap, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::upstream::{backend::Steering, pools::Pools};

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

/// Sets the state the body names on the server `server` of `pool`, as `peer` asked; the JSON
/// of the servers changed with their state, or `404` for an unknown pool or server (naming
/// the known ones), `400` for a body that is not `{"state": STATE}`.
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
    let rosters = pools.rosters();
    let Some((pool, backends)) = rosters.iter().find(|(name, _)| *name == pool) else {
        let names: Vec<&str> = rosters.iter().map(|(name, _)| *name).collect();
        return Err((
            StatusCode::NOT_FOUND,
            format!("no pool `{pool}`: the pools are {}\n", names.join(", ")),
        ));
    };
    let matching: Vec<_> = backends
        .iter()
        .filter(|backend| {
            backend.spec.upstream.to_string() == server || backend.host.as_deref() == Some(server)
        })
        .collect();
    if matching.is_empty() {
        let names: Vec<String> = backends
            .iter()
            .map(|b| b.spec.upstream.to_string())
            .collect();
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "pool `{pool}` has no server `{server}`: its servers are {}\n",
                names.join(", ")
            ),
        ));
    }
    let Ok(body) = Limited::new(body, MAX_CHANGE).collect().await else {
        let reason = format!("a change is at most {MAX_CHANGE} bytes\n");
        return Err((StatusCode::PAYLOAD_TOO_LARGE, reason));
    };
    let state = match state_of(&body.to_bytes()) {
        Ok(state) => state,
        Err(reason) => return Err((StatusCode::BAD_REQUEST, format!("{reason}\n"))),
    };
    let by = peer.ip().to_string();
    let mut changed = Vec::with_capacity(matching.len());
    for backend in matching {
        backend.steer(state, by.clone());
        tracing::info!(
            pool,
            server = %backend,
            state = state.name(),
            by = %by,
            "server state changed through the admin API"
        );
        changed.push(serde_json::json!({
            "server": backend.spec.upstream.to_string(),
            "state": state.name(),
        }));
    }
    Ok(serde_json::json!({ "pool": pool, "servers": changed }).to_string())
}

/// The state a change's body names: `{"state": "drain"}`, nothing else.
fn state_of(body: &[u8]) -> Result<Steering, String> {
    const FORM: &str = "the body is {\"state\": \"drain\"}, \"maintenance\" or \"ready\"";
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Err(FORM.to_owned());
    };
    if let Some(other) = map.keys().find(|key| *key != "state") {
        return Err(format!("unknown field `{other}`: {FORM}"));
    }
    let name = map.get("state").and_then(|state| state.as_str());
    match name.and_then(Steering::parse) {
        Some(state) => Ok(state),
        None => Err(match name {
            Some(name) => format!("unknown state `{name}`: {FORM}"),
            None => FORM.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_change_names_one_known_state_and_nothing_else() {
        assert_eq!(state_of(br#"{"state": "drain"}"#), Ok(Steering::Drain));
        assert_eq!(
            state_of(br#"{"state":"maintenance"}"#),
            Ok(Steering::Maintenance)
        );
        assert_eq!(state_of(br#"{"state": "ready"}"#), Ok(Steering::Ready));
        let unknown = state_of(br#"{"state": "off"}"#).unwrap_err();
        assert!(unknown.starts_with("unknown state `off`"), "{unknown}");
        let extra = state_of(br#"{"state": "drain", "weight": 3}"#).unwrap_err();
        assert!(extra.starts_with("unknown field `weight`"), "{extra}");
        assert!(state_of(b"drain").is_err());
        assert!(state_of(b"{}").is_err());
    }
}
