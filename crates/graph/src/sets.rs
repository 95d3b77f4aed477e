//! Intersections of sorted `u32` lists: a branch-light merge when the lists are of similar size,
//! galloping (exponential then binary search) through the longer one when they are not.

use crate::Node;

/// Past this size ratio, galloping through the longer list beats merging.
const GALLOP_RATIO: usize = 16;

/// Elements of both `a` and `b`, in order.
pub fn merge_common<'a>(a: &'a [Node], b: &'a [Node]) -> impl Iterator<Item = Node> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        while i < a.len() && j < b.len() {
            let (x, y) = (a[i], b[j]);
            i += usize::from(x <= y);
            j += usize::from(y <= x);
            if x == y {
                return Some(x);
            }
        }
        None
    })
}

/// The first index in `list[from..]` (as an index of `list`) whose value is at least `x`.
fn gallop(list: &[Node], from: usize, x: Node) -> usize {
    let mut step = 1;
    let mut hi = from;
    while hi < list.len() && list[hi] < x {
        hi = from + step;
        step *= 2;
    }
    let lo = from + step / 4;
    let hi = hi.min(list.len());
    let lo = lo.min(hi);
    lo + list[lo..hi].partition_point(|&v| v < x)
}

/// Calls `f` with each common element, stopping when it returns `false`.
fn for_common(a: &[Node], b: &[Node], mut f: impl FnMut(Node) -> bool) {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return;
    }
    if long.len() / short.len() >= GALLOP_RATIO {
        let mut j = 0;
        for &x in short {
            j = gallop(long, j, x);
            if j == long.len() {
                return;
            }
            if long[j] == x && !f(x) {
                return;
            }
        }
    } else {
        for x in merge_common(short, long) {
            if !f(x) {
                return;
            }
        }
    }
}

/// How many elements `a` and `b` share, not counting those in `hidden` (sorted).
pub fn count_common_excluding(a: &[Node], b: &[Node], hidden: &[Node]) -> usize {
    let mut n = 0;
    for_common(a, b, |x| {
        if hidden.binary_search(&x).is_err() {
            n += 1;
        }
        true
    });
    n
}

/// Whether `a` and `b` share an element that is not in `hidden` (sorted).
pub fn intersects_excluding(a: &[Node], b: &[Node], hidden: &[Node]) -> bool {
    let mut found = false;
    for_common(a, b, |x| {
        found = hidden.binary_search(&x).is_err();
        !found
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[Node], b: &[Node]) -> usize {
        a.iter().filter(|x| b.contains(x)).count()
    }

    #[test]
    fn merge_and_gallop_agree_with_the_naive_count() {
        let long: Vec<Node> = (0..5_000).map(|i| i * 3).collect();
        for short in [
            vec![],
            vec![0],
            vec![3, 4, 9, 14_997],
            vec![14_998, 20_000],
            (0..400).map(|i| i * 7).collect::<Vec<_>>(),
        ] {
            assert_eq!(
                count_common_excluding(&short, &long, &[]),
                naive(&short, &long),
                "{short:?}"
            );
            assert_eq!(
                intersects_excluding(&long, &short, &[]),
                naive(&short, &long) > 0
            );
        }
    }

    #[test]
    fn hidden_elements_are_neither_counted_nor_found() {
        let a = [1, 2, 3, 10];
        let b = [2, 3, 4, 10];
        assert_eq!(count_common_excluding(&a, &b, &[3]), 2);
        assert!(intersects_excluding(&a, &b, &[2, 3]));
        assert!(!intersects_excluding(&a, &b, &[2, 3, 10]));
    }
}
