//! The in-memory index of connections: who is connected to whom, degrees (1st, 2nd, 3rd) and
//! mutual connections, answered by intersecting sorted neighbour arrays instead of joining tables.
//!
//! The index is a compressed sparse row base (one `u32` per directed edge, one offset per member)
//! plus a small delta: the full, sorted neighbour list of each member whose connections changed
//! since the base was built. When the delta grows past a share of the base, the two are merged.
//!
//! It is built from the store at start and then follows every commit, in commit order, through the
//! store's commit hook, so a read that follows a write sees it.
//!
//! Every question takes the viewer's `hidden` members (sorted): they are never counted, listed, or
//! used as a step of a path. Members who are not active are not in the index at all.

mod sets;

use sets::{count_common_excluding, intersects_excluding, merge_common};
use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard};

/// From this many connections of the viewer's, a page of mutual counts uses a bitset.
const BITSET_FROM: usize = 64;

thread_local! {
    /// One bit per member, all clear between uses: the viewer's connections, marked for a page.
    static BITSET: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Member ids as the index keeps them (row ids fit in 32 bits for any network this serves).
pub type Node = u32;

/// How far apart two members are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Degree {
    First,
    Second,
    Third,
    OutOfNetwork,
}

impl Degree {
    pub fn as_number(self) -> Option<u8> {
        match self {
            Degree::First => Some(1),
            Degree::Second => Some(2),
            Degree::Third => Some(3),
            Degree::OutOfNetwork => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Graph {
    adj: RwLock<Adjacency>,
}

#[derive(Debug, Default)]
struct Adjacency {
    /// `targets[offsets[n]..offsets[n + 1]]` are `n`'s connections in the base, sorted.
    offsets: Vec<u64>,
    targets: Vec<Node>,
    /// Members whose connections changed since the base: their whole current list, sorted.
    delta: HashMap<Node, Vec<Node>>,
    /// Entries held by `delta`, to know when to fold it into the base.
    delta_entries: usize,
    /// One past the highest member id in the index (base or delta).
    bound: Node,
}

/// Builds a base from directed edges given in order (by member, then by connection), the way the
/// store's primary key returns them, without sorting or holding them twice. Input out of order is
/// accepted too: the builder then keeps pairs and sorts them at the end.
#[derive(Debug)]
pub struct Builder {
    offsets: Vec<u64>,
    targets: Vec<Node>,
    last: Option<(Node, Node)>,
    /// Set once input came out of order.
    pairs: Option<Vec<(Node, Node)>>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            offsets: vec![0],
            targets: Vec::new(),
            last: None,
            pairs: None,
        }
    }

    pub fn with_capacity(members: usize, directed_edges: usize) -> Self {
        let mut b = Builder::new();
        b.offsets.reserve(members + 1);
        b.targets.reserve(directed_edges);
        b
    }

    /// Adds the directed edge `from → to`.
    pub fn push(&mut self, from: Node, to: Node) {
        if from == to {
            return;
        }
        if let Some(pairs) = &mut self.pairs {
            pairs.push((from, to));
            return;
        }
        if self.last.is_some_and(|last| (from, to) <= last) {
            let mut pairs = self.csr_pairs();
            pairs.push((from, to));
            self.pairs = Some(pairs);
            return;
        }
        self.last = Some((from, to));
        while self.offsets.len() <= from as usize {
            self.offsets.push(self.targets.len() as u64);
        }
        self.targets.push(to);
    }

    /// The edges pushed so far in CSR form, as pairs.
    fn csr_pairs(&mut self) -> Vec<(Node, Node)> {
        self.offsets.push(self.targets.len() as u64);
        let mut pairs = Vec::with_capacity(self.targets.len());
        for n in 0..self.offsets.len() - 1 {
            let (s, e) = (self.offsets[n] as usize, self.offsets[n + 1] as usize);
            pairs.extend(self.targets[s..e].iter().map(|&t| (n as Node, t)));
        }
        self.offsets = vec![0];
        self.targets = Vec::new();
        pairs
    }

    pub fn finish(mut self) -> Graph {
        if let Some(pairs) = self.pairs.take() {
            return from_directed(pairs);
        }
        self.offsets.push(self.targets.len() as u64);
        self.targets.shrink_to_fit();
        self.offsets.shrink_to_fit();
        Graph {
            adj: RwLock::new(Adjacency {
                offsets: self.offsets,
                targets: self.targets,
                ..Default::default()
            }),
        }
    }
}

fn from_directed(mut pairs: Vec<(Node, Node)>) -> Graph {
    pairs.sort_unstable();
    pairs.dedup();
    let mut b = Builder::new();
    for (a, c) in pairs {
        b.push(a, c);
    }
    b.finish()
}

impl Graph {
    pub fn new() -> Self {
        Builder::new().finish()
    }

    /// Builds the index from every connection, each given once, in any order.
    pub fn from_edges(edges: impl IntoIterator<Item = (Node, Node)>) -> Self {
        let mut pairs = Vec::new();
        for (a, b) in edges {
            if a != b {
                pairs.push((a, b));
                pairs.push((b, a));
            }
        }
        from_directed(pairs)
    }

    /// Replaces the whole index with another (a fresh load from the store).
    pub fn replace_with(&self, fresh: Graph) {
        let adj = fresh.adj.into_inner().unwrap_or_else(|p| p.into_inner());
        *self.adj.write().unwrap_or_else(|p| p.into_inner()) = adj;
    }

    /// A consistent view for several questions in a row.
    pub fn view(&self) -> View<'_> {
        View {
            adj: self.adj.read().unwrap_or_else(|p| p.into_inner()),
        }
    }

    pub fn connect(&self, a: Node, b: Node) {
        if a != b {
            self.change(a, b, true);
        }
    }

    pub fn disconnect(&self, a: Node, b: Node) {
        self.change(a, b, false);
    }

    fn change(&self, a: Node, b: Node, connect: bool) {
        let mut adj = self.adj.write().unwrap_or_else(|p| p.into_inner());
        for (x, y) in [(a, b), (b, a)] {
            let has = adj.base(x).binary_search(&y).is_ok();
            if has == connect {
                continue;
            }
            let mut list = match adj.delta.remove(&x) {
                Some(list) => {
                    adj.delta_entries -= list.len();
                    list
                }
                None => adj.base(x).to_vec(),
            };
            match (connect, list.binary_search(&y)) {
                (true, Err(pos)) => list.insert(pos, y),
                (false, Ok(pos)) => {
                    list.remove(pos);
                }
                _ => {}
            }
            adj.delta_entries += list.len();
            adj.delta.insert(x, list);
            adj.bound = adj.bound.max(x + 1);
        }
        // Fold the delta in once it holds more than an eighth of the base (and is not tiny), so
        // that lookups stay one hash probe away from a slice and memory stays compact.
        if adj.delta_entries > 4096 && adj.delta_entries > adj.targets.len() / 8 {
            adj.compact();
        }
    }

    /// Bytes the index holds, counting allocated capacity.
    pub fn memory_bytes(&self) -> usize {
        let adj = self.view().adj;
        adj.offsets.capacity() * 8
            + adj.targets.capacity() * 4
            + adj
                .delta
                .values()
                .map(|l| l.capacity() * 4 + 48)
                .sum::<usize>()
    }

    pub fn edge_count(&self) -> usize {
        self.view().directed_edges() / 2
    }

    pub fn connection_count(&self, a: Node) -> usize {
        self.view().neighbours(a).len()
    }

    pub fn are_connected(&self, a: Node, b: Node) -> bool {
        self.view().are_connected(a, b)
    }

    pub fn mutual_count(&self, a: Node, b: Node) -> usize {
        self.view().mutual_count(a, b, &[])
    }

    pub fn degree(&self, a: Node, b: Node) -> Degree {
        self.view().degree(a, b, &[])
    }

    /// Every connection once, as `(smaller, larger)`, in order: to compare with the store.
    pub fn edges(&self) -> Vec<(Node, Node)> {
        let v = self.view();
        let mut out = Vec::new();
        for n in 0..v.adj.node_bound() {
            for &m in v.neighbours(n) {
                if n < m {
                    out.push((n, m));
                }
            }
        }
        out
    }
}

impl Adjacency {
    fn base(&self, n: Node) -> &[Node] {
        // Most of the time the delta is empty: skip hashing then.
        if !self.delta.is_empty() {
            if let Some(list) = self.delta.get(&n) {
                return list;
            }
        }
        let i = n as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&s), Some(&e)) => &self.targets[s as usize..e as usize],
            _ => &[],
        }
    }

    fn node_bound(&self) -> Node {
        self.bound.max(self.offsets.len().saturating_sub(1) as Node)
    }

    fn compact(&mut self) {
        let bound = self.node_bound() as usize;
        let total: usize = (0..bound).map(|n| self.base(n as Node).len()).sum();
        let mut offsets = Vec::with_capacity(bound + 1);
        let mut targets = Vec::with_capacity(total);
        offsets.push(0u64);
        for n in 0..bound {
            targets.extend_from_slice(self.base(n as Node));
            offsets.push(targets.len() as u64);
        }
        self.offsets = offsets;
        self.targets = targets;
        self.delta = HashMap::new();
        self.delta_entries = 0;
    }
}

/// A read view of the index: every answer in it comes from the same state.
pub struct View<'a> {
    adj: RwLockReadGuard<'a, Adjacency>,
}

/// Who is within two steps of a viewer, as the viewer may see them.
#[derive(Debug, Default, Clone)]
pub struct Reach {
    /// 1st-degree connections, sorted, without hidden members.
    pub first: Vec<Node>,
    /// 2nd-degree members (not the viewer, not 1st), sorted, each with its mutual count.
    pub second: Vec<(Node, u32)>,
}

impl Reach {
    pub fn mutual_count(&self, n: Node) -> u32 {
        self.second
            .binary_search_by_key(&n, |&(m, _)| m)
            .map_or(0, |i| self.second[i].1)
    }
}

impl View<'_> {
    pub fn neighbours(&self, n: Node) -> &[Node] {
        self.adj.base(n)
    }

    pub fn directed_edges(&self) -> usize {
        let delta_nodes = self.adj.delta.keys();
        let mut total = self.adj.targets.len();
        for &n in delta_nodes {
            let i = n as usize;
            if let (Some(&s), Some(&e)) = (self.adj.offsets.get(i), self.adj.offsets.get(i + 1)) {
                total -= (e - s) as usize;
            }
        }
        total + self.adj.delta_entries
    }

    pub fn are_connected(&self, a: Node, b: Node) -> bool {
        self.neighbours(a).binary_search(&b).is_ok()
    }

    /// How many connections `a` and `b` share, leaving out `hidden` (sorted).
    pub fn mutual_count(&self, a: Node, b: Node, hidden: &[Node]) -> usize {
        if a == b {
            return 0;
        }
        count_common_excluding(self.neighbours(a), self.neighbours(b), hidden)
    }

    /// Mutual counts of `viewer` with each of `others` (a page of cards), leaving out `hidden`.
    /// The lists are looked up first, all at once, so that their cache misses overlap instead of
    /// coming one after the other; then each is intersected with the viewer's.
    pub fn mutual_counts(&self, viewer: Node, others: &[Node], hidden: &[Node]) -> Vec<usize> {
        let mine = self.neighbours(viewer);
        let lists: Vec<&[Node]> = others.iter().map(|&o| self.neighbours(o)).collect();
        let touched: Node = lists
            .iter()
            .map(|l| l.first().copied().unwrap_or(0))
            .fold(0, |a, b| a ^ b);
        std::hint::black_box(touched);
        if mine.len() >= BITSET_FROM {
            // A long list of the viewer's, met by every card: mark it once in a bitset and probe
            // each card's list, instead of walking the long list once per card.
            return BITSET.with(|cell| {
                let mut bits = cell.borrow_mut();
                let words = (self.adj.node_bound() as usize).div_ceil(64);
                if bits.len() < words {
                    bits.resize(words, 0);
                }
                for &n in mine {
                    if hidden.binary_search(&n).is_err() {
                        bits[n as usize / 64] |= 1 << (n % 64);
                    }
                }
                let counts = others
                    .iter()
                    .zip(&lists)
                    .map(|(&o, list)| {
                        if o == viewer {
                            return 0;
                        }
                        // A card's list much longer than the viewer's: gallop through it instead.
                        if list.len() > mine.len() * 4 {
                            return count_common_excluding(mine, list, hidden);
                        }
                        list.iter()
                            .filter(|&&n| bits[n as usize / 64] & (1 << (n % 64)) != 0)
                            .count()
                    })
                    .collect();
                for &n in mine {
                    bits[n as usize / 64] = 0;
                }
                counts
            });
        }
        others
            .iter()
            .zip(lists)
            .map(|(&o, list)| {
                if o == viewer {
                    0
                } else {
                    count_common_excluding(mine, list, hidden)
                }
            })
            .collect()
    }

    /// Mutual connections of `a` and `b` in id order, leaving out `hidden`, skipping `offset` and
    /// returning at most `limit`.
    pub fn mutual(
        &self,
        a: Node,
        b: Node,
        hidden: &[Node],
        offset: usize,
        limit: usize,
    ) -> Vec<Node> {
        if a == b {
            return Vec::new();
        }
        merge_common(self.neighbours(a), self.neighbours(b))
            .filter(|n| hidden.binary_search(n).is_err())
            .skip(offset)
            .take(limit)
            .collect()
    }

    /// The degree between `a` and `b` with no path through `hidden` (sorted). Bidirectional: the
    /// side whose neighbours have fewer connections in all steps out once, and each step is a
    /// set intersection with the other side's connections.
    pub fn degree(&self, a: Node, b: Node, hidden: &[Node]) -> Degree {
        if a == b {
            return Degree::OutOfNetwork;
        }
        let (na, nb) = (self.neighbours(a), self.neighbours(b));
        if na.binary_search(&b).is_ok() {
            return Degree::First;
        }
        if intersects_excluding(na, nb, hidden) {
            return Degree::Second;
        }
        let cost =
            |list: &[Node]| -> usize { list.iter().map(|&x| self.neighbours(x).len()).sum() };
        let (near, far) = if cost(na) <= cost(nb) {
            (na, nb)
        } else {
            (nb, na)
        };
        let third = near
            .iter()
            .filter(|x| hidden.binary_search(x).is_err())
            .any(|&x| intersects_excluding(self.neighbours(x), far, hidden));
        if third {
            Degree::Third
        } else {
            Degree::OutOfNetwork
        }
    }

    /// The viewer's 1st and 2nd degree, with mutual counts, leaving out `hidden`.
    pub fn reach(&self, viewer: Node, hidden: &[Node]) -> Reach {
        let first: Vec<Node> = self
            .neighbours(viewer)
            .iter()
            .copied()
            .filter(|n| hidden.binary_search(n).is_err())
            .collect();
        let mut all: Vec<Node> = Vec::new();
        for &x in &first {
            all.extend_from_slice(self.neighbours(x));
        }
        all.sort_unstable();
        let mut second = Vec::new();
        let mut i = 0;
        while i < all.len() {
            let n = all[i];
            let mut j = i;
            while j < all.len() && all[j] == n {
                j += 1;
            }
            if n != viewer && first.binary_search(&n).is_err() && hidden.binary_search(&n).is_err()
            {
                second.push((n, (j - i) as u32));
            }
            i = j;
        }
        Reach { first, second }
    }

    /// The degree of `other` for the viewer whose `reach` this is (hidden already left out).
    pub fn degree_within(
        &self,
        reach: &Reach,
        viewer: Node,
        other: Node,
        hidden: &[Node],
    ) -> Degree {
        if other == viewer {
            return Degree::OutOfNetwork;
        }
        if reach.first.binary_search(&other).is_ok() {
            return Degree::First;
        }
        if reach
            .second
            .binary_search_by_key(&other, |&(m, _)| m)
            .is_ok()
        {
            return Degree::Second;
        }
        let third = self
            .neighbours(other)
            .iter()
            .filter(|x| hidden.binary_search(x).is_err())
            .any(|x| reach.second.binary_search_by_key(x, |&(m, _)| m).is_ok());
        if third {
            Degree::Third
        } else {
            Degree::OutOfNetwork
        }
    }
}

#[cfg(test)]
mod tests;
