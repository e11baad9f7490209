//! The conformance suite every [`Store`] backend passes: the same test functions, run over
//! `&dyn Store` against SQLite and against MongoDB (`server/tests/store`). Each case starts
//! from an empty store and uses environment names of its own, so cases may share a backend.
//! A case returns `Err` with what differed; it never panics.

use crate::records::{AgentRecord, ChangeReason, DryRunRecord, EnvironmentRecord, Lease, PrimaryChange, Role, RunRequests, SessionRecord, StatusFilter, TokenRecord};
use crate::store::{Store, StoreError};
use cairn_wire::{Action, Change, DeployResult, ResourceDoc, ResourceId, ResourceState};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;

mod agents;
mod compiles;
mod environments;
mod events;
mod files;
mod states;
mod versions;

use agents::*;
use compiles::*;
use environments::*;
use events::*;
use files::*;
use states::*;
use versions::*;
pub use agents::session;

pub type CaseResult = Result<(), String>;

pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = CaseResult> + Send + 'a>>;

/// A case: a name and the function that runs it against a store.
pub type Case = (&'static str, for<'a> fn(&'a dyn Store) -> CaseFuture<'a>);

/// Every case of the suite.
pub fn cases() -> Vec<Case> {
    vec![
        ("events_are_one_sequence_read_in_order", |s| Box::pin(events_are_one_sequence_read_in_order(s))),
        ("pruning_removes_old_events_and_keeps_the_last_id", |s| Box::pin(pruning_removes_old_events_and_keeps_the_last_id(s))),
        ("a_change_of_primary_is_an_event", |s| Box::pin(a_change_of_primary_is_an_event(s))),
        ("concurrent_appends_are_numbered_once_with_no_hole", |s| Box::pin(concurrent_appends_are_numbered_once_with_no_hole(s))),
        ("compile_requests_need_the_environment_and_coalesce", |s| Box::pin(compile_requests_need_the_environment_and_coalesce(s))),
        ("compiles_are_claimed_oldest_first_one_per_environment", |s| Box::pin(compiles_are_claimed_oldest_first_one_per_environment(s))),
        ("an_expired_claim_is_failed_as_abandoned_and_frees_its_environment", |s| Box::pin(an_expired_claim_is_failed_as_abandoned_and_frees_its_environment(s))),
        ("deleting_an_environment_deletes_its_compiles", |s| Box::pin(deleting_an_environment_deletes_its_compiles(s))),
        ("concurrent_requests_and_claims_stay_one_per_environment", |s| Box::pin(concurrent_requests_and_claims_stay_one_per_environment(s))),
        ("versions_are_numbered_per_environment", |s| Box::pin(versions_are_numbered_per_environment(s))),
        ("version_resources_read_back_whole_and_sorted", |s| Box::pin(version_resources_read_back_whole_and_sorted(s))),
        ("one_resource_of_a_version_is_read_by_its_id", |s| Box::pin(one_resource_of_a_version_is_read_by_its_id(s))),
        ("unknown_environment_has_nothing", |s| Box::pin(unknown_environment_has_nothing(s))),
        ("results_set_state_and_deployed_hash", |s| Box::pin(results_set_state_and_deployed_hash(s))),
        ("dry_runs_change_no_state_and_intents_keep_the_hash", |s| Box::pin(dry_runs_change_no_state_and_intents_keep_the_hash(s))),
        ("versions_are_listed_newest_first_with_their_digest", |s| Box::pin(versions_are_listed_newest_first_with_their_digest(s))),
        ("pruning_keeps_the_newest_versions_whole", |s| Box::pin(pruning_keeps_the_newest_versions_whole(s))),
        ("action_logs_keep_every_result_in_order", |s| Box::pin(action_logs_keep_every_result_in_order(s))),
        ("environments_are_isolated", |s| Box::pin(environments_are_isolated(s))),
        ("an_empty_report_is_accepted", |s| Box::pin(an_empty_report_is_accepted(s))),
        ("intents_mark_resources_deploying", |s| Box::pin(intents_mark_resources_deploying(s))),
        ("files_are_kept_once_by_their_hash", |s| Box::pin(files_are_kept_once_by_their_hash(s))),
        ("a_large_file_is_kept_whole", |s| Box::pin(a_large_file_is_kept_whole(s))),
        ("a_version_with_an_id_twice_is_refused", |s| Box::pin(a_version_with_an_id_twice_is_refused(s))),
        ("concurrent_versions_get_distinct_numbers", |s| Box::pin(concurrent_versions_get_distinct_numbers(s))),
        ("concurrent_reports_are_all_kept", |s| Box::pin(concurrent_reports_are_all_kept(s))),
        ("a_large_version_reads_back_whole", |s| Box::pin(a_large_version_reads_back_whole(s))),
        ("large_reports_are_recorded_whole", |s| Box::pin(large_reports_are_recorded_whole(s))),
        ("environments_are_created_once_and_listed_by_name", |s| Box::pin(environments_are_created_once_and_listed_by_name(s))),
        ("environment_settings_are_replaced", |s| Box::pin(environment_settings_are_replaced(s))),
        ("deleting_an_environment_removes_everything_of_it", |s| Box::pin(deleting_an_environment_removes_everything_of_it(s))),
        ("releasing_needs_the_version", |s| Box::pin(releasing_needs_the_version(s))),
        ("deleting_a_version_keeps_the_others_and_its_number", |s| Box::pin(deleting_a_version_keeps_the_others_and_its_number(s))),
        ("pruning_keeps_the_released_version", |s| Box::pin(pruning_keeps_the_released_version(s))),
        ("version_pages_cover_a_version_once_in_id_order", |s| Box::pin(version_pages_cover_a_version_once_in_id_order(s))),
        ("status_pages_filter_by_state_agent_type_and_prefix", |s| Box::pin(status_pages_filter_by_state_agent_type_and_prefix(s))),
        ("one_resource_status_is_read", |s| Box::pin(one_resource_status_is_read(s))),
        ("states_are_counted", |s| Box::pin(states_are_counted(s))),
        ("tokens_are_found_by_their_hash", |s| Box::pin(tokens_are_found_by_their_hash(s))),
        ("facts_are_merged_per_resource", |s| Box::pin(facts_are_merged_per_resource(s))),
        ("dry_runs_list_newest_first_and_keep_one_result_per_resource", |s| {
            Box::pin(dry_runs_list_newest_first_and_keep_one_result_per_resource(s))
        }),
        ("sessions_heartbeat_expire_and_end", |s| Box::pin(sessions_heartbeat_expire_and_end(s))),
        ("a_lease_is_granted_to_one_of_racing_sessions", |s| Box::pin(a_lease_is_granted_to_one_of_racing_sessions(s))),
        ("renewal_keeps_the_epoch_and_a_new_holder_bumps_it", |s| Box::pin(renewal_keeps_the_epoch_and_a_new_holder_bumps_it(s))),
        ("a_paused_agent_cannot_be_acquired", |s| Box::pin(a_paused_agent_cannot_be_acquired(s))),
        ("a_preferred_session_is_kept_and_changes_no_lease", |s| Box::pin(a_preferred_session_is_kept_and_changes_no_lease(s))),
        ("fenced_writes_of_an_older_epoch_are_refused", |s| Box::pin(fenced_writes_of_an_older_epoch_are_refused(s))),
        ("stale_writes_racing_a_takeover_are_written_whole_or_not_at_all", |s| {
            Box::pin(stale_writes_racing_a_takeover_are_written_whole_or_not_at_all(s))
        }),
        ("primary_changes_are_listed_newest_first", |s| Box::pin(primary_changes_are_listed_newest_first(s))),
        ("deleting_an_environment_removes_its_agents", |s| Box::pin(deleting_an_environment_removes_its_agents(s))),
        ("run_requests_count_per_environment", |s| Box::pin(run_requests_count_per_environment(s))),
    ]
}

fn check(condition: bool, what: impl FnOnce() -> String) -> CaseResult {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

fn ok<T>(result: Result<T, StoreError>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e}"))
}

pub fn doc(id: &str, hash: &str) -> ResourceDoc {
    let mut attributes = BTreeMap::new();
    attributes.insert("path".to_string(), serde_json::Value::from(id));
    attributes.insert("nested".to_string(), serde_json::json!({"list": [1, 2.5, null, "x"], "flag": true}));
    ResourceDoc {
        id: ResourceId(id.into()),
        resource_type: "t".into(),
        agent: "a".into(),
        attributes,
        requires: Vec::new(),
        hash: hash.into(),
        undefined: false,
        send_event: false,
        receive_events: true,
    }
}

pub fn result(id: &str, version: u64, state: ResourceState, hash: Option<&str>) -> DeployResult {
    DeployResult {
        resource: ResourceId(id.into()),
        version,
        action: if state == ResourceState::Dry { Action::Dryrun } else { Action::Deploy },
        state,
        changed: hash.is_some(),
        changes: vec![Change { field: "content".into(), current: serde_json::Value::Null, desired: "x".into() }],
        message: format!("{} at {version}", state.as_str()),
        deployed_hash: hash.map(str::to_string),
        diff: hash.map(|h| format!("--- a\n+++ b\n+{h}\n")),
        time_ms: 1_000 + version,
    }
}

pub fn environment(name: &str, id: &str) -> EnvironmentRecord {
    let mut settings = BTreeMap::new();
    settings.insert("repair_interval".to_string(), serde_json::json!(600));
    settings.insert("odd.key $name".to_string(), serde_json::json!({"nested": [1, "two", null]}));
    EnvironmentRecord { id: id.into(), name: name.into(), created_ms: 1_700_000_000_000, settings }
}

pub fn token(id: &str, hash: &str, environment: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        hash: hash.into(),
        environment: environment.map(str::to_string),
        role: Role::Agent,
        created_ms: 1_700_000_000_000,
        expires_ms: Some(1_800_000_000_000),
        description: format!("token {id}"),
    }
}
