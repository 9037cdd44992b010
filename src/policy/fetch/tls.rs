//! TLS for the policy fetch: the rustls client configuration (ring provider,
//! webpki-roots plus the `--ca-file` anchors), a verifier that records the
//! presented leaf's `notAfter` before it validates, and the naming of
//! certificate errors.

use std::cell::Cell;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{FetchSetupError, TlsError, der};

tokio::task_local! {
    /// The `notAfter` (Unix ms) of the leaf certificate presented to the
    /// fetch running in this task: the shared verifier writes it here, the
    /// fetch reads it back after the handshake, whether that succeeded or not.
    static PRESENTED_NOT_AFTER: Cell<Option<i64>>;
}

/// Runs `fetch` with a fresh slot for the presented certificate's
/// `notAfter`; returns its output and what the slot holds at the end.
pub(super) async fn recording_not_after<T>(fetch: impl Future<Output = T>) -> (T, Option<i64>) {
    PRESENTED_NOT_AFTER
        .scope(Cell::new(None), async {
            let output = fetch.await;
            (output, PRESENTED_NOT_AFTER.with(Cell::get))
        })
        .await
}

/// The client configuration, built once per [`super::Fetcher`]: ring, TLS 1.2
/// and 1.3, ALPN `http/1.1`, trust in the Mozilla roots of webpki-roots plus
/// `extra_roots`.
pub(super) fn client_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<ClientConfig>, FetchSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for (index, cert) in extra_roots.iter().enumerate() {
        roots
            .add(cert.clone())
            .map_err(|e| FetchSetupError::Tls(format!("trust anchor {}: {e}", index + 1)))?;
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .map_err(|e| FetchSetupError::Tls(e.to_string()))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchSetupError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordingVerifier { webpki }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// rustls' own WebPKI verification, unchanged (chain to a root, validity
/// period, the name `mta-sts.<domain>`: RFC 8461 §3.3), preceded by reading
/// the leaf's `notAfter` into the running fetch's slot.
#[derive(Debug)]
struct RecordingVerifier {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // Outside a fetch's scope (never, in this module) there is nowhere to
        // record it, and the verification is the same.
        let _ = PRESENTED_NOT_AFTER.try_with(|slot| slot.set(der::not_after_unix_ms(end_entity.as_ref())));
        self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Names a failed handshake. tokio-rustls hands rustls' error back inside
/// the `io::Error`; anything else is the connection failing mid-handshake.
pub(super) fn classify_handshake_error(error: &std::io::Error) -> TlsError {
    let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) else {
        return TlsError::Handshake(error.to_string());
    };
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => TlsError::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsError::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsError::WrongName
            }
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
            other => TlsError::Certificate(format!("{other:?}")),
        },
        other => TlsError::Handshake(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::CryptoProvider;

    #[test]
    fn config_uses_ring_and_http11() {
        let config = client_config(&[]).expect("config");
        // Named explicitly, whatever the process-wide default provider is.
        let ring = rustls::crypto::ring::default_provider();
        let suites = |p: &CryptoProvider| p.cipher_suites.iter().map(|s| s.suite()).collect::<Vec<_>>();
        assert_eq!(suites(config.crypto_provider()), suites(&ring));
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn a_bad_trust_anchor_is_named() {
        let err = client_config(&[CertificateDer::from(b"junk".to_vec())]).expect_err("junk is no anchor");
        assert!(err.to_string().starts_with("TLS configuration: trust anchor 1:"), "{err}");
    }

    #[test]
    fn certificate_errors_are_named() {
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let cases = [
            (CertificateError::Expired, TlsError::Expired),
            (CertificateError::NotValidYet, TlsError::NotYetValid),
            (CertificateError::NotValidForName, TlsError::WrongName),
            (CertificateError::UnknownIssuer, TlsError::UnknownIssuer),
        ];
        for (cert, want) in cases {
            assert_eq!(classify_handshake_error(&wrap(rustls::Error::InvalidCertificate(cert))), want);
        }
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(classify_handshake_error(&reset), TlsError::Handshake(_)));
    }
}
