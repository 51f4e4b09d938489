//! The dependency tree pane's state: which nodes are collapsed and where the
//! cursor is. The rows come from `DependencyGraph::outline`, so cycles and
//! repeats are already marked and the tree is finite (one row per edge at
//! most). Every operation here is one linear pass over the outline, and a
//! drawn row's indentation is capped (`OutlineRow::indent`), so a chain
//! 100,000 deep costs per key what a flat map of 100,000 nodes does.

use std::collections::HashSet;

use crate::model::{Case, DependencyGraph, OutlineRow, RowKind};

/// The tree pane's collapsed nodes and cursor, for one case's outline
/// (reset when another case is shown). Default: all expanded, cursor on
/// the first row.
#[derive(Debug, Default, Clone)]
pub struct TreeState {
    /// Outline row indices that are collapsed.
    collapsed: HashSet<usize>,
    /// Cursor, as an index into the visible rows.
    pub cursor: usize,
}

/// One row to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisibleRow {
    /// Index into the full outline.
    pub outline_index: usize,
    /// The outline row itself: depth, node, kind, last-sibling flag.
    pub row: OutlineRow,
    /// A first appearance followed by deeper rows: it can be collapsed.
    pub has_children: bool,
    /// Collapsed: its descendants are hidden (only when `has_children`).
    pub collapsed: bool,
}

/// The deepest level the tree pane indents (two columns a level): the pane
/// is narrow, and a row 100,000 deep must still show its depth and name.
pub const MAX_TREE_INDENT: usize = 6;

impl VisibleRow {
    /// What comes before the row's marker: two columns per level up to
    /// `MAX_TREE_INDENT` levels, then the depth written out
    /// (`[depth 12345] `), so a row's width does not grow with its depth.
    pub fn indent(&self) -> String {
        let mut s = "  ".repeat(self.row.indent_within(MAX_TREE_INDENT));
        if let Some(note) = self.row.depth_note_within(MAX_TREE_INDENT) {
            s.push_str(&note);
        }
        s
    }
}

impl TreeState {
    /// The rows not hidden under a collapsed node.
    pub fn visible(&self, outline: &[OutlineRow]) -> Vec<VisibleRow> {
        let mut out = Vec::new();
        let mut hide_below: Option<usize> = None;
        for (i, row) in outline.iter().enumerate() {
            if let Some(depth) = hide_below {
                if row.depth > depth {
                    continue;
                }
                hide_below = None;
            }
            let has_children = row.kind == RowKind::First
                && outline.get(i + 1).is_some_and(|n| n.depth > row.depth);
            let collapsed = has_children && self.collapsed.contains(&i);
            if collapsed {
                hide_below = Some(row.depth);
            }
            out.push(VisibleRow {
                outline_index: i,
                row: *row,
                has_children,
                collapsed,
            });
        }
        out
    }

    /// Moves the cursor `delta` rows (negative: up), clamped to the
    /// `visible_len` visible rows; 0 when there are none.
    pub fn move_by(&mut self, delta: isize, visible_len: usize) {
        if visible_len == 0 {
            self.cursor = 0;
            return;
        }
        let max = visible_len as isize - 1;
        self.cursor = (self.cursor as isize + delta).clamp(0, max) as usize;
    }

    /// Collapses or expands the node under the cursor; a row without
    /// children is left alone.
    pub fn toggle(&mut self, outline: &[OutlineRow]) {
        if let Some(r) = self.visible(outline).get(self.cursor)
            && r.has_children
            && !self.collapsed.remove(&r.outline_index)
        {
            self.collapsed.insert(r.outline_index);
        }
    }

    /// Expands the node under the cursor (no effect if it is not collapsed).
    pub fn expand(&mut self, outline: &[OutlineRow]) {
        if let Some(r) = self.visible(outline).get(self.cursor) {
            self.collapsed.remove(&r.outline_index);
        }
    }

    /// Collapses the node, or moves to its parent when it has no children
    /// or is already collapsed.
    pub fn collapse(&mut self, outline: &[OutlineRow]) {
        let visible = self.visible(outline);
        let Some(r) = visible.get(self.cursor) else {
            return;
        };
        if r.has_children && !r.collapsed {
            self.collapsed.insert(r.outline_index);
            return;
        }
        if let Some(parent) = visible[..self.cursor]
            .iter()
            .rposition(|p| p.row.depth < r.row.depth)
        {
            self.cursor = parent;
        }
    }
}

/// The outline of a case's map (empty without one), walked on every call;
/// the console asks [`QueueModel::tree`](super::QueueModel::tree), which
/// keeps the last one.
pub fn outline_of(case: &Case) -> Vec<OutlineRow> {
    DependencyGraph::of(case)
        .map(|g| g.outline())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(depth: usize, node: usize) -> OutlineRow {
        OutlineRow {
            depth,
            node,
            kind: RowKind::First,
            last: false,
        }
    }

    #[test]
    fn collapsing_hides_descendants_and_h_goes_to_the_parent() {
        let outline = vec![row(1, 0), row(2, 1), row(3, 2), row(1, 3)];
        let mut t = TreeState::default();
        assert_eq!(t.visible(&outline).len(), 4);
        t.toggle(&outline);
        assert_eq!(t.visible(&outline).len(), 2);
        t.toggle(&outline);
        t.cursor = 2;
        t.collapse(&outline); // a leaf: go to the parent
        assert_eq!(t.cursor, 1);
        t.collapse(&outline);
        assert_eq!(t.visible(&outline).len(), 3);
        t.expand(&outline);
        assert_eq!(t.visible(&outline).len(), 4);
    }
}
