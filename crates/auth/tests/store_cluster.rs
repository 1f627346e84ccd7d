//! The `cache` engine, the per-user index and the login throttle on a Redis Cluster (three primaries with a
//! replica each; real processes): a killed shard primary affects only that shard's sessions, which come
//! back, with their data, once its replica takes over; the other shards answer throughout. (The engine's
//! semantics, races included, run on a cluster in `store_cache.rs`: each `…::cluster` test.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use django_auth_core::Value;
use django_auth_core::cluster::ClusterConfig;
use django_auth_core::connections::{Redis, RedisConfig, StoreError};
use django_auth_core::store::{
    CacheFlavor, CacheSessions, Engine, SaveOutcome, SessionSettings, SessionStore, UserIndex,
};
use django_auth_core::throttle::{LoginThrottle, ThrottleSettings};
use testkit::{CLUSTER_NODE_TIMEOUT, RedisCluster};

const TIMEOUT: Duration = Duration::from_millis(500);

fn redis(cluster: &RedisCluster) -> Redis {
    Redis::connect(&RedisConfig {
        connect_timeout: TIMEOUT,
        response_timeout: TIMEOUT,
        cluster: Some(ClusterConfig::parse(&cluster.nodes(), None).unwrap()),
        ..RedisConfig::new("")
    })
    .unwrap()
}

fn cache_key(session_key: &str) -> String {
    format!(":1:django.contrib.sessions.cache{session_key}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shard_primary_stops_only_its_sessions_until_its_replica_takes_over() {
    let mut cluster = RedisCluster::start().unwrap();
    let redis = redis(&cluster);
    let store = SessionStore::new(
        Engine::Cache(CacheSessions::new(
            redis.clone(),
            "",
            1,
            CacheFlavor::Django,
        )),
        SessionSettings::default(),
        Some(UserIndex::new(redis.clone(), "", 1)),
    );

    // Sessions on every shard.
    let mut sessions = Vec::new();
    for i in 0..30i64 {
        let mut session = store.load(None).await.unwrap();
        session.insert("n", i);
        assert_eq!(store.save(&mut session).await.unwrap(), SaveOutcome::Saved);
        let key = session.session_key().unwrap().to_string();
        let shard = cluster.primary_for(&cache_key(&key)).unwrap();
        sessions.push((key, i, shard));
    }
    let shards: BTreeMap<u16, usize> = sessions.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s.2).or_default() += 1;
        m
    });
    assert_eq!(shards.len(), 3, "30 sessions on three shards: {shards:?}");
    // The replicas have them before the kill (replication is asynchronous).
    tokio::time::sleep(Duration::from_millis(200)).await;

    let victim = sessions[0].2;
    cluster.kill(victim);
    let killed_at = Instant::now();
    let mut outages = 0;
    let mut new_primary = None;
    let mut back_after = None;
    while back_after.is_none() {
        assert!(killed_at.elapsed() < Duration::from_secs(60), "no failover");
        let mut victim_ok = 0;
        for (key, n, shard) in &sessions {
            let started = Instant::now();
            let result = store.load(Some(key)).await;
            let took = started.elapsed();
            assert!(took < 2 * TIMEOUT + Duration::from_millis(300), "{took:?}");
            match result {
                Ok(session) => {
                    assert_eq!(session.get("n"), Some(&Value::Int(*n)), "shard {shard}");
                    if *shard == victim {
                        victim_ok += 1;
                    }
                }
                Err(StoreError::Unavailable { .. }) if *shard == victim => outages += 1,
                Err(e) => panic!("shard {shard} (the killed one: {victim}): {e:?}"),
            }
        }
        if new_primary.is_none() {
            new_primary = cluster
                .primary_for(&cache_key(&sessions[0].0))
                .ok()
                .filter(|p| *p != victim)
                .map(|p| (p, Instant::now()));
        }
        if let Some((_, at)) = new_primary {
            if victim_ok == shards[&victim] {
                back_after = Some(at.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back_after = back_after.unwrap();
    println!(
        "killed shard primary: {outages} failed loads on its shard, none elsewhere; its replica took over \
         {:?} after the kill (cluster-node-timeout {CLUSTER_NODE_TIMEOUT:?}); its sessions back {back_after:?} \
         after that",
        new_primary.unwrap().1 - killed_at
    );
    assert!(back_after < Duration::from_secs(5));

    // Writes and logouts on the promoted replica; the killed node rejoins as a replica.
    let (key, _, _) = &sessions[0];
    let mut session = store.load(Some(key)).await.unwrap();
    store.logout(&mut session).await.unwrap();
    assert!(store.load(Some(key)).await.unwrap().is_empty());
    cluster.restart(victim).unwrap();
    for (key, n, _) in &sessions[1..] {
        assert_eq!(
            store.load(Some(key)).await.unwrap().get("n"),
            Some(&Value::Int(*n))
        );
    }
}

/// The throttle's counters for a username and an address live on different shards: each is its own call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_throttle_counts_across_shards() {
    let cluster = RedisCluster::start().unwrap();
    let throttle = LoginThrottle::redis(
        ThrottleSettings {
            per_username: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        },
        redis(&cluster),
        "",
        1,
    );
    for _ in 0..3 {
        assert!(throttle.check("ann", "10.0.0.1").await.unwrap().is_ok());
        throttle.failed("ann", "10.0.0.1").await.unwrap();
    }
    assert!(throttle.check("ann", "10.0.0.2").await.unwrap().is_err());
    assert!(throttle.check("bob", "10.0.0.2").await.unwrap().is_ok());
    for _ in 0..2 {
        throttle.failed("bob", "10.0.0.1").await.unwrap();
    }
    // Five failures from 10.0.0.1: locked out for everyone from there.
    assert!(throttle.check("carol", "10.0.0.1").await.unwrap().is_err());
    throttle.succeeded("ann").await.unwrap();
    assert!(throttle.check("ann", "10.0.0.3").await.unwrap().is_ok());
}
