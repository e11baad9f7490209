//! What a version must be before the orchestrator stores it: ids that parse and agree with
//! the documents' type and agent, no id twice, `requires` naming only resources of the
//! version, and every file body its resources name present in the file store. Each problem
//! is reported with the ids concerned (a few of them, and how many in all).

use crate::store::{Store, StoreError};
use cairn_wire::{ResourceDoc, ResourceId};
use std::collections::{BTreeSet, HashSet};

/// How many offending ids a message names.
const SHOWN: usize = 5;

fn listed(ids: &[String]) -> String {
    let mut text = ids.iter().take(SHOWN).map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

/// Checks a version's documents on their own (no store needed).
pub fn check_documents(resources: &[ResourceDoc]) -> Result<(), String> {
    let mut seen: HashSet<&ResourceId> = HashSet::with_capacity(resources.len());
    let mut duplicates = Vec::new();
    let mut malformed = Vec::new();
    for resource in resources {
        if !seen.insert(&resource.id) {
            duplicates.push(resource.id.0.clone());
        }
        match ResourceId::parse(&resource.id.0) {
            Some(parts) if parts.resource_type == resource.resource_type && parts.agent == resource.agent && !parts.agent.is_empty() => {}
            _ => malformed.push(resource.id.0.clone()),
        }
    }
    if !malformed.is_empty() {
        return Err(format!(
            "{} malformed: an id is `type[agent,attribute=value]` and its type and agent are the document's: {}",
            if malformed.len() == 1 { "a resource id is" } else { "resource ids are" },
            listed(&malformed)
        ));
    }
    if !duplicates.is_empty() {
        duplicates.sort();
        duplicates.dedup();
        return Err(format!("the version has the same id twice: {}", listed(&duplicates)));
    }
    let mut dangling: BTreeSet<String> = BTreeSet::new();
    for resource in resources {
        for required in &resource.requires {
            if !seen.contains(required) {
                dangling.insert(format!("{} requires {}", resource.id, required));
            }
        }
    }
    if !dangling.is_empty() {
        let dangling: Vec<String> = dangling.into_iter().collect();
        return Err(format!("`requires` names resources that are not in the version: {}", listed(&dangling)));
    }
    Ok(())
}

/// The file hashes a version's resources name (their `hash` fields).
pub fn file_hashes(resources: &[ResourceDoc]) -> Vec<String> {
    let hashes: BTreeSet<String> = resources
        .iter()
        .filter_map(|r| r.str_attr("hash"))
        .filter(|h| h.len() == 40 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect();
    hashes.into_iter().collect()
}

/// Checks that the file store holds every body the version names.
pub async fn check_files(store: &dyn Store, resources: &[ResourceDoc]) -> Result<Result<(), String>, StoreError> {
    let missing = store.missing_files(&file_hashes(resources)).await?;
    if missing.is_empty() {
        Ok(Ok(()))
    } else {
        Ok(Err(format!("the file store lacks {} file bod{} the version names (upload them first): {}", missing.len(), if missing.len() == 1 { "y" } else { "ies" }, listed(&missing))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, requires: &[&str]) -> ResourceDoc {
        let parts = ResourceId::parse(id);
        ResourceDoc {
            id: ResourceId(id.into()),
            resource_type: parts.map(|p| p.resource_type.to_string()).unwrap_or_default(),
            agent: parts.map(|p| p.agent.to_string()).unwrap_or_default(),
            attributes: Default::default(),
            requires: requires.iter().map(|r| ResourceId((*r).into())).collect(),
            hash: "h".into(),
            undefined: false,
            send_event: false,
            receive_events: true,
        }
    }

    #[test]
    fn versions_are_checked_whole() {
        assert!(check_documents(&[doc("t[a,k=1]", &[]), doc("t[a,k=2]", &["t[a,k=1]"])]).is_ok());
        let twice = check_documents(&[doc("t[a,k=1]", &[]), doc("t[a,k=1]", &[])]).unwrap_err();
        assert!(twice.contains("same id twice") && twice.contains("t[a,k=1]"), "{twice}");
        let dangling = check_documents(&[doc("t[a,k=2]", &["t[a,k=9]"])]).unwrap_err();
        assert!(dangling.contains("t[a,k=2] requires t[a,k=9]"), "{dangling}");
        let mut odd = doc("t[a,k=1]", &[]);
        odd.agent = "b".into();
        assert!(check_documents(&[odd]).unwrap_err().contains("malformed"));
        assert!(check_documents(&[doc("nonsense", &[])]).is_err());
    }
}
