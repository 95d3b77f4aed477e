//! The in-memory index of connections: who is connected to whom, degrees (1st, 2nd, 3rd) and
//! mutual connections, answered by intersecting sorted neighbour arrays instead of joining tables.
//!
//! It is built from the store at start and then follows every commit, in commit order, through the
//! store's commit hook, so a read that follows a write sees it.

use std::sync::RwLock;

/// Member ids as the index keeps them (row ids fit in 32 bits for any network this serves).
pub type Node = u32;

#[derive(Debug, Default)]
pub struct Graph {
    /// `adj[n]` is the sorted list of `n`'s connections.
    adj: RwLock<Vec<Vec<Node>>>,
}

/// How far apart two members are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the index from every connection, each given once.
    pub fn from_edges(edges: impl IntoIterator<Item = (Node, Node)>) -> Self {
        let mut adj: Vec<Vec<Node>> = Vec::new();
        for (a, b) in edges {
            let hi = a.max(b) as usize;
            if adj.len() <= hi {
                adj.resize_with(hi + 1, Vec::new);
            }
            adj[a as usize].push(b);
            adj[b as usize].push(a);
        }
        for list in &mut adj {
            list.sort_unstable();
            list.dedup();
        }
        Graph {
            adj: RwLock::new(adj),
        }
    }

    /// Replaces the whole index with these connections.
    pub fn replace_with(&self, edges: impl IntoIterator<Item = (Node, Node)>) {
        let fresh = Graph::from_edges(edges);
        let adj = fresh.adj.into_inner().unwrap_or_else(|p| p.into_inner());
        *self.write() = adj;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vec<Node>>> {
        self.adj.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Vec<Node>>> {
        self.adj.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn connect(&self, a: Node, b: Node) {
        if a == b {
            return;
        }
        let mut adj = self.write();
        let hi = a.max(b) as usize;
        if adj.len() <= hi {
            adj.resize_with(hi + 1, Vec::new);
        }
        for (x, y) in [(a, b), (b, a)] {
            let list = &mut adj[x as usize];
            if let Err(pos) = list.binary_search(&y) {
                list.insert(pos, y);
            }
        }
    }

    pub fn disconnect(&self, a: Node, b: Node) {
        let mut adj = self.write();
        for (x, y) in [(a, b), (b, a)] {
            if let Some(list) = adj.get_mut(x as usize) {
                if let Ok(pos) = list.binary_search(&y) {
                    list.remove(pos);
                }
            }
        }
    }

    pub fn connection_count(&self, a: Node) -> usize {
        self.read().get(a as usize).map_or(0, Vec::len)
    }

    pub fn edge_count(&self) -> usize {
        self.read().iter().map(Vec::len).sum::<usize>() / 2
    }

    pub fn are_connected(&self, a: Node, b: Node) -> bool {
        self.read()
            .get(a as usize)
            .is_some_and(|l| l.binary_search(&b).is_ok())
    }

    pub fn mutual_count(&self, a: Node, b: Node) -> usize {
        let adj = self.read();
        count_common(neighbours(&adj, a), neighbours(&adj, b))
    }

    /// Mutual connections of `a` and `b`, in id order, skipping `offset` and returning at most `limit`.
    pub fn mutual(&self, a: Node, b: Node, offset: usize, limit: usize) -> Vec<Node> {
        let adj = self.read();
        common(neighbours(&adj, a), neighbours(&adj, b))
            .skip(offset)
            .take(limit)
            .collect()
    }

    pub fn degree(&self, a: Node, b: Node) -> Degree {
        if a == b {
            return Degree::OutOfNetwork;
        }
        let adj = self.read();
        let (na, nb) = (neighbours(&adj, a), neighbours(&adj, b));
        if na.binary_search(&b).is_ok() {
            return Degree::First;
        }
        if count_common(na, nb) > 0 {
            return Degree::Second;
        }
        // Third degree: some neighbour of the smaller side shares a connection with the other.
        let (small, other) = if na.len() <= nb.len() {
            (na, nb)
        } else {
            (nb, na)
        };
        if small
            .iter()
            .any(|&x| count_common(neighbours(&adj, x), other) > 0)
        {
            return Degree::Third;
        }
        Degree::OutOfNetwork
    }
}

fn neighbours(adj: &[Vec<Node>], n: Node) -> &[Node] {
    adj.get(n as usize).map_or(&[], Vec::as_slice)
}

/// Merge-intersection of two sorted lists.
fn common<'a>(a: &'a [Node], b: &'a [Node]) -> impl Iterator<Item = Node> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    return Some(a[i - 1]);
                }
            }
        }
        None
    })
}

fn count_common(a: &[Node], b: &[Node]) -> usize {
    common(a, b).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1-2-3-4-5 in a line, and 2-6-3 closing a triangle through 6.
    fn line() -> Graph {
        Graph::from_edges([(1, 2), (2, 3), (3, 4), (4, 5), (2, 6), (6, 3)])
    }

    #[test]
    fn degrees_follow_shortest_paths() {
        let g = line();
        assert_eq!(g.degree(1, 2), Degree::First);
        assert_eq!(g.degree(1, 3), Degree::Second);
        assert_eq!(g.degree(1, 4), Degree::Third);
        assert_eq!(g.degree(1, 5), Degree::OutOfNetwork);
        assert_eq!(g.degree(1, 99), Degree::OutOfNetwork);
        assert_eq!(g.degree(1, 1), Degree::OutOfNetwork);
    }

    #[test]
    fn mutual_connections_are_the_shared_neighbours() {
        let g = line();
        assert_eq!(g.mutual(2, 3, 0, 10), vec![6]);
        assert_eq!(g.mutual_count(1, 3), 1);
        assert_eq!(g.mutual_count(1, 5), 0);
    }

    #[test]
    fn connect_and_disconnect_are_symmetric_and_idempotent() {
        let g = Graph::new();
        g.connect(1, 2);
        g.connect(2, 1);
        assert!(g.are_connected(2, 1));
        assert_eq!(g.edge_count(), 1);
        g.disconnect(1, 2);
        g.disconnect(1, 2);
        assert!(!g.are_connected(1, 2));
        assert_eq!(g.connection_count(1), 0);
    }
}
