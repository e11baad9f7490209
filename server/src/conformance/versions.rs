//! Conformance cases of versions: numbering, reading back whole, pages and single
//! resources, listing, releasing, deleting and pruning, large and concurrent versions.

use super::*;

pub(super) async fn versions_are_numbered_per_environment(store: &dyn Store) -> CaseResult {
    let env = "c-numbered";
    check(ok(store.latest_version(env).await, "latest")?.is_none(), || "a new environment has a version".into())?;
    let first = ok(store.create_version(env, &[doc("t[a,k=1]", "h1")]).await, "create")?;
    let second = ok(store.create_version(env, &[doc("t[a,k=1]", "h2")]).await, "create")?;
    check(first == 1 && second == 2, || format!("versions numbered {first}, {second}"))?;
    let latest = ok(store.latest_version(env).await, "latest")?;
    check(latest == Some(2), || format!("latest is {latest:?}"))
}

pub(super) async fn version_resources_read_back_whole_and_sorted(store: &dyn Store) -> CaseResult {
    let env = "c-whole";
    let mut b = doc("t[a,k=b]", "hb");
    b.requires = vec![ResourceId("t[a,k=a]".into())];
    b.undefined = true;
    b.send_event = true;
    let a = doc("t[a,k=a]", "ha");
    let version = ok(store.create_version(env, &[b.clone(), a.clone()]).await, "create")?;
    let read = ok(store.version_resources(env, version).await, "read")?;
    check(read == vec![a, b], || format!("read back {read:#?}"))?;
    let missing = ok(store.version_resources(env, version + 1).await, "read")?;
    check(missing.is_empty(), || "a version that does not exist has resources".into())
}

pub(super) async fn versions_are_listed_newest_first_with_their_digest(store: &dyn Store) -> CaseResult {
    let env = "c-list";
    let one = vec![doc("t[a,k=1]", "h1")];
    let two = vec![doc("t[a,k=1]", "h1"), doc("t[a,k=2]", "h2")];
    ok(store.create_version(env, &one).await, "create")?;
    ok(store.create_version(env, &two).await, "create")?;
    let versions = ok(store.versions(env).await, "versions")?;
    let numbers: Vec<(u64, u64)> = versions.iter().map(|v| (v.version, v.resource_count)).collect();
    check(numbers == vec![(2, 2), (1, 1)], || format!("versions listed as {numbers:?}"))?;
    check(versions[0].digest == cairn_wire::version_digest(&two) && versions[1].digest == cairn_wire::version_digest(&one), || {
        "digests differ from the documents'".into()
    })?;
    check(versions[0].created_ms >= versions[1].created_ms && versions[1].created_ms > 0, || "creation times".into())
}

pub(super) async fn pruning_keeps_the_newest_versions_whole(store: &dyn Store) -> CaseResult {
    let env = "c-prune";
    let shared = doc("t[a,k=shared]", "hs");
    for n in 1..=5u64 {
        ok(store.create_version(env, &[shared.clone(), doc(&format!("t[a,k={n}]"), &format!("h{n}"))]).await, "create")?;
    }
    let pruned = ok(store.prune_versions(env, 2).await, "prune")?;
    check(pruned == 3, || format!("{pruned} versions pruned"))?;
    let left: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(left == vec![5, 4], || format!("left {left:?}"))?;
    for n in [4u64, 5] {
        let resources = ok(store.version_resources(env, n).await, "read")?;
        check(resources == vec![doc(&format!("t[a,k={n}]"), &format!("h{n}")), shared.clone()], || format!("version {n} read back as {resources:?}"))?;
    }
    check(ok(store.version_resources(env, 3).await, "read")?.is_empty(), || "a pruned version still has resources".into())?;
    let next = ok(store.create_version(env, &[]).await, "create")?;
    check(next == 6, || format!("numbering restarted at {next} after pruning"))?;
    let none = ok(store.prune_versions(env, 0).await, "prune to one")?;
    check(none == 2 && ok(store.latest_version(env).await, "latest")? == Some(6), || "pruning to zero keeps the newest".into())
}

/// `count` documents whose ids sort differently from the order they are given in.
pub(super) fn many_docs(count: usize) -> Vec<ResourceDoc> {
    (0..count).map(|i| (i * 7_919) % count).map(|n| doc(&format!("t[a,k={n:05}]"), &format!("h{n}"))).collect()
}

pub(super) async fn a_version_with_an_id_twice_is_refused(store: &dyn Store) -> CaseResult {
    let env = "c-twice";
    let refused = store.create_version(env, &[doc("t[a,k=1]", "h1"), doc("t[a,k=2]", "h2"), doc("t[a,k=1]", "h3")]).await;
    check(matches!(refused, Err(StoreError::Invalid(_))), || format!("an id twice was accepted: {refused:?}"))?;
    check(ok(store.latest_version(env).await, "latest")?.is_none(), || "a refused version was stored".into())
}

pub(super) async fn concurrent_versions_get_distinct_numbers(store: &dyn Store) -> CaseResult {
    let env = "c-concurrent";
    let one = [doc("t[a,k=1]", "h1")];
    let (a, b, c, d) = tokio::join!(
        store.create_version(env, &one),
        store.create_version(env, &one),
        store.create_version(env, &[]),
        store.create_version(env, &one)
    );
    let numbers: BTreeSet<u64> = [ok(a, "create")?, ok(b, "create")?, ok(c, "create")?, ok(d, "create")?].into_iter().collect();
    check(numbers == (1..=4).collect(), || format!("concurrent versions numbered {numbers:?}"))?;
    let listed: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(listed == vec![4, 3, 2, 1], || format!("versions listed as {listed:?}"))
}

pub(super) async fn a_large_version_reads_back_whole(store: &dyn Store) -> CaseResult {
    let env = "c-large";
    let resources = many_docs(1_200);
    let version = ok(store.create_version(env, &resources).await, "create")?;
    let mut sorted = resources.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let read = ok(store.version_resources(env, version).await, "read")?;
    check(read.len() == sorted.len() && read == sorted, || format!("{} of {} resources read back, or not in id order", read.len(), sorted.len()))?;
    let info = ok(store.versions(env).await, "versions")?;
    check(info.first().map(|v| v.resource_count) == Some(1_200), || format!("listed as {info:?}"))?;
    // A second version sharing all but one document, then pruning the first: the shared
    // documents stay for the second.
    let mut next = resources.clone();
    next[0] = doc(&next[0].id.0, "changed");
    let second = ok(store.create_version(env, &next).await, "create")?;
    check(ok(store.prune_versions(env, 1).await, "prune")? == 1, || "the first version was not pruned".into())?;
    let mut expected = next;
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    let read = ok(store.version_resources(env, second).await, "read")?;
    check(read == expected, || "the second version lost documents when the first was pruned".into())
}

pub(super) async fn releasing_needs_the_version(store: &dyn Store) -> CaseResult {
    let env = "c-release";
    check(ok(store.released_version(env).await, "released")?.is_none(), || "a new environment has a release".into())?;
    let unknown = store.release_version(env, 1).await;
    check(matches!(unknown, Err(StoreError::NotFound(_))), || format!("releasing a version that does not exist: {unknown:?}"))?;
    let first = ok(store.create_version(env, &[doc("t[a,k=1]", "h1")]).await, "create")?;
    let second = ok(store.create_version(env, &[doc("t[a,k=1]", "h2")]).await, "create")?;
    ok(store.release_version(env, second).await, "release")?;
    check(ok(store.released_version(env).await, "released")? == Some(second), || "the release is not kept".into())?;
    // Going back is a release too.
    ok(store.release_version(env, first).await, "release")?;
    check(ok(store.released_version(env).await, "released")? == Some(first), || "releasing an older version".into())?;
    let unknown = store.release_version(env, second + 1).await;
    check(matches!(unknown, Err(StoreError::NotFound(_))), || format!("releasing a later version that does not exist: {unknown:?}"))?;
    check(ok(store.released_version(env).await, "released")? == Some(first), || "a refused release changed the release".into())?;
    check(ok(store.released_version("c-release-other").await, "released")?.is_none(), || "a release leaked into another environment".into())
}

pub(super) async fn deleting_a_version_keeps_the_others_and_its_number(store: &dyn Store) -> CaseResult {
    let env = "c-delete-version";
    let shared = doc("t[a,k=shared]", "hs");
    for n in 1..=3u64 {
        ok(store.create_version(env, &[shared.clone(), doc(&format!("t[a,k={n}]"), &format!("h{n}"))]).await, "create")?;
    }
    check(ok(store.delete_version(env, 2).await, "delete")?, || "deleting version 2 found none".into())?;
    check(!ok(store.delete_version(env, 2).await, "delete again")?, || "version 2 was deleted twice".into())?;
    check(!ok(store.delete_version(env, 9).await, "delete unknown")?, || "a version that never was was deleted".into())?;
    let left: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(left == vec![3, 1], || format!("left {left:?}"))?;
    for n in [1u64, 3] {
        let read = ok(store.version_resources(env, n).await, "read")?;
        check(read == vec![doc(&format!("t[a,k={n}]"), &format!("h{n}")), shared.clone()], || format!("version {n} read back as {read:?}"))?;
    }
    check(ok(store.version_resources(env, 2).await, "read")?.is_empty(), || "a deleted version has resources".into())?;
    // The newest goes too: its number is not given again.
    check(ok(store.delete_version(env, 3).await, "delete")?, || "deleting version 3 found none".into())?;
    let next = ok(store.create_version(env, &[]).await, "create")?;
    check(next == 4, || format!("after deleting the newest, the next version is {next}"))?;
    ok(store.release_version(env, 1).await, "release")?;
    let released = store.delete_version(env, 1).await;
    check(matches!(released, Err(StoreError::Conflict(_))), || format!("deleting the released version: {released:?}"))?;
    check(ok(store.version_resources(env, 1).await, "read")?.len() == 2, || "a refused delete removed documents".into())
}

pub(super) async fn pruning_keeps_the_released_version(store: &dyn Store) -> CaseResult {
    let env = "c-prune-released";
    for n in 1..=4u64 {
        ok(store.create_version(env, &[doc(&format!("t[a,k={n}]"), &format!("h{n}"))]).await, "create")?;
    }
    ok(store.release_version(env, 2).await, "release")?;
    let pruned = ok(store.prune_versions(env, 1).await, "prune")?;
    check(pruned == 2, || format!("{pruned} versions pruned"))?;
    let left: Vec<u64> = ok(store.versions(env).await, "versions")?.iter().map(|v| v.version).collect();
    check(left == vec![4, 2], || format!("left {left:?}"))?;
    let read = ok(store.version_resources(env, 2).await, "read")?;
    check(read == vec![doc("t[a,k=2]", "h2")], || format!("the released version read back as {read:?}"))
}

pub(super) async fn version_pages_cover_a_version_once_in_id_order(store: &dyn Store) -> CaseResult {
    let env = "c-version-pages";
    let resources = many_docs(23);
    let version = ok(store.create_version(env, &resources).await, "create")?;
    let whole = ok(store.version_resources(env, version).await, "read")?;
    for limit in [1usize, 5, 23, 100] {
        let mut paged: Vec<ResourceDoc> = Vec::new();
        let mut after: Option<ResourceId> = None;
        for _ in 0..100 {
            let page = ok(store.version_resources_page(env, version, after.as_ref(), limit).await, "page")?;
            check(page.len() <= limit, || format!("a page of {} with limit {limit}", page.len()))?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            let full = page.len() == limit;
            paged.extend(page);
            if !full {
                break;
            }
        }
        check(paged == whole, || format!("pages of {limit} cover {} of {} resources, or not in id order", paged.len(), whole.len()))?;
    }
    // `after` needs not be an id of the version: the page starts at the next one.
    let between = ResourceId("t[a,k=00010a]".into());
    let page = ok(store.version_resources_page(env, version, Some(&between), 2).await, "page")?;
    let ids: Vec<&str> = page.iter().map(|d| d.id.0.as_str()).collect();
    check(ids == ["t[a,k=00011]", "t[a,k=00012]"], || format!("after an id between two: {ids:?}"))?;
    let last = whole.last().ok_or("an empty version")?.id.clone();
    check(ok(store.version_resources_page(env, version, Some(&last), 5).await, "page")?.is_empty(), || "a page after the last id".into())?;
    check(ok(store.version_resources_page(env, version, None, 0).await, "page")?.is_empty(), || "a page of at most 0".into())?;
    check(ok(store.version_resources_page(env, version + 1, None, 5).await, "page")?.is_empty(), || "a page of no version".into())
}

pub(super) async fn one_resource_of_a_version_is_read_by_its_id(store: &dyn Store) -> CaseResult {
    let env = "c-one";
    let wanted = doc("t[a,path=/srv/www]", "h1");
    // Ids that sort around it (a path that is a prefix of others).
    let resources = vec![doc("t[a,path=/srv/www/a]", "h2"), wanted.clone(), doc("t[a,path=/srv]", "h3")];
    let version = ok(store.create_version(env, &resources).await, "create")?;
    let found = ok(store.version_resource(env, version, &wanted.id).await, "read")?;
    check(found.as_ref() == Some(&wanted), || format!("read {found:?}"))?;
    let absent = ok(store.version_resource(env, version, &ResourceId("t[a,path=/nope]".into())).await, "read")?;
    check(absent.is_none(), || "a resource not in the version was found".into())?;
    let other_version = ok(store.version_resource(env, version + 1, &wanted.id).await, "read")?;
    check(other_version.is_none(), || "a resource of a version that does not exist was found".into())
}
