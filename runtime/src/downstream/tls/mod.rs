//! TLS termination for HTTP listeners (rustls with its default aws-lc-rs provider): TLS 1.2
//! and 1.3 only, rustls' default cipher suites, ALPN `h2` and `http/1.1`, certificates chosen
//! by SNI (`sni`), optional client certificates (mTLS), session resumption by tickets and by a
//! server-side cache, and rotation on SIGHUP (`reload`).
//!
//! Each TLS listener's rustls configuration sits behind an `ArcSwap`: a connection takes the
//! current one when it is accepted (one atomic load), a reload builds a new one off the
//! request path and swaps it in. The session cache and ticket keys are kept across reloads.
//! rustls takes its resolver and verifier as trait objects; that dispatch happens once per
//! handshake, inside rustls, never per request.
//!
//! TLS towards upstream servers, the client side, is `upstream::tls`; the PEM files both sides
//! read, and their errors, are the crate's `tls`.

mod handshake;
mod sni;

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use http::HeaderValue;
use rustls::{
    crypto::CryptoProvider,
    server::{
        danger::ClientCertVerifier, ProducesTickets, ServerSessionMemoryCache, WebPkiClientVerifier,
    },
    sign::CertifiedKey,
    ServerConfig,
};

pub(crate) use handshake::handshake;

use crate::{
    downstream::listener::{ClientAuth, ListenerMode, ListenerSpec, TlsSpec},
    tls::{files, TlsError, TlsErrorKind, TlsFile},
};

/// TLS sessions remembered server-side per listener (resumption by session id).
const SESSION_CACHE: usize = 4096;

/// A TLS listener's live state, shared by every worker.
#[derive(Debug)]
pub(crate) struct TlsListener {
    name: &'static str,
    spec: &'static TlsSpec,
    fixed: Fixed,
    hsts: Option<HeaderValue>,
    /// What new handshakes use.
    config: ArcSwap<ServerConfig>,
    /// What the current `config` was built from; only reloads touch it.
    loaded: Mutex<Loaded>,
}

/// What every configuration of a listener shares, reloads included: resumption survives them.
#[derive(Debug)]
struct Fixed {
    provider: Arc<CryptoProvider>,
    sessions: Arc<ServerSessionMemoryCache>,
    ticketer: Arc<dyn ProducesTickets>,
}

/// Files as last read successfully.
#[derive(Debug)]
struct Loaded {
    /// One per `spec.certs` entry, in order.
    keys: Vec<Arc<CertifiedKey>>,
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl TlsListener {
    /// Loads a listener's certificates; `None` for a listener without `tls`.
    pub(crate) fn load(spec: &'static ListenerSpec) -> Result<Option<Arc<TlsListener>>, TlsError> {
        let Some(tls) = &spec.tls else {
            return Ok(None);
        };
        let name = spec.name;
        let error = |kind| TlsError::new(name, kind);
        if let ListenerMode::Tcp(_) = spec.mode {
            return Err(error(TlsErrorKind::NotHttp));
        }
        if tls.certs.is_empty() {
            return Err(error(TlsErrorKind::NoCertificates));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let keys = tls
            .certs
            .iter()
            .map(|cert| files::certified_key(cert.cert, cert.key, &provider))
            .collect::<Result<_, _>>()
            .map_err(error)?;
        let verifier = tls
            .client_auth
            .map(|auth| verifier(name, &auth, &provider))
            .transpose()?;
        let ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
            .map_err(|reason| error(TlsErrorKind::Tickets(reason)))?;
        let fixed = Fixed {
            provider,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE),
            ticketer,
        };
        let loaded = Loaded { keys, verifier };
        let hsts = tls.hsts.map(|max_age| {
            HeaderValue::try_from(format!("max-age={}", max_age.as_secs()))
                .expect("digits are a valid header value")
        });
        Ok(Some(Arc::new(TlsListener {
            name,
            spec: tls,
            config: ArcSwap::from_pointee(fixed.config(tls, &loaded)),
            fixed,
            hsts,
            loaded: Mutex::new(loaded),
        })))
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// The configuration for a new connection.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// The `Strict-Transport-Security` value for this listener's responses, if any.
    pub(crate) fn hsts(&self) -> Option<&HeaderValue> {
        self.hsts.as_ref()
    }

    /// Reads every file again and swaps in a configuration built from what could be read;
    /// returns what could not.
    pub(crate) fn reload(&self) -> Vec<TlsError> {
        let mut errors = Vec::new();
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        for (cert, key) in self.spec.certs.iter().zip(&mut loaded.keys) {
            match files::certified_key(cert.cert, cert.key, &self.fixed.provider) {
                Ok(fresh) => *key = fresh,
                Err(kind) => errors.push(TlsError::new(self.name, kind)),
            }
        }
        if let Some(auth) = &self.spec.client_auth {
            match verifier(self.name, auth, &self.fixed.provider) {
                Ok(fresh) => loaded.verifier = Some(fresh),
                Err(error) => errors.push(error),
            }
        }
        self.config
            .store(Arc::new(self.fixed.config(self.spec, &loaded)));
        errors
    }
}

impl Fixed {
    /// A rustls configuration serving `loaded`.
    fn config(&self, spec: &TlsSpec, loaded: &Loaded) -> ServerConfig {
        let builder = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the default provider supports TLS 1.2 and 1.3");
        let builder = match &loaded.verifier {
            Some(verifier) => builder.with_client_cert_verifier(Arc::clone(verifier)),
            None => builder.with_no_client_auth(),
        };
        let mut config =
            builder.with_cert_resolver(Arc::new(sni::SniResolver::new(spec.certs, &loaded.keys)));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = Arc::clone(&self.sessions) as _;
        config.ticketer = Arc::clone(&self.ticketer);
        config
    }
}

/// Reads the client CA and builds the verifier of client certificates.
fn verifier(
    listener: &'static str,
    auth: &ClientAuth,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let error = |kind| TlsError::new(listener, kind);
    let roots = files::roots(TlsFile::ClientCa, auth.ca).map_err(error)?;
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if auth.required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder.build().map_err(|reason| {
        error(files::invalid(
            TlsFile::ClientCa,
            &crate::root::resolve(auth.ca),
            reason,
        ))
    })
}
