//! "Did you mean": the known name nearest to a misspelt one, as rustc and Gleam suggest it.
//! Nearness is the edit distance (insertions, deletions, substitutions, and swaps of two
//! neighbours), case-insensitive, at most a third of the name's length (and at least one
//! edit allowed); ties go to the candidate that sorts first, so suggestions are stable.

/// The candidate nearest to `wanted`, when one is near enough to be a typo of it.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (wanted.chars().count() / 3).max(1);
    let wanted_lower = wanted.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (distance(&wanted_lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c.to_string())
}

/// Optimal string alignment distance.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        table[i * width] = i;
    }
    for (j, cell) in table.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1).min(table[i * width + j - 1] + 1).min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_suggested_and_far_ones_not() {
        assert_eq!(closest("Hots", ["Host", "HostGroup", "OS"]), Some("Host".into()));
        assert_eq!(closest("pahts", ["path", "paths", "mode"]), Some("paths".into()));
        assert_eq!(closest("contnet", ["content", "context"]), Some("content".into()));
        assert_eq!(closest("file", ["File"]), Some("File".into()), "case counts for little");
        assert_eq!(closest("x", ["y"]), Some("y".into()));
        assert_eq!(closest("server", ["host", "agent"]), None);
        assert_eq!(closest("same", ["same"]), None, "the name itself is no suggestion");
        assert_eq!(distance("ab", "ba"), 1);
    }
}
