//! The `cache` engine behind Redis Sentinel (a primary, a replica, three Sentinels; real processes): the
//! sessions follow the primary through a forced failover and a killed primary without a restart, each
//! call meanwhile answering or failing as an outage within the deadline; a logout is on the replica
//! before it returns (`WAIT`), so no failover brings a logged-out session back; a replica that does not
//! acknowledge in time is counted and the logout still holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use django_auth_core::connections::{Redis, RedisConfig, StoreError};
use django_auth_core::sentinel::SentinelConfig;
use django_auth_core::store::{
    CacheFlavor, CacheSessions, Engine, SessionSettings, SessionStore, UserIndex,
};
use django_auth_core::{Value, metrics};
use testkit::{RedisSentinel, redis_cli};

const TIMEOUT: Duration = Duration::from_millis(500);

fn redis(set: &RedisSentinel, wait_replicas: Option<u32>) -> Redis {
    Redis::connect(&RedisConfig {
        connect_timeout: TIMEOUT,
        response_timeout: TIMEOUT,
        sentinel: Some(SentinelConfig::parse(&set.url(), &set.sentinels(), None).unwrap()),
        wait_replicas,
        wait_timeout: Duration::from_millis(200),
        ..RedisConfig::new(set.url())
    })
    .unwrap()
}

fn store(redis: &Redis) -> SessionStore {
    SessionStore::new(
        Engine::Cache(CacheSessions::new(
            redis.clone(),
            "",
            1,
            CacheFlavor::DJANGO_REDIS,
        )),
        SessionSettings::default(),
        Some(UserIndex::new(redis.clone(), "", 1)),
    )
}

fn cache_key(session_key: &str) -> String {
    format!(":1:django.contrib.sessions.cache{session_key}")
}

async fn new_session(store: &SessionStore, value: &str) -> String {
    let mut session = store.load(None).await.unwrap();
    session.insert("who", value);
    assert_eq!(
        store.save(&mut session).await.unwrap(),
        django_auth_core::store::SaveOutcome::Saved
    );
    session.session_key().unwrap().to_string()
}

/// What the calls made while `event` ran saw: each an answer or an outage, and when.
struct Report {
    answers: usize,
    outages: usize,
    slowest: Duration,
    /// From the moment `event` returned (the new primary named and answering) to the first answer after
    /// the last outage.
    recovered_after: Duration,
    /// Sessions saved during the event (the save answered), and sessions logged out (the logout answered).
    saved: Vec<String>,
    logged_out: Vec<String>,
}

/// A call's outcome during a failover: an answer, or an outage (503) within the deadline; nothing else.
fn classify<T>(result: Result<T, StoreError>, took: Duration, report: &mut Report) -> Option<T> {
    report.slowest = report.slowest.max(took);
    // Never slower than the deadline (connect + response) by more than scheduling noise.
    assert!(took < 2 * TIMEOUT + Duration::from_millis(300), "{took:?}");
    match result {
        Ok(value) => {
            report.answers += 1;
            Some(value)
        }
        Err(StoreError::Unavailable { .. }) => {
            report.outages += 1;
            None
        }
        Err(other) => panic!("not an outage: {other:?}"),
    }
}

/// Every 10 ms while `event` runs (on a blocking thread), loads `key` and saves a new session; then goes on
/// until 20 rounds in a row answered and 3 s have passed (a demoted primary drops its clients a moment
/// after the Sentinels name the new one).
async fn through(
    store: &SessionStore,
    key: &str,
    event: impl FnOnce() -> Result<u16, testkit::KitError> + Send + 'static,
) -> (Report, u16) {
    let mut event = Some(tokio::task::spawn_blocking(event));
    let mut report = Report {
        answers: 0,
        outages: 0,
        slowest: Duration::ZERO,
        recovered_after: Duration::ZERO,
        saved: Vec::new(),
        logged_out: Vec::new(),
    };
    let mut new_primary = None;
    let mut event_done_at: Option<Instant> = None;
    let mut last_outage: Option<Instant> = None;
    let mut streak = 0;
    let give_up = Instant::now() + Duration::from_secs(60);
    while streak < 20 || event_done_at.is_none_or(|at| at.elapsed() < Duration::from_secs(3)) {
        assert!(Instant::now() < give_up, "no recovery within a minute");
        let started = Instant::now();
        let loaded = store.load(Some(key)).await;
        let load_ok = classify(loaded, started.elapsed(), &mut report).map(|session| {
            assert_eq!(session.get("who"), Some(&Value::Str("kept".into())));
        });
        let started = Instant::now();
        let mut session = store.load(None).await.unwrap();
        session.insert("who", "during");
        let saved = store.save(&mut session).await;
        let save_ok = classify(saved, started.elapsed(), &mut report);
        if save_ok.is_some() {
            report
                .saved
                .push(session.session_key().unwrap().to_string());
        }
        // Every other round, the session saved the round before is logged out.
        let mut logout_ok = Some(());
        if report.saved.len() % 2 == 0 {
            if let Some(key) = report.saved.last().cloned() {
                let started = Instant::now();
                let logout = async {
                    let mut session = store.load(Some(&key)).await?;
                    store.logout(&mut session).await
                };
                logout_ok = classify(logout.await, started.elapsed(), &mut report);
                if logout_ok.is_some() {
                    report.logged_out.push(key);
                }
            }
        }
        if load_ok.is_some() && save_ok.is_some() && logout_ok.is_some() {
            streak += 1;
        } else {
            streak = 0;
            last_outage = Some(Instant::now());
        }
        if event.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(handle) = event.take() {
                new_primary = Some(handle.await.unwrap().unwrap());
                event_done_at = Some(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let done = event_done_at.unwrap();
    report.recovered_after = match last_outage {
        Some(at) if at > done => at - done,
        _ => Duration::ZERO,
    };
    (report, new_primary.unwrap())
}

/// Once the demoted primary replicates from the new one (nothing it took after the failover survives
/// that), no session logged out during the event is back; prints how many saves were lost (a Sentinel
/// failover loses what the old primary took after the promotion).
async fn settle_and_count(
    set: &std::sync::Mutex<RedisSentinel>,
    store: &SessionStore,
    report: &Report,
) {
    // After a kill, the old primary is down: there is nothing to wait for.
    let _ = set.lock().unwrap().wait_for_replica_in_sync();
    let mut resurrected = 0;
    for key in &report.logged_out {
        if !store.load(Some(key)).await.unwrap().is_empty() {
            resurrected += 1;
        }
    }
    let mut lost = 0;
    for key in report
        .saved
        .iter()
        .filter(|k| !report.logged_out.contains(k))
    {
        if store.load(Some(key)).await.unwrap().is_empty() {
            lost += 1;
        }
    }
    println!(
        "  {} logouts during it, {resurrected} resurrected; {} saves, {lost} lost",
        report.logged_out.len(),
        report.saved.len()
    );
    assert_eq!(
        resurrected, 0,
        "a session logged out during the failover came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_follow_the_primary_through_failovers_and_logouts_stay_out() {
    let set = Arc::new(std::sync::Mutex::new(RedisSentinel::start().unwrap()));
    let (url, sentinels) = {
        let s = set.lock().unwrap();
        (s.url(), s.sentinels())
    };
    let redis = {
        let s = set.lock().unwrap();
        redis(&s, None)
    };
    assert_eq!(url, "redis://mymaster/0");
    let store = store(&redis);
    let kept = new_session(&store, "kept").await;

    // 100 logouts, each on the replica by the time it returns (WAIT), read there directly.
    let replica = {
        let s = set.lock().unwrap();
        s.other_port(s.primary_port().unwrap())
    };
    let mut logged_out = Vec::new();
    for i in 0..100 {
        let key = new_session(&store, &format!("user {i}")).await;
        let mut session = store.load(Some(&key)).await.unwrap();
        store.logout(&mut session).await.unwrap();
        let on_replica = redis_cli(replica, &["EXISTS", &cache_key(&key)]).unwrap();
        assert_eq!(
            on_replica.trim(),
            "0",
            "try {i}: the logout was not on the replica yet"
        );
        logged_out.push(key);
    }
    println!("100 of 100 logouts were on the replica when they returned");

    // A forced failover: calls meanwhile answer or fail as an outage, then answer again.
    let event_set = set.clone();
    let (report, primary) =
        through(&store, &kept, move || event_set.lock().unwrap().failover()).await;
    assert_eq!(primary, replica, "the replica was promoted");
    println!(
        "forced failover: {} answers, {} outages, slowest call {:?}, back {:?} after the new primary",
        report.answers, report.outages, report.slowest, report.recovered_after
    );
    assert!(report.recovered_after < Duration::from_secs(5));
    for key in &logged_out {
        let session = store.load(Some(key)).await.unwrap();
        assert!(
            session.is_empty() && session.session_key().is_none(),
            "resurrected"
        );
    }
    settle_and_count(&set, &store, &report).await;
    // Written on the new primary, and its logout on the new replica (the demoted primary) on return.
    set.lock().unwrap().wait_for_replica_in_sync().unwrap();
    let key = new_session(&store, "after").await;
    let mut session = store.load(Some(&key)).await.unwrap();
    store.logout(&mut session).await.unwrap();
    let demoted = set.lock().unwrap().other_port(primary);
    assert_eq!(
        redis_cli(demoted, &["EXISTS", &cache_key(&key)])
            .unwrap()
            .trim(),
        "0"
    );

    // A killed primary: the Sentinels vote after down-after-milliseconds; the same store follows.
    let event_set = set.clone();
    let (report, primary_after_kill) = through(&store, &kept, move || {
        let mut s = event_set.lock().unwrap();
        let old = s.kill_primary()?;
        s.wait_for_new_primary(old, Duration::from_secs(30))
    })
    .await;
    println!(
        "killed primary: {} answers, {} outages, slowest call {:?}, back {:?} after the new primary",
        report.answers, report.outages, report.slowest, report.recovered_after
    );
    assert!(
        report.outages > 0,
        "a killed primary is an outage until the vote"
    );
    assert!(report.recovered_after < Duration::from_secs(5));
    assert_eq!(primary_after_kill, demoted);
    settle_and_count(&set, &store, &report).await;
    for key in &logged_out {
        assert!(
            store.load(Some(key)).await.unwrap().is_empty(),
            "resurrected"
        );
    }
    // The killed node comes back as a replica; the service never restarted.
    set.lock().unwrap().restart_as_replica(primary).unwrap();
    let key = new_session(&store, "later").await;
    assert!(!store.load(Some(&key)).await.unwrap().is_empty());
    assert_eq!(sentinels.split(',').count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_does_not_acknowledge_is_counted_and_the_logout_holds() {
    let set = RedisSentinel::start().unwrap();
    let redis = redis(&set, Some(1));
    let store = store(&redis);
    let key = new_session(&store, "someone").await;
    let mut session = store.load(Some(&key)).await.unwrap();
    let before = metrics::redis_wait_timeouts();
    set.pause_replica().unwrap();
    let started = Instant::now();
    let result = store.logout(&mut session).await;
    let took = started.elapsed();
    set.resume_replica().unwrap();
    result.unwrap();
    assert!(
        took >= Duration::from_millis(200),
        "{took:?}: WAIT was not sent"
    );
    assert!(took < 2 * TIMEOUT, "{took:?}");
    // (The counter is the process's: other tests in this binary may add to it meanwhile.)
    assert!(metrics::redis_wait_timeouts() > before);
    assert!(store.load(Some(&key)).await.unwrap().is_empty());

    // The Sentinels do not know the service: an outage within the deadline, not an error or a hang.
    let unknown = Redis::connect(&RedisConfig {
        connect_timeout: TIMEOUT,
        response_timeout: TIMEOUT,
        sentinel: Some(
            SentinelConfig::parse("redis://:pw@othermaster/0", &set.sentinels(), None).unwrap(),
        ),
        ..RedisConfig::new("redis://othermaster/0")
    })
    .unwrap();
    let started = Instant::now();
    let error = crate::store(&unknown).load(Some(&key)).await.unwrap_err();
    assert!(error.is_unavailable(), "{error:?}");
    assert!(started.elapsed() < 2 * TIMEOUT + Duration::from_millis(300));
    assert!(!error.to_string().contains("pw"), "{error}");
}

/// django-redis's `SentinelClient` (the peer: a real Django project) and our store on the same Sentinels:
/// each reads the other's sessions; a logout on either side is a logout for both; Django, which reads from
/// the replica, never sees a session we logged out (our deletion is on the replica when it returns); and
/// both follow a forced failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_redis_sentinel_client_shares_sessions_both_ways() {
    use std::collections::HashMap;

    use serde_json::json;
    use testkit::PostgresServer;
    use testkit::django::Oracle;

    let pg = PostgresServer::start().unwrap();
    let set = RedisSentinel::start().unwrap();
    let vars: Vec<(&str, String)> = vec![
        (
            "SECRET_KEY",
            "peer-secret-key-for-the-sentinel-tests-0123".into(),
        ),
        ("DATABASE_URL", pg.url()),
        ("REDIS_URL", set.url()),
        ("REDIS_SENTINELS", set.sentinels()),
        ("SESSION_ENGINE", "cache".into()),
        ("CACHE_BACKEND", "django_redis.cache.RedisCache".into()),
        ("CACHE_KEY_PREFIX", "site".into()),
        ("REDIS_SOCKET_TIMEOUT", "0.5".into()),
        ("REDIS_SOCKET_CONNECT_TIMEOUT", "0.5".into()),
    ];
    let map: HashMap<&str, &str> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let settings = django_auth_core::settings::Settings::from_lookup(|name| {
        map.get(name).map(|v| v.to_string())
    })
    .unwrap();
    let connections = settings.connect().unwrap();
    let store = settings.session_store(&connections).unwrap();
    let peer_vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut peer = Oracle::peer(&peer_vars);
    let mut call = |op: &str, args: serde_json::Value| peer.call(op, json!({}), args);
    let primary = set.primary_port().unwrap();
    let replica = set.other_port(primary);
    let full_key = |key: &str| format!("site:1:django.contrib.sessions.cache{key}");

    // Django → ours (Django writes to the primary, where we read).
    let created = call("session_create", json!({"data": {"from": "django"}}));
    let django_key = created["session_key"].as_str().unwrap().to_string();
    let theirs = store.load(Some(&django_key)).await.unwrap();
    assert_eq!(theirs.get("from"), Some(&Value::Str("django".into())));

    // Ours → Django (Django reads from the replica: once it has our write, Django finds it).
    let ours = new_session(&store, "rust").await;
    let start = Instant::now();
    while redis_cli(replica, &["EXISTS", &full_key(&ours)])
        .unwrap()
        .trim()
        != "1"
    {
        assert!(start.elapsed() < Duration::from_secs(5), "never replicated");
        std::thread::sleep(Duration::from_millis(5));
    }
    let loaded = call("session_load", json!({"session_key": ours}));
    assert_eq!(loaded["data"], json!({"who": "rust"}), "{loaded}");

    // Our logout: Django, reading the replica right after, finds nothing, 100 times in 100.
    for i in 0..100 {
        let key = new_session(&store, &format!("user {i}")).await;
        let mut session = store.load(Some(&key)).await.unwrap();
        store.logout(&mut session).await.unwrap();
        let loaded = call("session_load", json!({"session_key": key}));
        assert_eq!(loaded["found"], json!(false), "try {i}: {loaded}");
    }
    // Django's logout: we find nothing.
    call("session_flush", json!({"session_key": django_key}));
    assert!(store.load(Some(&django_key)).await.unwrap().is_empty());

    // A forced failover: both sides follow it, and still share the session.
    let new_primary = set.failover().unwrap();
    assert_eq!(new_primary, replica);
    let start = Instant::now();
    let session = loop {
        match store.load(Some(&ours)).await {
            Ok(session) => break session,
            Err(e) if e.is_unavailable() && start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(session.get("who"), Some(&Value::Str("rust".into())));
    // redis-py finds the new primary after its connection to the old one fails: retry that one error.
    let start = Instant::now();
    let created = loop {
        match peer.try_call(
            "session_create",
            json!({}),
            json!({"data": {"after": "failover"}}),
        ) {
            Ok(created) => break created,
            Err(e) if start.elapsed() < Duration::from_secs(5) => {
                eprintln!("Django during the failover: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("Django did not follow the failover: {e}"),
        }
    };
    let mut call = |op: &str, args: serde_json::Value| peer.call(op, json!({}), args);
    let after = created["session_key"].as_str().unwrap().to_string();
    assert_eq!(
        store.load(Some(&after)).await.unwrap().get("after"),
        Some(&Value::Str("failover".into()))
    );
    let mut session = store.load(Some(&after)).await.unwrap();
    store.logout(&mut session).await.unwrap();
    set.wait_for_replica_in_sync().unwrap();
    let loaded = call("session_load", json!({"session_key": after}));
    assert_eq!(loaded["found"], json!(false), "{loaded}");
}

/// Django's `RedisCache` with several `LOCATION`s (primary first, then a replica), as `REDIS_URL` lists
/// them: sessions are written to and read from the first, and a deletion waits for a replica (by default,
/// since the list names one): a paused replica makes it a counted timeout, the logout still done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_locations_use_the_first_and_wait_for_a_replica() {
    use std::collections::HashMap;

    let set = RedisSentinel::start().unwrap();
    let primary = set.primary_port().unwrap();
    let replica = set.other_port(primary);
    let url = format!("redis://127.0.0.1:{primary}/0, redis://127.0.0.1:{replica}/0");
    let vars: HashMap<&str, &str> = [
        ("SECRET_KEY", "k"),
        ("SESSION_ENGINE", "cache"),
        ("REDIS_URL", url.as_str()),
        ("REDIS_SOCKET_TIMEOUT", "0.5"),
    ]
    .into_iter()
    .collect();
    let settings = django_auth_core::settings::Settings::from_lookup(|name| {
        vars.get(name).map(|v| v.to_string())
    })
    .unwrap();
    assert_eq!(settings.redis.as_ref().unwrap().wait_replicas, Some(1));
    let connections = settings.connect().unwrap();
    let store = settings.session_store(&connections).unwrap();
    let key = new_session(&store, "listed").await;
    assert_eq!(
        redis_cli(
            primary,
            &["EXISTS", &format!(":1:django.contrib.sessions.cache{key}")]
        )
        .unwrap()
        .trim(),
        "1"
    );
    let mut session = store.load(Some(&key)).await.unwrap();
    store.logout(&mut session).await.unwrap();
    assert_eq!(
        redis_cli(
            replica,
            &["EXISTS", &format!(":1:django.contrib.sessions.cache{key}")]
        )
        .unwrap()
        .trim(),
        "0"
    );

    // (The counter is the process's: other tests in this binary may add to it meanwhile.)
    let before = metrics::redis_wait_timeouts();
    let key = new_session(&store, "again").await;
    let mut session = store.load(Some(&key)).await.unwrap();
    set.pause_replica().unwrap();
    let result = store.logout(&mut session).await;
    set.resume_replica().unwrap();
    result.unwrap();
    assert!(
        metrics::redis_wait_timeouts() > before,
        "the paused replica was waited for"
    );
    assert!(store.load(Some(&key)).await.unwrap().is_empty());
}
