//! What the table's columns need from every case, measured once per
//! model: content widths per view, the display widths of each row's text,
//! and how much of each id it shares with its neighbours.

use time::OffsetDateTime;
use unicode_width::UnicodeWidthStr;

use crate::model::{CaseRow, CaseState, CaseStatus};
use crate::text::sanitize;

/// The widest content of each variable column over all cases, in terminal
/// columns of the sanitised text (capped: one pathological name must not
/// claim the whole table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColumnWidths {
    /// The case id.
    pub id: u16,
    /// The identity's name.
    pub identity: u16,
    /// The owner team, or [`UNKNOWN_OWNER`].
    pub owner: u16,
    /// `kind/provider`.
    pub kind_provider: u16,
    /// The state text (`quar 1d 6h`, `esc→team`, …).
    pub state: u16,
    /// The age in days (`123d`).
    pub age: u16,
}

impl ColumnWidths {
    /// Each width the larger of this one's and `other`'s.
    pub(super) fn widen(&mut self, other: &ColumnWidths) {
        self.id = self.id.max(other.id);
        self.identity = self.identity.max(other.identity);
        self.owner = self.owner.max(other.owner);
        self.kind_provider = self.kind_provider.max(other.kind_provider);
        self.state = self.state.max(other.state);
        self.age = self.age.max(other.age);
    }
}

/// How many decimal digits `n` (≥ 0) has.
pub(super) fn digits(n: i64) -> u16 {
    let mut d = 1;
    let mut n = n / 10;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

/// No column's content width is taken as more than this.
pub(super) const MAX_CONTENT_WIDTH: usize = 48;

/// The display widths of a row's id, identity, owner and kind/provider,
/// capped at [`MAX_CONTENT_WIDTH`].
pub(super) fn text_widths(r: &CaseRow) -> [u8; 4] {
    let w = |s: &str| {
        let n = if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            s.len()
        } else {
            sanitize(s).width()
        };
        n.min(MAX_CONTENT_WIDTH)
    };
    [
        w(r.id()),
        w(r.name()),
        r.owner_team().map_or(UNKNOWN_OWNER.len(), w),
        (w(r.kind()) + 1 + w(r.provider())).min(MAX_CONTENT_WIDTH),
    ]
    .map(|n| n as u8)
}

/// What the OWNER column says when no team is named.
pub const UNKNOWN_OWNER: &str = "(unknown)";

/// The widest the queue's STATE cell of `s` gets from `now` on (`quar 1d 6h`,
/// `⚠ EXPIRED`, `esc→team`, `pending`; a countdown is at most `quar 99d 23h`).
pub(super) fn state_width(s: &CaseStatus, now: OffsetDateTime) -> u16 {
    let w = match &s.state {
        CaseState::Quarantined { until } if *until <= now => "⚠ EXPIRED".width(),
        CaseState::Quarantined { .. } => "quar 99d 23h".len(),
        CaseState::Escalated { to } => 4 + sanitize(to).width(),
        other => other.name().width(),
    };
    w.min(MAX_CONTENT_WIDTH) as u16
}

/// For each id, the number of leading characters of its sanitised form
/// shared with its neighbours in `by_id` (the indices of `ids` in id
/// order): the longest prefix it shares with any other id.
pub(super) fn shared_prefixes(ids: &[&str], by_id: &[u32]) -> Vec<u32> {
    let mut out = vec![0u32; ids.len()];
    let sorted: Vec<std::borrow::Cow<'_, str>> =
        by_id.iter().map(|&i| sanitize(ids[i as usize])).collect();
    for k in 1..sorted.len() {
        let n = sorted[k - 1]
            .chars()
            .zip(sorted[k].chars())
            .take_while(|(a, b)| a == b)
            .count() as u32;
        let (prev, this) = (by_id[k - 1] as usize, by_id[k] as usize);
        out[prev] = out[prev].max(n);
        out[this] = out[this].max(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_are_with_the_nearest_ids() {
        let ids = [
            "prod-payments-svc-000124",
            "CASE-1",
            "prod-payments-svc-000123",
            "prod-identity-svc-000001",
        ];
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        by_id.sort_by_key(|&i| ids[i as usize]);
        assert_eq!(
            shared_prefixes(&ids, &by_id),
            [23, 0, 23, "prod-".len() as u32]
        );
        assert_eq!(shared_prefixes(&["only"], &[0]), [0]);
    }
}
