//! Conformance cases of the file store: bodies kept once by hash, large bodies whole.

use super::*;

pub(super) async fn files_are_kept_once_by_their_hash(store: &dyn Store) -> CaseResult {
    let body = b"port=8080\n\x00binary too".to_vec();
    let hash = cairn_wire::digest::sha1_hex(&body);
    let absent = cairn_wire::digest::sha1_hex(b"never stored");
    let missing = ok(store.missing_files(&[hash.clone(), absent.clone()]).await, "missing")?;
    check(missing == vec![hash.clone(), absent.clone()], || format!("missing before upload: {missing:?}"))?;
    ok(store.put_files(&[(hash.clone(), body.clone())]).await, "put")?;
    ok(store.put_files(&[(hash.clone(), body.clone())]).await, "put again")?;
    let missing = ok(store.missing_files(&[hash.clone(), absent.clone()]).await, "missing")?;
    check(missing == vec![absent.clone()], || format!("missing after upload: {missing:?}"))?;
    let read = ok(store.file(&hash).await, "read")?;
    check(read.as_deref() == Some(body.as_slice()), || "the body read back differs".into())?;
    check(ok(store.file(&absent).await, "read")?.is_none(), || "a file never stored was found".into())?;
    // A body that does not have its hash is refused, and nothing of that upload is kept.
    let other = cairn_wire::digest::sha1_hex(b"other");
    let refused = store.put_files(&[(other.clone(), b"other".to_vec()), (absent.clone(), b"lie".to_vec())]).await;
    check(matches!(refused, Err(StoreError::Invalid(_))), || format!("a wrong hash was accepted: {refused:?}"))?;
    check(ok(store.file(&other).await, "read")?.is_none(), || "part of a refused upload was kept".into())
}

pub(super) async fn a_large_file_is_kept_whole(store: &dyn Store) -> CaseResult {
    // Larger than one MongoDB document may be (16 MiB), not a multiple of anything.
    let body: Vec<u8> = (0..20 * 1024 * 1024 + 12_345u32).map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let hash = cairn_wire::digest::sha1_hex(&body);
    let small = b"small".to_vec();
    let small_hash = cairn_wire::digest::sha1_hex(&small);
    ok(store.put_files(&[(hash.clone(), body.clone()), (small_hash.clone(), small.clone())]).await, "put")?;
    ok(store.put_files(&[(hash.clone(), body.clone())]).await, "put again")?;
    check(ok(store.missing_files(&[hash.clone(), small_hash.clone()]).await, "missing")?.is_empty(), || "a stored file is missing".into())?;
    let read = ok(store.file(&hash).await, "read")?.ok_or("the large file is not there")?;
    check(read == body, || format!("the large file read back as {} bytes of {}", read.len(), body.len()))?;
    check(ok(store.file(&small_hash).await, "read")?.as_deref() == Some(small.as_slice()), || "the small file read back differs".into())
}
