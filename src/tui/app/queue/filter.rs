//! The queue filter: fzf-style fuzzy matching with nucleo, ranked by
//! nucleo's score (contiguous runs and word starts score higher than loose
//! subsequences), ties kept in the queue's sort order.

use std::cmp::Reverse;

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};

use crate::model::CaseRow;

/// A matcher with nucleo's default scoring (the one the filter uses).
pub fn new_matcher() -> Matcher {
    Matcher::new(Config::DEFAULT)
}

/// A case's searchable text folded for the fast pre-check; the text itself
/// is the row's ([`CaseRow::haystack`]: id, identity name, owner, provider,
/// kind and tags), which nucleo reads in place.
pub(super) struct Haystack {
    /// Normalised, lower-cased; non-ASCII characters as 0xFF. `None` for
    /// ASCII text, which the pre-check reads in place ignoring ASCII case
    /// (a million rows keep no second copy of their text).
    folded: Option<Box<[u8]>>,
}

impl Haystack {
    pub(super) fn of(row: &CaseRow) -> Haystack {
        let text = row.haystack();
        Haystack {
            folded: (!text.is_ascii()).then(|| fold(text)),
        }
    }

    /// The pre-check's tier for `needle` (plain lower-case ASCII) in this
    /// haystack, `None` when it is not even a subsequence.
    fn quick(
        &self,
        row: &CaseRow,
        needle: &[u8],
        finder: &memchr::memmem::Finder<'_>,
    ) -> Option<u8> {
        match &self.folded {
            Some(folded) => is_subsequence(needle, folded).then(|| quick_tier(finder, folded)),
            None => {
                let text = row.haystack().as_bytes();
                is_subsequence_ascii(needle, text).then(|| quick_tier_ascii(needle, text))
            }
        }
    }
}

/// nucleo's view of a row's text (borrowed when ASCII).
fn text<'a>(row: &'a CaseRow, buf: &'a mut Vec<char>) -> Utf32Str<'a> {
    Utf32Str::new(row.haystack(), buf)
}

/// The pattern for `filter` as fzf reads it: space-separated atoms, smart
/// case (an upper-case letter makes the atom case-sensitive), smart
/// normalisation (`e` matches `é` unless the atom has an accent).
pub(super) fn pattern(filter: &str) -> Pattern {
    Pattern::parse(filter, CaseMatching::Smart, Normalization::Smart)
}

/// How many matches at most are ranked by nucleo's score on one keystroke.
/// Scoring costs about a microsecond a case: all 100,000 cases of a large
/// queue would take the keystroke past its 30 ms budget on two cores.
pub(super) const SCORED: usize = 4096;

/// The candidates matching `filter`: in the candidates' order (the sort
/// order, for narrowing on the next keystroke), and best first.
///
/// Best first is nucleo's score, descending, equal scores in sort order.
/// When a plain filter (lower-case ASCII, no pattern syntax) matches more
/// than [`SCORED`] cases, a quick check orders them first (the filter
/// contiguous at a word start, contiguous, loose; then the sort order) and
/// the best [`SCORED`] of that order are ranked by score: the rows a
/// reviewer can see are ranked as fzf would, the long tail coarsely.
pub(super) fn run(
    filter: &str,
    candidates: &[u32],
    rows: &[CaseRow],
    haystacks: &[Haystack],
    matcher: &mut Matcher,
) -> (Vec<u32>, Vec<u32>) {
    let pattern = pattern(filter);
    let Some(needle) = plain_needle(filter) else {
        let scored = par_filter(candidates, matcher, |m, i| {
            pattern.score(text(&rows[i as usize], &mut Vec::new()), m)
        });
        let in_order = scored.iter().map(|&(i, _)| i).collect();
        return (in_order, rank(scored));
    };
    let finder = memchr::memmem::Finder::new(needle);
    let found = par_filter(candidates, matcher, |_, i| {
        haystacks[i as usize].quick(&rows[i as usize], needle, &finder)
    });
    let in_order: Vec<u32> = found.iter().map(|&(i, _)| i).collect();
    // Best tier first, sort order within a tier (three buckets: linear).
    // Sort positions ride along, so equal scores keep the sort order.
    let mut by_tier: Vec<(u32, u32)> = Vec::with_capacity(found.len());
    if found.len() > SCORED {
        for want in [2, 1, 0] {
            by_tier.extend(
                found
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.1 == want)
                    .map(|(pos, &(i, _))| (i, pos as u32)),
            );
        }
    } else {
        by_tier.extend(
            found
                .iter()
                .enumerate()
                .map(|(pos, &(i, _))| (i, pos as u32)),
        );
    }
    let head = by_tier.len().min(SCORED);
    let mut scored: Vec<(u32, u32, u32)> = by_tier[..head]
        .iter()
        .map(|&(i, pos)| {
            let score = pattern
                .score(text(&rows[i as usize], &mut Vec::new()), matcher)
                .unwrap_or(0);
            (i, score, pos)
        })
        .collect();
    scored.sort_by_key(|&(_, score, pos)| (Reverse(score), pos));
    let ranked = scored
        .into_iter()
        .map(|(i, _, _)| i)
        .chain(by_tier[head..].iter().map(|&(i, _)| i))
        .collect();
    (in_order, ranked)
}

/// `(candidate, f(candidate))` for the candidates where `f` gives a value,
/// in the candidates' order. Large lists are split across threads (one
/// matcher per thread).
fn par_filter<T: Send>(
    candidates: &[u32],
    matcher: &mut Matcher,
    f: impl Fn(&mut Matcher, u32) -> Option<T> + Sync,
) -> Vec<(u32, T)> {
    let keep = |m: &mut Matcher, part: &[u32]| -> Vec<(u32, T)> {
        part.iter()
            .filter_map(|&i| f(m, i).map(|v| (i, v)))
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if candidates.len() < 20_000 || threads < 2 {
        return keep(matcher, candidates);
    }
    let chunk = candidates.len().div_ceil(threads);
    let keep = &keep;
    std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(chunk)
            .map(|part| scope.spawn(move || keep(&mut new_matcher(), part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// `scored` best first: score descending; a stable sort, so equal scores
/// keep the order they came in (the sort order).
fn rank(mut scored: Vec<(u32, u32)>) -> Vec<u32> {
    scored.sort_by_key(|&(_, score)| Reverse(score));
    scored.into_iter().map(|(i, _)| i).collect()
}

/// The quick check's tier of a folded haystack the needle is a subsequence
/// of: 2 the needle occurs whole at a word start, 1 whole elsewhere, 0
/// only loosely.
fn quick_tier(finder: &memchr::memmem::Finder<'_>, folded: &[u8]) -> u8 {
    let mut tier = 0;
    for at in finder.find_iter(folded) {
        let before = at.checked_sub(1).map(|p| folded[p]);
        // 0xFF stands for a non-ASCII character: a letter, not a boundary.
        if before.is_none_or(|b| !b.is_ascii_alphanumeric() && b != 0xFF) {
            return 2;
        }
        tier = 1;
    }
    tier
}

/// The needle when it is plain lower-case ASCII without pattern syntax: then
/// nucleo matches (smart case, normalised) only where the needle is a
/// subsequence of the folded haystack, a check much cheaper than scoring.
fn plain_needle(filter: &str) -> Option<&[u8]> {
    let plain = !filter.is_empty()
        && filter.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'@')
        });
    plain.then_some(filter.as_bytes())
}

/// [`quick_tier`] on ASCII text, ASCII case ignored (`needle` lower-case).
fn quick_tier_ascii(needle: &[u8], text: &[u8]) -> u8 {
    let Some(&first) = needle.first() else {
        return 0;
    };
    let mut tier = 0;
    let mut from = 0;
    while let Some(p) = find_ascii_ci(first, &text[from..]).map(|p| p + from) {
        if text
            .get(p..p + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            let before = p.checked_sub(1).map(|q| text[q]);
            if before.is_none_or(|b| !b.is_ascii_alphanumeric()) {
                return 2;
            }
            tier = 1;
        }
        from = p + 1;
    }
    tier
}

/// [`is_subsequence`] on ASCII text, ASCII case ignored (`needle` lower-case).
fn is_subsequence_ascii(needle: &[u8], text: &[u8]) -> bool {
    let mut rest = text;
    for &b in needle {
        match find_ascii_ci(b, rest) {
            Some(p) => rest = &rest[p + 1..],
            None => return false,
        }
    }
    true
}

/// The first position of `b` (lower-case) in `text`, either ASCII case.
fn find_ascii_ci(b: u8, text: &[u8]) -> Option<usize> {
    if b.is_ascii_lowercase() {
        memchr::memchr2(b, b.to_ascii_uppercase(), text)
    } else {
        memchr::memchr(b, text)
    }
}

fn is_subsequence(needle: &[u8], haystack: &[u8]) -> bool {
    let mut rest = haystack;
    for &b in needle {
        match memchr::memchr(b, rest) {
            Some(p) => rest = &rest[p + 1..],
            None => return false,
        }
    }
    true
}

/// Normalised and lower-cased as nucleo compares; non-ASCII as 0xFF.
fn fold(s: &str) -> Box<[u8]> {
    // Normalisation leaves ASCII as it is: lower-casing is all there is.
    if s.is_ascii() {
        return s.as_bytes().to_ascii_lowercase().into_boxed_slice();
    }
    s.chars()
        .map(|ch| {
            let ch = nucleo_matcher::chars::to_lower_case(nucleo_matcher::chars::normalize(ch));
            if ch.is_ascii() { ch as u8 } else { 0xFF }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nucleo_matcher::Utf32String;

    /// The pre-check must agree with nucleo wherever it is taken: it may
    /// only skip cases nucleo would not match.
    #[test]
    fn the_plain_pre_check_agrees_with_nucleo() {
        let texts = [
            "CASE-0001 svc-billing-export billing-platform aws api_key pci",
            "CASE-0017 Intégration ERP crm-platform salesforce oauth_app",
            "CASE-0012 決済バッチ用サービスアカウント 決済チーム azure workload_identity",
            "CASE-0035 équipe-paiements Ünïcödé gcp service_account",
        ];
        let mut m = new_matcher();
        for text in texts {
            let folded = fold(text);
            let utf32 = Utf32String::from(text);
            for needle in [
                "bill", "integ", "erp", "equipe", "unicode", "case-00", "azure", "xyz", "pl@",
                "aws", "s_a",
            ] {
                let nucleo = pattern(needle).score(utf32.slice(..), &mut m).is_some();
                let fast = is_subsequence(plain_needle(needle).unwrap(), &folded);
                assert_eq!(fast, nucleo, "{needle:?} in {text:?}");
            }
        }
    }

    /// Reading ASCII text in place ignoring case gives what folding it
    /// first gives.
    #[test]
    fn ascii_in_place_agrees_with_folding() {
        let texts = [
            "CASE-0001 svc-billing-export Billing-Platform aws api_key pci",
            "GEN-0000042 app-Ledger-sync-3fa0 payments gcp service_account",
            "x LEDGER ledger Ledgers",
        ];
        for text in texts {
            let folded = fold(text);
            for needle in [
                "ledger", "bill", "case-00", "gen-", "pci", "xyz", "s_a", "3fa",
            ] {
                let n = needle.as_bytes();
                let finder = memchr::memmem::Finder::new(n);
                assert_eq!(
                    is_subsequence_ascii(n, text.as_bytes()),
                    is_subsequence(n, &folded),
                    "{needle:?} in {text:?}"
                );
                if is_subsequence(n, &folded) {
                    assert_eq!(
                        quick_tier_ascii(n, text.as_bytes()),
                        quick_tier(&finder, &folded),
                        "{needle:?} in {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_contiguous_match_outranks_a_loose_subsequence() {
        let texts = [
            "CASE-1 ops-k8s-token-automation platform github",
            "CASE-2 okta-scim-token identity okta",
            "CASE-3 vault-root-kv-token-app infra vault",
        ];
        let hay: Vec<Utf32String> = texts.iter().map(|t| Utf32String::from(*t)).collect();
        let mut m = new_matcher();
        let p = pattern("okta");
        let scored: Vec<(u32, u32)> = hay
            .iter()
            .enumerate()
            .filter_map(|(i, h)| p.score(h.slice(..), &mut m).map(|s| (i as u32, s)))
            .collect();
        assert_eq!(scored.len(), 3, "all three match loosely: {scored:?}");
        assert_eq!(rank(scored)[0], 1);
    }

    /// A row whose haystack is `text` (all of it as the id).
    fn row_of(text: &str) -> CaseRow {
        CaseRow::from_parts(&crate::model::RowParts {
            id: text.into(),
            name: String::new(),
            owner: None,
            provider: String::new(),
            kind: String::new(),
            tags: Vec::new(),
            severity: None,
            privilege: None,
            opened_at: time::OffsetDateTime::UNIX_EPOCH,
            problems: 0,
            sha256: String::new(),
        })
    }

    #[test]
    fn past_the_scored_limit_the_best_match_still_comes_first() {
        let n = SCORED + 904;
        let mut rows: Vec<CaseRow> = (0..n)
            .map(|i| row_of(&format!("CASE-{i} ops-k8s-token-automation github")))
            .collect();
        rows.push(row_of("CASE-X okta-scim-token identity okta"));
        rows.push(row_of("CASE-Y nothing-here"));
        let hay: Vec<Haystack> = rows.iter().map(Haystack::of).collect();
        let candidates: Vec<u32> = (0..hay.len() as u32).collect();
        let (in_order, ranked) = run("okta", &candidates, &rows, &hay, &mut new_matcher());
        assert_eq!(in_order.len(), n + 1, "every loose match is listed");
        assert!(in_order.windows(2).all(|w| w[0] < w[1]), "in sort order");
        assert_eq!(ranked.len(), n + 1);
        assert_eq!(ranked[0], n as u32, "the contiguous match first");
        // The tail keeps the sort order.
        assert!(ranked[SCORED..].windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn equal_scores_keep_the_sort_order() {
        assert_eq!(rank(vec![(7, 10), (3, 20), (5, 10), (1, 20)]), [3, 1, 7, 5]);
    }
}
