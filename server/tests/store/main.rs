//! The store conformance suite (`cairn_server::conformance`) against every backend: each case
//! is one test per backend. SQLite runs in memory; MongoDB runs against a real SecantusDB
//! server (one for the whole binary, started when the first MongoDB test runs, each case in
//! a database of its own). A few tests only the MongoDB backend needs follow the cases.

use cairn_server::conformance::{cases, doc, session, CaseFuture};
use cairn_server::testing::Secantus;
use cairn_server::{MongoStore, SqliteStore, Store};
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Case = for<'a> fn(&'a dyn Store) -> CaseFuture<'a>;

static SECANTUS: OnceLock<Result<Secantus, String>> = OnceLock::new();

/// The server, started on first use; when it cannot be, every MongoDB test fails with why.
fn secantus() -> Result<&'static Secantus, Failed> {
    SECANTUS.get_or_init(Secantus::start).as_ref().map_err(|e| Failed::from(e.clone()))
}

fn block_on<T>(future: impl Future<Output = Result<T, String>>) -> Result<T, Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(future).map_err(Failed::from)
}

async fn mongo(database: &str) -> Result<MongoStore, String> {
    let server = secantus().map_err(|e| e.message().unwrap_or("SecantusDB did not start").to_string())?;
    MongoStore::connect(&server.uri(), database).await.map_err(|e| e.to_string())
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for (name, case) in cases() {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            let store = SqliteStore::in_memory().map_err(|e| e.to_string())?;
            block_on(case(&store))
        }));
    }
    for (index, (name, case)) in cases().into_iter().enumerate() {
        let case: Case = case;
        trials.push(Trial::test(format!("mongodb::{name}"), move || {
            secantus()?;
            block_on(async move { case(&mongo(&format!("conformance_{index}")).await?).await })
        }));
    }
    trials.push(Trial::test("mongodb::an_unreachable_server_fails_fast_and_keeps_the_password", || {
        block_on(an_unreachable_server_fails_fast_and_keeps_the_password())
    }));
    trials.push(Trial::test("mongodb::stores_sharing_a_database_number_versions_apart", || {
        secantus()?;
        block_on(stores_sharing_a_database_number_versions_apart())
    }));
    trials.push(Trial::test("sqlite::the_feed_reports_a_change_of_primary_the_store_wrote_itself", || {
        block_on(the_feed_reports_a_change_of_primary_the_store_wrote_itself())
    }));
    trials.push(Trial::test("mongodb::a_store_follows_the_events_another_store_appends", || {
        secantus()?;
        block_on(a_store_follows_the_events_another_store_appends())
    }));
    trials.push(Trial::test("mongodb::reconnecting_keeps_everything", || {
        secantus()?;
        block_on(reconnecting_keeps_everything())
    }));
    trials.push(Trial::test("mongodb::stores_sharing_a_database_grant_a_lease_once", || {
        secantus()?;
        block_on(stores_sharing_a_database_grant_a_lease_once())
    }));
    trials.push(Trial::test("mongodb::epochs_survive_reconnecting", || {
        secantus()?;
        block_on(async {
            let first = mongo("epochs").await?;
            epochs_survive_a_restart(&first, || mongo("epochs")).await
        })
    }));
    trials.push(Trial::test("sqlite::epochs_survive_reopening", || {
        let dir = std::env::temp_dir().join(format!("cairn-store-epochs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.db");
        let outcome = block_on(async {
            let first = SqliteStore::open(&path).map_err(|e| e.to_string())?;
            epochs_survive_a_restart(&first, || async { SqliteStore::open(&path).map_err(|e| e.to_string()) }).await
        });
        let _ = std::fs::remove_dir_all(&dir);
        outcome
    }));
    trials.push(Trial::test("mongodb::a_version_of_65000_resources", || {
        secantus()?;
        block_on(a_version_of_65000_resources())
    }));
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(Ok(server)) = SECANTUS.get() {
        if let Err(error) = server.stop() {
            eprintln!("stopping SecantusDB: {error}");
        }
    }
    conclusion.exit();
}

/// Connecting to a port where nothing listens fails within the server-selection timeout
/// (5 s), names the address, and never shows the URI's password.
async fn an_unreachable_server_fails_fast_and_keeps_the_password() -> Result<(), String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let started = Instant::now();
    let outcome = MongoStore::connect(&format!("mongodb://cairn:pa55-w0rd-xyz@127.0.0.1:{port}/?authSource=admin"), "cairn").await;
    let elapsed = started.elapsed();
    let Err(error) = outcome else { return Err("connected to a port where nothing listens".into()) };
    let message = error.to_string();
    if elapsed > Duration::from_secs(15) {
        return Err(format!("failing took {elapsed:?}"));
    }
    if !message.contains(&format!("127.0.0.1:{port}")) || !message.contains("cannot reach MongoDB") {
        return Err(format!("the message does not say where: {message}"));
    }
    if message.contains("pa55-w0rd-xyz") {
        return Err(format!("the message shows the password: {message}"));
    }
    Ok(())
}

/// Two stores on one database (two servers) creating versions of one environment at
/// once: every number is given once.
/// A change of primary is written by the store inside the lease's transaction, so no
/// caller hands it to the bus: the SQLite store's feed must report it.
async fn the_feed_reports_a_change_of_primary_the_store_wrote_itself() -> Result<(), String> {
    let store = std::sync::Arc::new(SqliteStore::in_memory().map_err(|e| e.to_string())?);
    store.create_environment(&cairn_server::conformance::environment("feed", "00000000-0000-4000-8000-00000000f001")).await.map_err(|e| e.to_string())?;
    let (latest, mut seen) = tokio::sync::watch::channel(0u64);
    let follower = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move { store.follow_events(&latest).await })
    };
    store.register_session("feed", &session("s1", &["web"], 1_000)).await.map_err(|e| e.to_string())?;
    store.acquire_lease("feed", "web", "s1", 1_000, 60_000, false).await.map_err(|e| e.to_string())?.ok_or("no lease")?;
    let (_, last) = store.event_bounds().await.map_err(|e| e.to_string())?;
    let events = store.events(0, Some("feed"), 10).await.map_err(|e| e.to_string())?;
    if !events.iter().any(|e| e.kind == "agent.primary" && e.id == last) {
        return Err(format!("the last event is not the change of primary: {events:?}"));
    }
    let waited = tokio::time::timeout(Duration::from_secs(5), seen.wait_for(|id| *id >= last)).await.map(|r| r.is_ok());
    follower.abort();
    if waited != Ok(true) {
        return Err(format!("the feed never reported id {last}"));
    }
    Ok(())
}

/// Two servers on one database: the change stream of one sees what the other appends,
/// and appends from both, at once, are numbered with no hole and no id twice.
async fn a_store_follows_the_events_another_store_appends() -> Result<(), String> {
    use cairn_server::events::{EventKind, NewEvent};
    let (a, b) = (mongo("events_shared").await?, mongo("events_shared").await?);
    let (latest, mut seen) = tokio::sync::watch::channel(0u64);
    let follower = {
        let b = b.clone();
        tokio::spawn(async move { b.follow_events(&latest).await })
    };
    // The stream is open once the follower's first tick has read the last id.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let event = |n: u64| NewEvent::new("e", EventKind::ResourceState, serde_json::json!({ "n": n }));
    let write = |store: MongoStore, base: u64| async move {
        for n in 0..20 {
            store.append_events(&[event(base + n)]).await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    };
    let (one, two) = tokio::join!(tokio::spawn(write(a.clone(), 0)), tokio::spawn(write(b.clone(), 100)));
    one.map_err(|e| e.to_string())??;
    two.map_err(|e| e.to_string())??;
    let (_, last) = a.event_bounds().await.map_err(|e| e.to_string())?;
    let waited = tokio::time::timeout(Duration::from_secs(10), seen.wait_for(|id| *id >= last)).await.map(|r| r.is_ok());
    if waited != Ok(true) {
        return Err(format!("the follower never saw id {last}: it saw {}", *seen.borrow()));
    }
    follower.abort();
    let events = b.events(0, Some("e"), 1000).await.map_err(|e| e.to_string())?;
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    if ids.len() != 40 || ids.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(format!("ids are not 40 in a row: {ids:?}"));
    }
    Ok(())
}

async fn stores_sharing_a_database_number_versions_apart() -> Result<(), String> {
    let (a, b) = (mongo("shared").await?, mongo("shared").await?);
    let create = |store: MongoStore| async move {
        let mut numbers = Vec::new();
        for n in 0..8 {
            numbers.push(store.create_version("e", &[doc(&format!("t[a,k={n}]"), "h")]).await.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(numbers)
    };
    let (first, second) = tokio::join!(tokio::spawn(create(a.clone())), tokio::spawn(create(b)));
    let mut all: Vec<u64> = first.map_err(|e| e.to_string())??;
    all.extend(second.map_err(|e| e.to_string())??);
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    if distinct != (1..=16).collect() {
        return Err(format!("numbered {all:?}"));
    }
    let listed = a.versions("e").await.map_err(|e| e.to_string())?.len();
    if listed != 16 {
        return Err(format!("{listed} versions listed"));
    }
    Ok(())
}

/// What a store wrote is there for a new connection (a restarted server).
async fn reconnecting_keeps_everything() -> Result<(), String> {
    {
        let store = mongo("reconnect").await?;
        store.create_version("e", &[doc("t[a,k=1]", "h1")]).await.map_err(|e| e.to_string())?;
        store.release_version("e", 1).await.map_err(|e| e.to_string())?;
    }
    let store = mongo("reconnect").await?;
    let read = store.version_resources("e", 1).await.map_err(|e| e.to_string())?;
    let released = store.released_version("e").await.map_err(|e| e.to_string())?;
    if read != vec![doc("t[a,k=1]", "h1")] || released != Some(1) {
        return Err(format!("after reconnecting: {read:?}, released {released:?}"));
    }
    Ok(())
}

/// A version as large as a big fleet's: stored in bulk, read back whole and by a page from
/// its middle, deleted; prints how long each took (a few seconds on SecantusDB since
/// versions are stored in chunks).
async fn a_version_of_65000_resources() -> Result<(), String> {
    let store = mongo("large").await?;
    // CAIRN_LARGE_VERSION=N for another size.
    let count: usize = std::env::var("CAIRN_LARGE_VERSION").ok().and_then(|n| n.parse().ok()).unwrap_or(65_000);
    let resources: Vec<_> = (0..count).map(|n| doc(&format!("fs::File[host{},path=/etc/f{n}]", n % 100), &format!("h{n}"))).collect();
    let started = Instant::now();
    let version = store.create_version("e", &resources).await.map_err(|e| e.to_string())?;
    let created = started.elapsed();
    let started = Instant::now();
    let read = store.version_resources("e", version).await.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let started = Instant::now();
    let page = store.version_resources_page("e", version, Some(&read[count / 2].id), 1_000).await.map_err(|e| e.to_string())?;
    let paged = started.elapsed();
    let started = Instant::now();
    store.delete_version("e", version).await.map_err(|e| e.to_string())?;
    let deleted = started.elapsed();
    eprintln!("{count} resources: stored in {created:?}, read back in {elapsed:?}, a page of {} in {paged:?}, deleted in {deleted:?}", page.len());
    if read.len() != resources.len() {
        return Err(format!("{} resources read back", read.len()));
    }
    let mut ids: Vec<&str> = resources.iter().map(|r| r.id.0.as_str()).collect();
    ids.sort_unstable();
    if read.iter().map(|r| r.id.0.as_str()).ne(ids.iter().copied()) {
        return Err("the version was not read back whole in id order".into());
    }
    let middle = read[count / 2].id.0.as_str();
    if page.len() != 1_000.min(count - count / 2 - 1) || page.iter().map(|r| r.id.0.as_str()).ne(ids[count / 2 + 1..].iter().take(1_000).copied()) {
        return Err(format!("the page after {middle} is not the next {} ids", page.len()));
    }
    if !store.version_resources("e", version).await.map_err(|e| e.to_string())?.is_empty() {
        return Err("the deleted version is still read".into());
    }
    Ok(())
}

/// Two stores on one database (two servers), each asking for one agent name's lease for
/// its own session many times at once: exactly one session is granted it, in epoch 1.
async fn stores_sharing_a_database_grant_a_lease_once() -> Result<(), String> {
    let (a, b) = (mongo("shared_lease").await?, mongo("shared_lease").await?);
    for id in ["s1", "s2"] {
        a.register_session("e", &session(id, &["web"], 1_000)).await.map_err(|e| e.to_string())?;
    }
    let ask = |store: MongoStore, id: &'static str| async move {
        let asks = (0..6).map(|_| store.acquire_lease("e", "web", id, 1_000, 10_000, false));
        let mut granted = Vec::new();
        for outcome in futures_util::future::join_all(asks).await {
            if let Some(lease) = outcome.map_err(|e| e.to_string())? {
                granted.push(lease);
            }
        }
        Ok::<_, String>(granted)
    };
    let (first, second) = tokio::join!(tokio::spawn(ask(a.clone(), "s1")), tokio::spawn(ask(b, "s2")));
    let mut granted = first.map_err(|e| e.to_string())??;
    granted.extend(second.map_err(|e| e.to_string())??);
    let holders: BTreeSet<(String, u64)> = granted.iter().map(|l| (l.session_id.clone(), l.epoch)).collect();
    if holders.len() != 1 || holders.iter().any(|(_, epoch)| *epoch != 1) {
        return Err(format!("granted {granted:?}"));
    }
    let changes = a.primary_changes("e", None, 10).await.map_err(|e| e.to_string())?;
    if changes.len() != 1 {
        return Err(format!("{} primary changes: {changes:?}", changes.len()));
    }
    Ok(())
}

/// A lease's epoch is the store's: a restarted server (a store opened again) grants the
/// next term after the last one, and refuses the results of the ones before.
async fn epochs_survive_a_restart<S, F, R>(first: &S, reopen: R) -> Result<(), String>
where
    S: Store,
    F: Future<Output = Result<S, String>>,
    R: Fn() -> F,
{
    let err = |e: cairn_server::StoreError| e.to_string();
    for id in ["s1", "s2"] {
        first.register_session("e", &session(id, &["web"], 1_000)).await.map_err(err)?;
    }
    first.acquire_lease("e", "web", "s1", 1_000, 1_000, false).await.map_err(err)?.ok_or("no grant")?;
    first.acquire_lease("e", "web", "s2", 5_000, 1_000, false).await.map_err(err)?.ok_or("no takeover")?;
    let store = reopen().await?;
    let third = store.acquire_lease("e", "web", "s1", 9_000, 1_000, false).await.map_err(err)?.ok_or("no grant after reopening")?;
    if third.epoch != 3 {
        return Err(format!("after reopening, granted {third:?}"));
    }
    let stale = store.record_fenced("e", "web", 2, &[]).await;
    if !matches!(stale, Err(cairn_server::StoreError::Fenced(_))) {
        return Err(format!("an older epoch after reopening: {stale:?}"));
    }
    Ok(())
}
