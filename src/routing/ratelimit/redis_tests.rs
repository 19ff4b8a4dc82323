//! Unit tests of the Redis store that need no server: URI redaction, failure modes, keys, and
//! the behaviour against a port where nothing (or a mute server) listens.

use super::*;
use crate::config::{Granularity, RenewalPeriod};

#[test]
fn redaction() {
    for (uri, shown) in [
        ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
        (
            "redis://:s3cret@host:6379/1",
            "redis://:redacted@host:6379/1",
        ),
        ("redis://me:s3cret@host", "redis://me:redacted@host"),
        ("redis://me@host", "redis://me@host"),
        (
            "unix:///run/redis.sock?db=2&pass=s3cret",
            "unix:///run/redis.sock?db=2&pass=redacted",
        ),
        (
            "memcached://:s3cret@h:11211",
            "memcached://:redacted@h:11211",
        ),
        ("redis://:s3cret@[::1:6379", "redis://[redacted]"),
        ("s3cret@host", "[redacted]"),
        ("localhost", "localhost"),
    ] {
        assert_eq!(redact_uri(uri), shown, "{uri}");
    }
}

#[test]
fn failure_modes_parse() {
    assert_eq!("open".parse(), Ok(FailureMode::Open));
    assert_eq!(" Closed ".parse(), Ok(FailureMode::Closed));
    assert!("ajar".parse::<FailureMode>().is_err());
    assert_eq!(FailureMode::default(), FailureMode::Open);
}

#[test]
fn keys_name_the_endpoint_limit_family_and_client() {
    let store =
        Arc::new(RedisStore::new("redis://:pw@127.0.0.1:1", RedisOptions::default()).unwrap());
    assert_eq!(store.uri(), "redis://:redacted@127.0.0.1:1");
    assert!(!format!("{store:?}").contains("pw@"));
    let limit = Limit {
        calls: 5,
        renewal_period: RenewalPeriod {
            multiples: 10,
            granularity: Granularity::Second,
        },
        raw_period: "10 seconds".into(),
        key: None,
    };
    let w = RedisWindow::new(store, "chat", &limit);
    assert_eq!(
        w.key("10.0.0.7".parse().unwrap(), Family::Gateway),
        "llm-gateway:rl:chat:5/10:gateway:10.0.0.7"
    );
    assert_eq!(
        w.key("::1".parse().unwrap(), Family::Grpc),
        "llm-gateway:rl:chat:5/10:grpc:::1"
    );
    assert_eq!(w.window_ms, 10_000);
}

/// A server that accepts connections and never answers: the first hit waits out the
/// timeout, the next ones fail at once instead of adding the timeout to every request.
#[tokio::test]
async fn a_down_store_fails_fast_between_retries() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let options = RedisOptions {
        timeout: Duration::from_millis(400),
        failure_mode: FailureMode::Closed,
    };
    let store = Arc::new(RedisStore::new(&format!("redis://127.0.0.1:{port}"), options).unwrap());
    let w = RedisWindow::new(store.clone(), "chat", &limit(1));
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let started = std::time::Instant::now();
    assert!(w.hit(ip, Family::Gateway).await.is_err());
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(store.is_down());
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert!(w.hit(ip, Family::Gateway).await.is_err());
    }
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

fn limit(calls: u64) -> Limit {
    Limit {
        calls,
        renewal_period: RenewalPeriod {
            multiples: 1,
            granularity: Granularity::Minute,
        },
        raw_period: "minute".into(),
        key: None,
    }
}

/// Nothing listens on the port: each hit gives up within the timeout, open passes it, closed
/// refuses it, and the store reports itself down.
#[tokio::test]
async fn unreachable_store_fails_open_or_closed_quickly() {
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let limit = limit(1);
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    for mode in [FailureMode::Open, FailureMode::Closed] {
        let options = RedisOptions {
            timeout: Duration::from_millis(200),
            failure_mode: mode,
        };
        let uri = format!("redis://127.0.0.1:{closed_port}");
        let store = Arc::new(RedisStore::new(&uri, options).unwrap());
        assert!(!store.probe().await);
        let w = RedisWindow::new(store.clone(), "chat", &limit);
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let got = w.hit(ip, Family::Gateway).await;
            assert!(started.elapsed() < Duration::from_secs(2));
            match mode {
                FailureMode::Open => assert!(got.is_ok()),
                FailureMode::Closed => {
                    let err = got.unwrap_err();
                    assert_eq!(err.http_status(), 503);
                    assert_eq!(err.to_string(), UNAVAILABLE_DETAIL);
                }
            }
        }
        assert!(store.is_down());
    }
}
