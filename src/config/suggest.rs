//! "Did you mean ...?" for unknown keys: the closest allowed key by edit distance.

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions, so `nmae`
/// is one edit from `name`). Keys are short; the quadratic cost is irrelevant.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The allowed key closest to `unknown`, if it is close enough to be a plausible typo:
/// at most a third of the longer name (and at least 1) edits away, compared case-insensitively.
pub(crate) fn closest<'a>(unknown: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let lower = unknown.to_lowercase();
    allowed
        .iter()
        .map(|k| (distance(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= (lower.chars().count().max(k.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The message for an unknown key, with a suggestion when one is close, else the full list.
pub(crate) fn unknown_key_message(unknown: &str, allowed: &[&str]) -> String {
    match closest(unknown, allowed) {
        Some(k) => format!("unknown key '{unknown}', did you mean '{k}'?"),
        None if allowed.is_empty() => {
            format!("unknown key '{unknown}'; this mapping takes no keys")
        }
        None => {
            let list: Vec<String> = allowed.iter().map(|k| format!("'{k}'")).collect();
            format!(
                "unknown key '{unknown}'; expected one of {}",
                list.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["openai_api_key", "openai_api_type", "openai_api_base"];
        assert_eq!(closest("openai_api_typo", &keys), Some("openai_api_type"));
        assert_eq!(closest("OPENAI_API_KEY", &keys), Some("openai_api_key"));
        assert_eq!(closest("completely_different", &keys), None);
        assert_eq!(closest("nme", &["name", "model"]), Some("name"));
        assert_eq!(
            closest("nmae", &["provider", "name", "config"]),
            Some("name")
        );
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(
            unknown_key_message("zzz", &["a", "b"]),
            "unknown key 'zzz'; expected one of 'a', 'b'"
        );
    }
}
