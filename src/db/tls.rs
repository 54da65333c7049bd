//! TLS to PostgreSQL (hosted Supabase, any managed database).
//!
//! The connection string's `sslmode` decides whether TLS is used
//! (`disable`, `prefer` — the default — or `require`). How the server is
//! checked follows libpq: with `database_ca_file` (EXECBOX_DATABASE_CA_FILE,
//! e.g. Supabase's downloadable CA certificate) the server's certificate must
//! chain to it; without one the link is encrypted but the server is not
//! authenticated, as libpq's `require`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// What every connection of execbox uses to (maybe) speak TLS.
pub(crate) type Connector = MakeRustlsConnect;

pub(crate) fn connector(ca_file: Option<&Path>) -> anyhow::Result<Connector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    let config = match ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("EXECBOX_DATABASE_CA_FILE: cannot read {}", path.display()))?;
            for cert in certs {
                let cert = cert.with_context(|| format!("EXECBOX_DATABASE_CA_FILE: {} is not PEM", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("EXECBOX_DATABASE_CA_FILE: bad certificate in {}", path.display()))?;
            }
            if roots.is_empty() {
                anyhow::bail!("EXECBOX_DATABASE_CA_FILE: no certificate in {}", path.display());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(EncryptOnly(provider))).with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's `sslmode=require`: the handshake's signatures are checked (so the
/// link is really encrypted with the presented key), the certificate chain
/// is not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
