use super::*;
use std::collections::{BTreeSet, VecDeque};

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
    assert_eq!(g.view().mutual(2, 3, &[], 0, 10), vec![6]);
    assert_eq!(g.mutual_count(1, 3), 1);
    assert_eq!(g.mutual_count(1, 5), 0);
}

#[test]
fn no_path_runs_through_a_hidden_member() {
    let g = line();
    let v = g.view();
    // Hiding 2 cuts 1 off from everyone.
    assert_eq!(v.degree(1, 3, &[2]), Degree::OutOfNetwork);
    // Hiding 6 leaves 2 and 3 connected but without a mutual connection.
    assert_eq!(v.mutual_count(2, 3, &[6]), 0);
    assert_eq!(v.mutual(2, 3, &[6], 0, 10), Vec::<Node>::new());
    // 1 reaches 4 through 2-3 or not at all once 3 is hidden.
    assert_eq!(v.degree(1, 4, &[3]), Degree::OutOfNetwork);
    let reach = v.reach(1, &[6]);
    assert_eq!(reach.first, vec![2]);
    assert_eq!(reach.second, vec![(3, 1)]);
    assert_eq!(v.degree_within(&reach, 1, 4, &[6]), Degree::Third);
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
    assert_eq!(g.edge_count(), 0);
}

#[test]
fn the_builder_takes_sorted_and_unsorted_input_alike() {
    let mut sorted = Builder::new();
    for (a, b) in [(0, 3), (1, 2), (2, 1), (3, 0)] {
        sorted.push(a, b);
    }
    let mut unsorted = Builder::new();
    for (a, b) in [(3, 0), (0, 3), (2, 1), (1, 2), (2, 1)] {
        unsorted.push(a, b);
    }
    assert_eq!(sorted.finish().edges(), vec![(0, 3), (1, 2)]);
    assert_eq!(unsorted.finish().edges(), vec![(0, 3), (1, 2)]);
}

/// A small deterministic generator, so the test needs no dependency and always runs the same.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

/// Breadth-first distances from `a`, never stepping on `hidden`: the reference for degrees.
fn bfs_degree(edges: &BTreeSet<(Node, Node)>, a: Node, b: Node, hidden: &[Node]) -> Degree {
    if a == b {
        return Degree::OutOfNetwork;
    }
    let mut dist = std::collections::HashMap::from([(a, 0u32)]);
    let mut queue = VecDeque::from([a]);
    while let Some(x) = queue.pop_front() {
        let d = dist[&x];
        if d == 3 {
            continue;
        }
        for &(p, q) in edges {
            let next = if p == x {
                q
            } else if q == x {
                p
            } else {
                continue;
            };
            if next != b && hidden.contains(&next) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = dist.entry(next) {
                e.insert(d + 1);
                queue.push_back(next);
            }
        }
    }
    match dist.get(&b) {
        Some(1) => Degree::First,
        Some(2) => Degree::Second,
        Some(3) => Degree::Third,
        _ => Degree::OutOfNetwork,
    }
}

#[test]
fn after_random_changes_the_index_matches_a_rebuild_and_a_plain_search() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let g = Graph::from_edges((0..60).map(|i| (i, (i * 7 + 1) % 60)));
    let mut truth: BTreeSet<(Node, Node)> = g.edges().into_iter().collect();
    for step in 0..6_000 {
        let (a, b) = (rng.below(70), rng.below(70));
        let key = (a.min(b), a.max(b));
        if rng.below(3) == 0 {
            g.disconnect(a, b);
            truth.remove(&key);
        } else if a != b {
            g.connect(a, b);
            truth.insert(key);
        }
        if step % 500 == 0 {
            // The delta folds into the base as it grows; both must read the same.
            g.adj.write().unwrap().compact();
        }
    }
    assert_eq!(g.edges(), truth.iter().copied().collect::<Vec<_>>());
    let rebuilt = Graph::from_edges(truth.iter().copied());
    assert_eq!(rebuilt.edges(), g.edges());
    assert_eq!(g.edge_count(), truth.len());

    let (v, w) = (g.view(), rebuilt.view());
    for _ in 0..400 {
        let (a, b) = (rng.below(72), rng.below(72));
        let hidden: Vec<Node> = {
            let mut h = vec![rng.below(70), rng.below(70)];
            h.retain(|&x| x != a && x != b);
            h.sort_unstable();
            h
        };
        let expected = bfs_degree(&truth, a, b, &hidden);
        assert_eq!(
            v.degree(a, b, &hidden),
            expected,
            "{a}-{b} hiding {hidden:?}"
        );
        assert_eq!(w.degree(a, b, &hidden), expected);
        let reach = v.reach(a, &hidden);
        assert_eq!(v.degree_within(&reach, a, b, &hidden), expected);
        let mutual = v.mutual(a, b, &hidden, 0, 1000);
        assert_eq!(mutual.len(), v.mutual_count(a, b, &hidden));
        if expected == Degree::Second {
            assert_eq!(reach.mutual_count(b) as usize, mutual.len());
        }
    }
}

#[test]
fn memory_stays_near_four_bytes_per_directed_edge() {
    let edges: Vec<(Node, Node)> = (0..20_000u32)
        .flat_map(|i| (1..=25).map(move |k| (i, (i + k * 37) % 20_000)))
        .collect();
    let g = Graph::from_edges(edges);
    let per_edge = g.memory_bytes() as f64 / (2 * g.edge_count()) as f64;
    assert!(per_edge < 4.5, "{per_edge} bytes per directed edge");
}

#[test]
fn a_page_of_mutual_counts_matches_one_count_at_a_time() {
    // Member 0 has 200 connections (the bitset path), member 1 has 10 (the merge path); the
    // cards include a long list, the viewer themself and a stranger.
    let mut edges: Vec<(Node, Node)> = (2..202).map(|n| (0, n)).collect();
    edges.extend((2..12).map(|n| (1, n)));
    for card in 300..320u32 {
        edges.extend((0..(card % 7) * 30).map(|k| (card, 2 + (k * 13 + card) % 400)));
    }
    let g = Graph::from_edges(edges);
    let v = g.view();
    let cards: Vec<Node> = (300..320).chain([0, 1, 999]).collect();
    for viewer in [0, 1] {
        for hidden in [vec![], vec![5, 17, 150]] {
            let page = v.mutual_counts(viewer, &cards, &hidden);
            let one_by_one: Vec<usize> = cards
                .iter()
                .map(|&c| v.mutual_count(viewer, c, &hidden))
                .collect();
            assert_eq!(page, one_by_one, "viewer {viewer}, hidden {hidden:?}");
        }
    }
    // The bitset is left clear: a second page reads the same.
    assert_eq!(
        v.mutual_counts(0, &cards, &[]),
        v.mutual_counts(0, &cards, &[])
    );
}
