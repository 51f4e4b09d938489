//! The dependency map as a graph we can walk safely.
//!
//! Real estates have cycles, dangling ids and duplicated nodes; every walk here
//! visits a node at most once, so none of them can loop or crash.

use std::collections::HashMap;

use super::case::{Case, DependencyNode};

/// A node of the map, or the identity itself (the root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// The identity under review.
    Root,
    /// The node at this index of the map's node list.
    Node(usize),
}

/// A `uses` id that names nothing in the map.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DanglingRef {
    /// Id of the node whose `uses` names the missing id.
    pub from: String,
    /// The id named in `uses` that no node (nor the identity) has.
    pub missing: String,
}

/// An edge `from → to` that closes a cycle among the dependents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CycleEdge {
    /// Id of the node that uses `to` (the `uses` edge's start).
    pub from: String,
    /// Id of the used node, already on the walk's path; equals `from` for a
    /// node that uses itself.
    pub to: String,
}

/// A case's dependency map indexed for walking: node ids to indices and the
/// reverse of every `uses` edge, borrowed from the case. Duplicate ids and
/// ids equal to the identity's are left out of the walk; `uses` ids that
/// name nothing are recorded in `dangling`.
#[derive(Debug)]
pub struct DependencyGraph<'a> {
    root_id: &'a str,
    nodes: &'a [DependencyNode],
    index: HashMap<&'a str, usize>,
    /// `users[i]`: the nodes that use node `i` (reverse `uses` edges).
    users: Vec<Vec<usize>>,
    root_users: Vec<usize>,
    /// `uses` ids that name no node and not the identity, in map order.
    pub dangling: Vec<DanglingRef>,
    /// Node ids seen more than once (the first wins) or equal to the identity's id.
    pub duplicates: Vec<String>,
}

impl<'a> DependencyGraph<'a> {
    /// The graph of a case's map; `None` when the case has no map at all.
    pub fn of(case: &'a Case) -> Option<Self> {
        let deps = case.dependencies.as_ref()?;
        Some(Self::build(&case.identity.id, &deps.nodes))
    }

    /// The graph of `nodes` around the identity `root_id`: one pass to index
    /// the ids, one over the `uses` edges; O(nodes + edges). Never fails:
    /// problems in the map are recorded in `dangling` and `duplicates`.
    pub fn build(root_id: &'a str, nodes: &'a [DependencyNode]) -> Self {
        let mut index = HashMap::with_capacity(nodes.len());
        let mut duplicates = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if node.id == root_id || index.contains_key(node.id.as_str()) {
                duplicates.push(node.id.clone());
            } else {
                index.insert(node.id.as_str(), i);
            }
        }
        let mut users = vec![Vec::new(); nodes.len()];
        let mut root_users = Vec::new();
        let mut dangling = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            if index.get(node.id.as_str()) != Some(&i) {
                continue; // a duplicate: ignored, reported above
            }
            for used in &node.uses {
                if used == root_id {
                    push_once(&mut root_users, i);
                } else if let Some(&j) = index.get(used.as_str()) {
                    push_once(&mut users[j], i);
                } else {
                    dangling.push(DanglingRef {
                        from: node.id.clone(),
                        missing: used.clone(),
                    });
                }
            }
        }
        Self {
            root_id,
            nodes,
            index,
            users,
            root_users,
            dangling,
            duplicates,
        }
    }

    /// The identity's id (the root of every walk).
    pub fn root_id(&self) -> &str {
        self.root_id
    }

    /// The node at index `i` of the map. Panics if `i` is out of range;
    /// indices from this graph's walks are always in range.
    pub fn node(&self, i: usize) -> &'a DependencyNode {
        &self.nodes[i]
    }

    /// The index of the node with this id (its first occurrence), or `None`
    /// when no node has it (the identity's own id included).
    pub fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The nodes that use `target` directly, in map order, each once.
    /// Panics if a `Target::Node` index is out of range.
    pub fn direct_users(&self, target: Target) -> &[usize] {
        match target {
            Target::Root => &self.root_users,
            Target::Node(i) => &self.users[i],
        }
    }

    /// Every node that reaches the identity through `uses` edges, nearest first,
    /// each once.
    pub fn transitive_dependents(&self) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut order = Vec::new();
        let mut frontier: Vec<usize> = self.root_users.clone();
        for &i in &frontier {
            seen[i] = true;
        }
        while !frontier.is_empty() {
            order.extend_from_slice(&frontier);
            let mut next = Vec::new();
            for &i in &frontier {
                for &u in &self.users[i] {
                    if !seen[u] {
                        seen[u] = true;
                        next.push(u);
                    }
                }
            }
            frontier = next;
        }
        order
    }

    /// Edges among the dependents that close a cycle (including a node that
    /// uses itself), found by a depth-first walk from the identity.
    pub fn cycles(&self) -> Vec<CycleEdge> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut mark = vec![Mark::New; self.nodes.len()];
        let mut found = Vec::new();
        // Explicit stack of (node, next child position): no recursion depth limit.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for &start in &self.root_users {
            if mark[start] != Mark::New {
                continue;
            }
            mark[start] = Mark::OnPath;
            stack.push((start, 0));
            while let Some(&mut (node, ref mut pos)) = stack.last_mut() {
                if let Some(&user) = self.users[node].get(*pos) {
                    *pos += 1;
                    match mark[user] {
                        Mark::New => {
                            mark[user] = Mark::OnPath;
                            stack.push((user, 0));
                        }
                        Mark::OnPath => found.push(CycleEdge {
                            from: self.nodes[user].id.clone(),
                            to: self.nodes[node].id.clone(),
                        }),
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    stack.pop();
                }
            }
        }
        found
    }
}

/// How a row of the outline relates to what was shown before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// The node's first appearance; its users follow, one level deeper.
    First,
    /// The node is already on the path above: a cycle, not expanded again.
    Cycle,
    /// The node was shown in another branch; not expanded again.
    Repeat,
}

/// One row of the dependency tree as text: the identity's users at depth 1,
/// their users at depth 2, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlineRow {
    /// 1 for the identity's direct users; grows by one per `uses` edge.
    pub depth: usize,
    /// Index of the node in the map ([`DependencyGraph::node`]).
    pub node: usize,
    /// First appearance, cycle or repeat.
    pub kind: RowKind,
    /// No later sibling follows under the same parent (for `└─` guides).
    pub last: bool,
}

/// The deepest level drawn as indentation. Deeper rows are drawn at this
/// level with their depth written out (`OutlineRow::depth_note`), so a row
/// costs the same bytes and columns at depth 10 and at depth 100,000 and a
/// drawn outline stays linear in nodes + edges.
pub const MAX_INDENT: usize = 10;

impl OutlineRow {
    /// The level to indent to: `depth`, capped at `MAX_INDENT`.
    pub fn indent(&self) -> usize {
        self.indent_within(MAX_INDENT)
    }

    /// `[depth N] ` for rows deeper than `MAX_INDENT` (drawn at that
    /// level), `None` otherwise.
    pub fn depth_note(&self) -> Option<String> {
        self.depth_note_within(MAX_INDENT)
    }

    /// As [`indent`](Self::indent), with the cap at `max` levels (a narrow
    /// pane indents less).
    pub fn indent_within(&self, max: usize) -> usize {
        self.depth.min(max)
    }

    /// As [`depth_note`](Self::depth_note), with the cap at `max` levels.
    pub fn depth_note_within(&self, max: usize) -> Option<String> {
        (self.depth > max).then(|| format!("[depth {}] ", self.depth))
    }
}

impl DependencyGraph<'_> {
    /// The tree under the identity, depth first. Each node is expanded once;
    /// cycles and repeats appear as marked references, so the outline is at
    /// most one row per edge (plus one per direct user of the identity).
    /// The walk keeps its own stack: a chain 100,000 deep needs no deeper
    /// call stack than a flat map. Time and memory O(nodes + edges).
    pub fn outline(&self) -> Vec<OutlineRow> {
        let mut rows = Vec::new();
        let mut shown = vec![false; self.nodes.len()];
        let mut on_path = vec![false; self.nodes.len()];
        // (node, depth, next user position); the root's users start at depth 1.
        let mut stack: Vec<(usize, usize, usize)> = Vec::new();
        let starts = &self.root_users;
        for (k, &start) in starts.iter().enumerate() {
            let last = k + 1 == starts.len();
            let mut walk = Walk {
                rows: &mut rows,
                shown: &mut shown,
                on_path: &mut on_path,
                stack: &mut stack,
            };
            walk.visit(start, 1, last);
            while let Some(&mut (node, depth, ref mut pos)) = walk.stack.last_mut() {
                let users = &self.users[node];
                if let Some(&user) = users.get(*pos) {
                    *pos += 1;
                    let last = *pos == users.len();
                    walk.visit(user, depth + 1, last);
                } else {
                    walk.on_path[node] = false;
                    walk.stack.pop();
                }
            }
        }
        rows
    }
}

/// The outline walk's state.
struct Walk<'w> {
    rows: &'w mut Vec<OutlineRow>,
    shown: &'w mut [bool],
    on_path: &'w mut [bool],
    stack: &'w mut Vec<(usize, usize, usize)>,
}

impl Walk<'_> {
    fn visit(&mut self, node: usize, depth: usize, last: bool) {
        let kind = if self.on_path[node] {
            RowKind::Cycle
        } else if self.shown[node] {
            RowKind::Repeat
        } else {
            RowKind::First
        };
        self.rows.push(OutlineRow {
            depth,
            node,
            kind,
            last,
        });
        if kind == RowKind::First {
            self.shown[node] = true;
            self.on_path[node] = true;
            self.stack.push((node, depth, 0));
        }
    }
}

/// Appends `i` unless it is already the last entry. Users are added in
/// node order, so a repeat can only be the node just added (one node naming
/// the same id twice): O(1), where a `contains` would make a node used by
/// 100,000 others cost O(n²).
fn push_once(list: &mut Vec<usize>, i: usize) {
    if list.last() != Some(&i) {
        list.push(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, uses: &[&str]) -> DependencyNode {
        DependencyNode {
            id: id.into(),
            name: None,
            kind: None,
            criticality: None,
            external: None,
            shared: None,
            last_seen_at: None,
            uses: uses.iter().map(|s| s.to_string()).collect(),
            source: None,
        }
    }

    #[test]
    fn transitive_dependents_are_found_once_each() {
        let nodes = vec![
            node("a", &["root"]),
            node("b", &["a"]),
            node("c", &["b", "a"]),
            node("unrelated", &[]),
        ];
        let g = DependencyGraph::build("root", &nodes);
        let ids: Vec<_> = g
            .transitive_dependents()
            .iter()
            .map(|&i| g.node(i).id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn cycles_and_self_loops_terminate_and_are_reported() {
        let nodes = vec![
            node("a", &["root", "b"]),
            node("b", &["a"]),
            node("s", &["s", "root"]),
        ];
        let g = DependencyGraph::build("root", &nodes);
        assert_eq!(g.transitive_dependents().len(), 3);
        let cycles = g.cycles();
        assert_eq!(cycles.len(), 2, "{cycles:?}");
        assert!(cycles.iter().any(|c| c.from == "s" && c.to == "s"));
    }

    #[test]
    fn dangling_ids_and_duplicates_are_reported() {
        let nodes = vec![
            node("a", &["root", "ghost"]),
            node("a", &["root"]),
            node("root", &[]),
        ];
        let g = DependencyGraph::build("root", &nodes);
        assert_eq!(
            g.dangling,
            vec![DanglingRef {
                from: "a".into(),
                missing: "ghost".into()
            }]
        );
        assert_eq!(g.duplicates, ["a", "root"]);
        assert_eq!(g.transitive_dependents(), [0]);
    }

    #[test]
    fn the_outline_marks_cycles_and_repeats_once() {
        let nodes = vec![
            node("a", &["root", "b"]),
            node("b", &["a"]),
            node("c", &["a", "root"]),
        ];
        let g = DependencyGraph::build("root", &nodes);
        let rows: Vec<_> = g
            .outline()
            .iter()
            .map(|r| (r.depth, g.node(r.node).id.as_str(), r.kind, r.last))
            .collect();
        assert_eq!(
            rows,
            [
                (1, "a", RowKind::First, false),
                (2, "b", RowKind::First, false),
                (3, "a", RowKind::Cycle, true),
                (2, "c", RowKind::First, true),
                (1, "c", RowKind::Repeat, true),
            ]
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 100_000;
        let nodes: Vec<_> = (0..n)
            .map(|i| {
                let used = if i == 0 {
                    "root".to_string()
                } else {
                    format!("n{}", i - 1)
                };
                DependencyNode {
                    uses: vec![used],
                    ..node(&format!("n{i}"), &[])
                }
            })
            .collect();
        let g = DependencyGraph::build("root", &nodes);
        assert_eq!(g.transitive_dependents().len(), n);
        assert!(g.cycles().is_empty());
        let outline = g.outline();
        assert_eq!(outline.len(), n);
        assert_eq!(outline[n - 1].depth, n);
        assert_eq!(outline[n - 1].indent(), MAX_INDENT);
        assert_eq!(
            outline[n - 1].depth_note().as_deref(),
            Some("[depth 100000] ")
        );
        assert_eq!(outline[MAX_INDENT - 1].depth_note(), None);
    }

    #[test]
    fn a_node_naming_the_same_id_twice_is_one_user() {
        let nodes = vec![node("a", &["root", "root"]), node("b", &["a", "root", "a"])];
        let g = DependencyGraph::build("root", &nodes);
        assert_eq!(g.direct_users(Target::Root), [0, 1]);
        assert_eq!(g.direct_users(Target::Node(0)), [1]);
    }
}
