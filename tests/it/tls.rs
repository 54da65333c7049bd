//! TLS to the database: sslmode=require encrypts without a CA (libpq's
//! semantics); with EXECBOX_DATABASE_CA_FILE the server must chain to it.

use std::process::Command;

use execbox::config::Secret;
use execbox::db::Database;

use crate::support::*;

fn openssl(args: &[&str]) {
    let ok = Command::new("openssl").args(args).output().unwrap();
    assert!(ok.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
}

#[tokio::test]
async fn tls_require_and_ca_verification() {
    // A CA, a server certificate it signed for 127.0.0.1, and an unrelated CA.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |name: &str| d.join(name).to_str().unwrap().to_string();
    for ca in ["ca", "other"] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=execbox-test-{ca}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &p(&format!("{ca}.key")),
            "-out",
            &p(&format!("{ca}.crt")),
        ]);
    }
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("server.crt"),
    ]);
    let (crt, key, ca, other) = (d.join("server.crt"), d.join("server.key"), d.join("ca.crt"), d.join("other.crt"));

    let admin = connect(admin_url()).await;
    let data: String = admin.query_one("show data_directory", &[]).await.unwrap().get(0);
    let (server_crt, server_key) =
        (format!("{data}/execbox-test-server.crt"), format!("{data}/execbox-test-server.key"));
    std::fs::copy(&crt, &server_crt).unwrap();
    std::fs::copy(&key, &server_key).unwrap();
    for f in [&server_crt, &server_key] {
        Command::new("chown").args(["postgres:postgres", f]).status().unwrap();
        Command::new("chmod").args(["600", f]).status().unwrap();
    }
    for setting in [
        format!("alter system set ssl_cert_file = '{server_crt}'"),
        format!("alter system set ssl_key_file = '{server_key}'"),
        "alter system set ssl = on".to_string(),
    ] {
        admin.batch_execute(&setting).await.unwrap();
    }
    admin.execute("select pg_reload_conf()", &[]).await.unwrap();

    let url = format!("{}?sslmode=require", admin_url());
    // Encrypted, server not authenticated (no CA given), once the server
    // has read its new configuration.
    let db = Database::new(Secret::new(url.clone()), None).unwrap();
    let c = eventually("sslmode=require without a CA connects", std::time::Duration::from_secs(30), || async {
        db.connect().await.ok()
    })
    .await;
    let ssl: bool = c.query_one("select ssl from pg_stat_ssl where pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(ssl, "the connection is encrypted");
    // With the right CA: verified (the certificate names 127.0.0.1).
    let db = Database::new(Secret::new(url.clone()), Some(&ca)).unwrap();
    db.connect().await.expect("server chains to the given CA");
    // With the wrong CA: refused.
    let db = Database::new(Secret::new(url.clone()), Some(&other)).unwrap();
    let Err(err) = db.connect().await else { panic!("a server that does not chain to the CA must be refused") };
    assert!(format!("{err:#}").contains("certificate"), "{err:#}");
    // A CA file that is not PEM is a configuration error naming the variable.
    std::fs::write(d.join("junk.crt"), "not a certificate").unwrap();
    let err = Database::new(Secret::new(url), Some(&d.join("junk.crt"))).err().unwrap();
    assert!(format!("{err:#}").contains("EXECBOX_DATABASE_CA_FILE"), "{err:#}");
}
