//! The store conformance suite (`cairn_server::conformance`) against every backend: each case
//! is one test per backend. SQLite runs in memory; MongoDB runs against a real SecantusDB
//! server (one for the whole binary, started when the first MongoDB test runs, each case in
//! a database of its own). A few tests only the MongoDB backend needs follow the cases.

use cairn_server::conformance::{cases, doc, CaseFuture};
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
    trials.push(Trial::test("mongodb::reconnecting_keeps_everything", || {
        secantus()?;
        block_on(reconnecting_keeps_everything())
    }));
    trials.push(
        Trial::test("mongodb::a_version_of_65000_resources", || {
            secantus()?;
            block_on(a_version_of_65000_resources())
        })
        .with_ignored_flag(true),
    );
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

/// A version as large as a big fleet's (run with `--ignored`): stored in bulk, read back
/// whole; prints how long each took.
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
    Ok(())
}
