//! Test certificates: a CA made with rcgen, certificates it issues, their PEM files in a temp
//! dir, and the rustls configuration (or tokio acceptor) of a server that presents one
//! (optionally asking clients for a certificate of another CA).

use std::sync::Arc;

use edge_runtime::{CertSpec, ClientCert};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig,
};
use tokio_rustls::TlsAcceptor;

/// A CA, and a temp dir for PEM files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: CertifiedIssuer<'static, KeyPair>,
}

/// An issued certificate and its key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca,
        }
    }

    /// A certificate for `names` (subject alternative names: DNS names, or IP addresses such
    /// as `127.0.0.1`) with subject `CN=common_name,O=Edge Tests`.
    pub fn issue(&self, names: &[&str], common_name: &str) -> Leaf {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Edge Tests");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// Writes `file` in the temp dir, replacing it; returns its path, leaked as specs need.
    pub fn write(&self, file: &str, contents: &str) -> &'static str {
        let path = self.dir.path().join(file);
        std::fs::write(&path, contents).unwrap();
        Box::leak(path.to_str().unwrap().to_owned().into_boxed_str())
    }

    /// Writes `leaf` as `NAME.crt` and `NAME.key`.
    pub fn cert_spec(&self, name: &str, leaf: &Leaf, names: &'static [&'static str]) -> CertSpec {
        CertSpec {
            names,
            cert: self.write(&format!("{name}.crt"), &leaf.cert_pem),
            key: self.write(&format!("{name}.key"), &leaf.key_pem),
        }
    }

    /// Writes `leaf` as `NAME.crt` and `NAME.key`, as a pool's client certificate.
    pub fn client_cert(&self, name: &str, leaf: &Leaf) -> ClientCert {
        let CertSpec { cert, key, .. } = self.cert_spec(name, leaf, &[]);
        ClientCert { cert, key }
    }

    pub fn ca_file(&self) -> &'static str {
        self.write("ca.crt", &self.ca.pem())
    }

    /// The acceptor of a TLS server presenting `leaf` (ALPN `http/1.1`); with `clients`, it
    /// requires a client certificate issued by that CA.
    pub fn acceptor(&self, leaf: &Leaf, clients: Option<&Pki>) -> TlsAcceptor {
        self.acceptor_for(leaf, clients, b"http/1.1")
    }

    /// [`Pki::acceptor`] offering `protocol` by ALPN instead.
    pub fn acceptor_for(&self, leaf: &Leaf, clients: Option<&Pki>, protocol: &[u8]) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config(leaf, clients, &[protocol]))
    }

    /// The configuration of a TLS server presenting `leaf` and offering `protocols` by ALPN
    /// (none: no ALPN); with `clients`, it requires a client certificate issued by that CA.
    pub fn server_config(
        &self,
        leaf: &Leaf,
        clients: Option<&Pki>,
        protocols: &[&[u8]],
    ) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match clients {
            Some(clients) => {
                let mut roots = RootCertStore::empty();
                roots.add(clients.ca.der().clone()).unwrap();
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let mut config = builder
            .with_single_cert(vec![leaf.der.clone()], key)
            .unwrap();
        config.alpn_protocols = protocols.iter().map(|protocol| protocol.to_vec()).collect();
        Arc::new(config)
    }
}
