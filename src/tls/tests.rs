//! Loading and reloading certificate pairs: errors name the file and never quote a key;
//! a bad new pair leaves the served one in place.

use super::*;

struct Pair {
    cert: String,
    key: String,
}

fn self_signed() -> Pair {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    Pair {
        cert: made.cert.pem(),
        key: made.signing_key.serialize_pem(),
    }
}

struct Files {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(pair: &Pair) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            dir,
        };
        files.write(&pair.cert, &pair.key);
        files
    }

    fn write(&self, cert: &str, key: &str) {
        std::fs::write(&self.cert, cert).unwrap();
        std::fs::write(&self.key, key).unwrap();
    }

    fn load(&self) -> Result<Certificates, TlsError> {
        Certificates::load(&self.cert, &self.key)
    }
}

/// The base64 body of a PEM text, which must never show up in a message.
fn secret_line(pem: &str) -> &str {
    pem.lines().nth(1).unwrap()
}

#[test]
fn a_valid_pair_loads_and_offers_h2_then_http1() {
    let files = Files::new(&self_signed());
    let certs = files.load().unwrap();
    assert_eq!(
        certs.config.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    assert_eq!(certs.fingerprint().len(), 64);
}

#[test]
fn errors_name_the_file_at_fault() {
    let pair = self_signed();
    let files = Files::new(&pair);

    let missing = Certificates::load(&files.dir.path().join("nope.pem"), &files.key).unwrap_err();
    assert_eq!(missing.file, files.dir.path().join("nope.pem"));
    assert!(missing.message.starts_with("cannot read it"), "{missing}");

    // The key where the certificate should be.
    files.write(&pair.key, &pair.key);
    let err = files.load().unwrap_err();
    assert_eq!(err.file, files.cert);
    assert!(err.message.contains("no certificate found"), "{err}");

    // The certificate where the key should be.
    files.write(&pair.cert, &pair.cert);
    let err = files.load().unwrap_err();
    assert_eq!(err.file, files.key);
    assert!(err.message.contains("no private key found"), "{err}");
    assert!(
        err.to_string()
            .starts_with(&files.key.display().to_string())
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (a, b) = (self_signed(), self_signed());
    let files = Files::new(&a);
    files.write(&a.cert, &b.key);
    let err = files.load().unwrap_err();
    assert_eq!(err.file, files.key);
    assert!(
        err.message.contains(&format!(
            "does not belong to the certificate in {}",
            files.cert.display()
        )),
        "{err}"
    );
}

#[test]
fn a_broken_key_is_described_without_quoting_it() {
    let pair = self_signed();
    let files = Files::new(&pair);
    // Corrupt the base64 of the key: the decoder's complaint would quote the bad byte.
    let broken = pair.key.replacen(
        secret_line(&pair.key),
        &format!("{}!!", secret_line(&pair.key)),
        1,
    );
    files.write(&pair.cert, &broken);
    let err = files.load().unwrap_err();
    assert_eq!(err.file, files.key);
    assert_eq!(err.message, "a PEM section is not valid base64");

    // A key section whose DER is not a key: rustls' message, no bytes.
    files.write(
        &pair.cert,
        "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n",
    );
    let err = files.load().unwrap_err();
    assert!(err.message.starts_with("unusable private key"), "{err}");
    assert!(!err.to_string().contains("AAECAwQFBgcICQ"), "{err}");
}

#[test]
fn reload_swaps_a_valid_pair_and_keeps_the_old_one_otherwise() {
    let (a, b) = (self_signed(), self_signed());
    let files = Files::new(&a);
    let certs = files.load().unwrap();
    let served_a = certs.fingerprint();

    assert!(!certs.reload().unwrap(), "same files: unchanged");
    assert_eq!(certs.fingerprint(), served_a);

    files.write(&b.cert, &b.key);
    assert!(certs.reload().unwrap());
    let served_b = certs.fingerprint();
    assert_ne!(served_b, served_a);
    // What new handshakes get is what the resolver hands out.
    let resolver = Resolver(certs.inner.clone());
    let current = resolver.0.current.load_full();
    assert_eq!(fingerprint(&current), served_b);

    files.write("not a certificate", &b.key);
    let err = certs.reload().unwrap_err();
    assert_eq!(err.file, files.cert);
    assert_eq!(certs.fingerprint(), served_b);

    // A clone shares the pair: a reload through one is seen by every acceptor.
    let clone = certs.clone();
    files.write(&a.cert, &a.key);
    assert!(clone.reload().unwrap());
    assert_eq!(certs.fingerprint(), served_a);
}

#[test]
fn debug_output_names_files_not_keys() {
    let pair = self_signed();
    let files = Files::new(&pair);
    let certs = files.load().unwrap();
    for text in [
        format!("{certs:?}"),
        format!("{:?}", Resolver(certs.inner.clone())),
        format!("{:?}", certs.acceptor()),
    ] {
        assert!(!text.contains(secret_line(&pair.key)), "{text}");
    }
    assert!(format!("{certs:?}").contains("key.pem"));
}
