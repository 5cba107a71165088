//! Witnesses for string patterns, for policy coverage ([`crate::coverage`]): a string that a
//! template's pattern accepts and a policy's pattern accepts or rejects, found by a
//! breadth-first search over the product of the two patterns' DFAs (regex-automata), so the
//! shortest such string comes first and "there is none" is an answer, not a guess.
//!
//! Patterns match as `regex::Regex::is_match` does (anywhere in the string, unless anchored),
//! so each is compiled as `\A(?s:.*)(?:P)(?s:.*)\z`. The search runs over printable ASCII
//! (readable counterexamples, always valid UTF-8); a pattern the DFA cannot express (Unicode
//! word boundaries) or that would need too many states is [`Witness::Undecided`].

use regex_automata::dfa::{dense, Automaton};
use regex_automata::util::primitives::StateID;
use regex_automata::{Anchored, Input, MatchKind};
use rustc_hash::FxHashMap;

/// Printable ASCII, letters and digits first, so among the shortest witnesses the most
/// readable one is found (`a:latest` rather than ` :latest`).
const ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:/_@ !\"#$%&'()*+,;<=>?[\\]^`{|}~";

/// The most state pairs visited before the search gives up.
const MAX_PAIRS: usize = 100_000;
/// The largest DFA built for one pattern, in bytes.
const MAX_DFA_BYTES: usize = 4 << 20;

/// A state of the product: the template's DFA state and the policy's.
type Pair = (StateID, StateID);

/// The answer of [`witness`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Witness {
    /// The shortest such string (ties broken by [`ALPHABET`] order).
    Found(String),
    /// No printable-ASCII string has the property.
    Empty,
    /// A pattern could not be compiled to a DFA, or the search was too large.
    Undecided,
}

fn dfa(pattern: &str) -> Option<dense::DFA<Vec<u32>>> {
    let wrapped = format!(r"\A(?s:.*)(?:{pattern})(?s:.*)\z");
    dense::Builder::new()
        .configure(
            dense::DFA::config()
                .match_kind(MatchKind::All)
                .start_kind(regex_automata::dfa::StartKind::Anchored)
                .dfa_size_limit(Some(MAX_DFA_BYTES))
                .determinize_size_limit(Some(MAX_DFA_BYTES)),
        )
        .build(&wrapped)
        .ok()
}

/// One side of the product: a DFA, or "every string" when there is no pattern.
struct Side {
    dfa: Option<dense::DFA<Vec<u32>>>,
}

impl Side {
    fn new(pattern: Option<&str>) -> Option<Side> {
        match pattern {
            None => Some(Side { dfa: None }),
            Some(p) => dfa(p).map(|d| Side { dfa: Some(d) }),
        }
    }

    fn start(&self) -> Option<StateID> {
        match &self.dfa {
            None => Some(StateID::ZERO),
            Some(d) => d.start_state_forward(&Input::new("").anchored(Anchored::Yes)).ok(),
        }
    }

    fn next(&self, s: StateID, b: u8) -> StateID {
        self.dfa.as_ref().map_or(s, |d| d.next_state(s, b))
    }

    fn dead(&self, s: StateID) -> bool {
        self.dfa.as_ref().is_some_and(|d| d.is_dead_state(s))
    }

    fn accepts(&self, s: StateID) -> bool {
        self.dfa.as_ref().is_none_or(|d| d.is_match_state(d.next_eoi_state(s)))
    }
}

/// A string that `template` accepts (any string when `None`) and that `policy` accepts when
/// `policy_matches`, rejects otherwise (no condition when `None`).
pub fn witness(template: Option<&str>, policy: Option<&str>, policy_matches: bool) -> Witness {
    let (Some(t), Some(p)) = (Side::new(template), Side::new(policy)) else { return Witness::Undecided };
    let (Some(t0), Some(p0)) = (t.start(), p.start()) else { return Witness::Undecided };
    let wanted = |ts: StateID, ps: StateID| t.accepts(ts) && (policy.is_none() || p.accepts(ps) == policy_matches);
    // Breadth-first: the parent of each visited pair, to spell the string back.
    let mut parent: FxHashMap<Pair, Option<(Pair, u8)>> = FxHashMap::default();
    parent.insert((t0, p0), None);
    let mut queue = std::collections::VecDeque::from([(t0, p0)]);
    while let Some(pair) = queue.pop_front() {
        if wanted(pair.0, pair.1) {
            let mut bytes = Vec::new();
            let mut cur = pair;
            while let Some(Some((prev, b))) = parent.get(&cur) {
                bytes.push(*b);
                cur = *prev;
            }
            bytes.reverse();
            return String::from_utf8(bytes).map_or(Witness::Undecided, Witness::Found);
        }
        for &b in ALPHABET.iter() {
            let next = (t.next(pair.0, b), p.next(pair.1, b));
            if t.dead(next.0) || parent.contains_key(&next) {
                continue;
            }
            // The policy side going dead decides it (it then rejects everything) but the
            // template side may still accept, so only the template's dead states prune.
            if parent.len() >= MAX_PAIRS {
                return Witness::Undecided;
            }
            parent.insert(next, Some((pair, b)));
            queue.push_back(next);
        }
    }
    Witness::Empty
}

#[cfg(test)]
mod tests {
    use super::{witness, Witness};

    fn found(s: &str) -> Witness {
        Witness::Found(s.to_owned())
    }

    #[test]
    fn shortest_string_of_a_pattern() {
        assert_eq!(witness(Some("^[a-z]{3}$"), None, false), found("aaa"));
        assert_eq!(witness(Some("x"), None, false), found("x"));
        assert_eq!(witness(None, None, false), found(""));
    }

    #[test]
    fn template_minus_policy() {
        // A template that allows any tag; the policy wants a non-latest tag.
        let t = r"^registry\.example\.com/[a-z]+:[a-z0-9.]+$";
        assert_eq!(witness(Some(t), Some(r":latest$"), true), found("registry.example.com/a:latest"));
        assert_eq!(witness(Some(t), Some(r":[0-9]"), false), found("registry.example.com/a:a"));
        // Inclusion: every string the template allows starts with the prefix.
        assert_eq!(
            witness(Some(r"^registry\.example\.com/"), Some(r"^registry\.example\.com/"), false),
            Witness::Empty
        );
        // Disjoint: no string both allow.
        assert_eq!(witness(Some("^a+$"), Some("b"), true), Witness::Empty);
    }

    #[test]
    fn starts_ends_contains_as_patterns() {
        assert_eq!(witness(Some("^[a-c]{2}$"), Some("^a"), false), found("ba"));
        assert_eq!(witness(None, Some("^x"), false), found(""));
        assert_eq!(witness(Some(".:"), Some(":latest$"), true), found("a:latest"));
        assert_eq!(witness(Some("^[a-c]{2}$"), Some("c$"), true), found("ac"));
        assert_eq!(witness(Some("^[ab]{3}$"), Some("bb"), true), found("abb"));
    }

    #[test]
    fn the_alphabet_is_printable_ascii_once_each() {
        let mut bytes = super::ALPHABET.to_vec();
        bytes.sort_unstable();
        assert_eq!(bytes, (b' '..=b'~').collect::<Vec<u8>>());
    }

    #[test]
    fn what_a_dfa_cannot_decide_is_undecided() {
        assert_eq!(witness(Some(r"\bword\b"), None, false), Witness::Undecided);
        assert_eq!(witness(Some("(unclosed"), None, false), Witness::Undecided);
    }
}
