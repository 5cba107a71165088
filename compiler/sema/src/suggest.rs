//! "Did you mean" suggestions by edit distance.

/// Levenshtein distance, bounded: returns `None` when it exceeds `max` (checked early so long
/// candidate lists stay cheap).
pub fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    // Names worth suggesting are short; this keeps the quadratic table small on odd input.
    if a.len() > 256 || b.len() > 256 {
        return None;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        let mut row_min = usize::MAX;
        for (j, slot) in cur.iter_mut().enumerate() {
            *slot = if j == 0 {
                i + 1
            } else {
                let cost = usize::from(b.get(j - 1) != Some(ca));
                let del = prev.get(j).copied().unwrap_or(usize::MAX).saturating_add(1);
                let sub = prev.get(j - 1).copied().unwrap_or(usize::MAX).saturating_add(cost);
                del.min(sub)
            };
            row_min = row_min.min(*slot);
        }
        // Insertions: a second pass left to right over the row.
        for j in 1..cur.len() {
            let left = cur.get(j - 1).copied().unwrap_or(usize::MAX).saturating_add(1);
            if let Some(slot) = cur.get_mut(j) {
                *slot = (*slot).min(left);
                row_min = row_min.min(*slot);
            }
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().filter(|d| *d <= max)
}

/// The closest candidate within a third of the word's length (at least 1, at most 3 edits);
/// ties go to the first candidate in order. Case-only differences always qualify.
pub fn best<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let max = (word.chars().count() / 3).clamp(1, 3);
    let mut found: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(word) { Some(0) } else { distance(word, c, max) };
        if let Some(d) = d {
            if found.is_none_or(|(bd, _)| d < bd) {
                found = Some((d, c));
            }
        }
    }
    found.map(|(_, c)| c)
}

/// Whether `a` and `b` differ by exactly one edit (or only in case), for names of at least four
/// characters: shorter names (`cpu`, `gpu`) are too often one edit apart on purpose.
pub fn one_edit_apart(a: &str, b: &str) -> bool {
    if a == b || a.chars().count().min(b.chars().count()) < 4 {
        return false;
    }
    a.eq_ignore_ascii_case(b) || distance(a, b, 1) == Some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("replicas", "replica", 3), Some(1));
        assert_eq!(distance("kitten", "sitting", 3), Some(3));
        assert_eq!(distance("abc", "xyz", 1), None);
        assert_eq!(best("replcas", ["image", "replicas"]), Some("replicas"));
        assert_eq!(best("zzz", ["image", "replicas"]), None);
    }

    #[test]
    fn one_edit() {
        assert!(one_edit_apart("replcas", "replicas"));
        assert!(one_edit_apart("Image", "image"));
        assert!(!one_edit_apart("replicas", "replicas"));
        assert!(!one_edit_apart("cpu", "gpu"));
        assert!(!one_edit_apart("image", "imagx2"));
    }
}
