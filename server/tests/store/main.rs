//! The store conformance suite (`cairn_server::conformance`) against every backend: each case
//! is one test per backend. SQLite runs in memory; the MongoDB backend joins in here.

use cairn_server::conformance::cases;
use cairn_server::{SqliteStore, Store};
use libtest_mimic::{Arguments, Failed, Trial};

fn run(store: &dyn Store, case: for<'a> fn(&'a dyn Store) -> cairn_server::conformance::CaseFuture<'a>) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().map_err(|e| e.to_string())?;
    runtime.block_on(case(store)).map_err(Failed::from)
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for (name, case) in cases() {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            let store = SqliteStore::in_memory().map_err(|e| e.to_string())?;
            run(&store, case)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
