//! The kit itself: real servers start, answer, go away and come back on the same port.

use testkit::{PostgresServer, RedisServer, SmtpServer};

#[test]
fn redis_starts_stops_and_comes_back() {
    let mut redis = RedisServer::start().expect("redis-server starts");
    assert_eq!(redis.command("PING").unwrap(), "+PONG", "{}", redis.log());
    assert_eq!(redis.command("SET k v").unwrap(), "+OK");
    redis.stop();
    assert!(
        redis.command("PING").is_err(),
        "a stopped server refuses connections"
    );
    redis.start_again().expect("restarts");
    assert_eq!(redis.command("PING").unwrap(), "+PONG");
    assert_eq!(
        redis.command("GET k").unwrap(),
        "$-1",
        "no persistence: a restart starts empty"
    );
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    assert!(
        redis.log().contains("Ready to accept connections"),
        "{}",
        redis.log()
    );
}

#[test]
fn two_redis_servers_do_not_share_anything() {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    assert_ne!(a.port(), b.port());
    a.command("SET only-a 1").unwrap();
    assert_eq!(b.command("EXISTS only-a").unwrap(), ":0");
}

#[test]
fn postgres_starts_stops_and_keeps_its_data() {
    let mut pg = PostgresServer::start().expect("postgres starts");
    assert_eq!(pg.psql("select 1 + 1").unwrap(), "2", "{}", pg.log());
    pg.psql("create table t (x int); insert into t values (42)")
        .unwrap();
    pg.stop();
    assert!(
        pg.psql("select 1").is_err(),
        "a stopped server refuses connections"
    );
    pg.start_again().expect("restarts");
    assert_eq!(pg.psql("select x from t").unwrap(), "42");
    assert!(pg.url().starts_with("postgres://postgres@127.0.0.1:"));
    assert!(
        pg.log()
            .contains("database system is ready to accept connections"),
        "{}",
        pg.log()
    );
}

#[test]
fn a_panicking_test_still_stops_its_servers() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let redis = RedisServer::start().unwrap();
        tx.send(redis.port()).unwrap();
        panic!("the test fails while the server runs");
    })
    .join();
    assert!(outcome.is_err());
    let port = rx.recv().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server on {port} was left running"
    );
}

#[test]
fn tls_redis_and_smtp_serve_a_certificate_from_their_throwaway_ca() {
    let redis = RedisServer::start_tls().expect("TLS redis starts");
    let smtp = SmtpServer::start_tls().expect("STARTTLS aiosmtpd starts");
    for (ca, port) in [
        (redis.ca_cert().unwrap(), redis.port()),
        (smtp.ca_cert().unwrap(), smtp.port()),
    ] {
        let dir = ca.parent().unwrap();
        let verified = std::process::Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(ca)
            .arg(dir.join("server.pem"))
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    }
    assert!(redis.url().starts_with("rediss://"));
    assert!(smtp.messages().unwrap().is_empty());
}
