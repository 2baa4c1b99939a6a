//! TLS towards a pool's servers (rustls client, aws-lc-rs provider): one `ClientConfig` per
//! pool, built when the pool is built and shared by every worker, so TLS sessions are resumed
//! across connections and workers. TLS 1.2 and 1.3, ALPN `http/1.1` (`h2` for HTTP/2 pools); servers are verified
//! against Mozilla's roots (`webpki-roots`) or the pool's own CA bundle, by the name the pool
//! gives or the server's own (an IP address for a server given by address); an optional
//! client certificate is presented to servers that ask for one.
//!
//! The files are read when the pool is built and again on SIGHUP, as listener certificates are
//! ([`Connector::reload`]): new connections use what was read; connections already open are untouched.
//!
//! As for listeners, rustls takes its verifier and client certificate resolver as trait
//! objects; that dispatch happens during handshakes, inside rustls, never per request.

use std::{io, sync::Arc};

use arc_swap::ArcSwap;

use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        ResolvesClientCert,
    },
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
    sign::CertifiedKey,
    ClientConfig, DigitallySignedStruct, SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::{client::TlsStream, TlsConnector};

use crate::tls::{files, TlsErrorKind};
use crate::{
    address::Upstream,
    upstream::spec::{UpstreamProtocol, UpstreamTls},
};

/// A pool's TLS client: its configuration (replaced by [`reload`]) and the name servers are
/// verified by, when the pool gives one.
#[derive(Debug)]
pub(crate) struct Connector {
    spec: UpstreamTls,
    protocol: UpstreamProtocol,
    provider: Arc<CryptoProvider>,
    config: ArcSwap<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl Connector {
    /// Reads the pool's CA bundle and client certificate, if it names them, and builds its
    /// client configuration, offering the pool's protocol by ALPN.
    pub(crate) fn load(
        spec: &UpstreamTls,
        protocol: UpstreamProtocol,
    ) -> Result<Connector, TlsErrorKind> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server_name = spec
            .server_name
            .map(|name| ServerName::try_from(name).map_err(|_| TlsErrorKind::ServerName(name)))
            .transpose()?;
        let config = client_config(spec, protocol, &provider)?;
        Ok(Connector {
            spec: *spec,
            protocol,
            provider,
            config: ArcSwap::from_pointee(config),
            server_name,
        })
    }

    /// Reads the files again and uses what they hold for new connections; connections open
    /// stay as they are, and TLS sessions cached so far can still be resumed. A file that
    /// cannot be used keeps the configuration as it was.
    pub(crate) fn reload(&self) -> Result<(), TlsErrorKind> {
        let mut config = client_config(&self.spec, self.protocol, &self.provider)?;
        config.resumption = self.config.load().resumption.clone();
        self.config.store(Arc::new(config));
        Ok(())
    }

    /// Runs the client side of the handshake with `upstream` over `tcp`. `host` is the
    /// `host:port` the server's address was found by, if any.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        upstream: &Upstream,
        host: Option<&str>,
    ) -> io::Result<TlsStream<TcpStream>> {
        let name = self.name_of(upstream, host)?;
        TlsConnector::from(self.config.load_full())
            .connect(name, tcp)
            .await
    }

    /// The name to send and verify: the pool's, else the host the server was found by, else
    /// the server's own address or name.
    fn name_of(&self, upstream: &Upstream, host: Option<&str>) -> io::Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let authority = match (host, upstream) {
            (Some(host), _) => host,
            (None, Upstream::Socket(addr)) => return Ok(ServerName::IpAddress(addr.ip().into())),
            (None, Upstream::Name(name)) => name,
            (None, Upstream::Srv(_)) => return Err(crate::upstream::stream::unresolved_srv()),
        };
        let name = authority
            .rsplit_once(':')
            .map_or(authority, |(name, _port)| name);
        ServerName::try_from(name.to_owned()).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` cannot be verified as a server name: {error}"),
            )
        })
    }
}

/// The client configuration of a pool: TLS 1.2 and 1.3, the pool's roots (or none checked with
/// `verify off`), its client certificate if any, and its protocol offered by ALPN.
fn client_config(
    spec: &UpstreamTls,
    protocol: UpstreamProtocol,
    provider: &Arc<CryptoProvider>,
) -> Result<ClientConfig, TlsErrorKind> {
    let builder = ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the default provider supports TLS 1.2 and 1.3");
    let builder = if spec.verify {
        builder.with_root_certificates(files::server_roots(spec.ca)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(Arc::clone(provider))))
    };
    let mut config = match spec.client_cert {
        Some(identity) => {
            let key = files::certified_key(identity.cert, identity.key, provider)?;
            builder.with_client_cert_resolver(Arc::new(Identity(key)))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![match protocol {
        UpstreamProtocol::Http1 => b"http/1.1".to_vec(),
        UpstreamProtocol::Http2 => b"h2".to_vec(),
    }];
    Ok(config)
}

/// The pool's client certificate, presented whenever a server asks for one.
#[derive(Debug)]
struct Identity(Arc<CertifiedKey>);

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `verify off`: any certificate is accepted; the handshake's signatures are still checked,
/// so the connection is encrypted to whoever holds the presented certificate's key.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(server_name: Option<&'static str>) -> Connector {
        Connector::load(
            &UpstreamTls {
                server_name,
                ..UpstreamTls::DEFAULT
            },
            UpstreamProtocol::Http1,
        )
        .unwrap()
    }

    #[test]
    fn the_name_is_the_pools_then_the_host_then_the_address() {
        let addr = Upstream::Socket("10.0.0.1:443".parse().unwrap());
        let plain = connector(None);
        let ip = plain.name_of(&addr, None).unwrap();
        assert_eq!(ip.to_str(), "10.0.0.1");
        assert!(matches!(ip, ServerName::IpAddress(_)));
        let found = plain.name_of(&addr, Some("users.internal:8443")).unwrap();
        assert_eq!(found.to_str(), "users.internal");
        let named = Upstream::Name("api.example.com:443");
        assert_eq!(
            plain.name_of(&named, None).unwrap().to_str(),
            "api.example.com"
        );
        let given = connector(Some("backend.example.com"));
        let name = given.name_of(&addr, Some("users.internal:8443")).unwrap();
        assert_eq!(name.to_str(), "backend.example.com");
    }

    #[test]
    fn an_invalid_server_name_is_a_load_error() {
        let error = Connector::load(
            &UpstreamTls {
                server_name: Some("not a name"),
                ..UpstreamTls::DEFAULT
            },
            UpstreamProtocol::Http1,
        )
        .unwrap_err();
        assert!(matches!(error, TlsErrorKind::ServerName("not a name")));
    }

    #[test]
    fn a_missing_ca_file_names_the_file() {
        let error = Connector::load(
            &UpstreamTls {
                ca: Some("/nonexistent/ca.pem"),
                ..UpstreamTls::DEFAULT
            },
            UpstreamProtocol::Http1,
        )
        .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("cannot read CA file /nonexistent/ca.pem: "));
    }
}
