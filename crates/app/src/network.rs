//! The network as one member sees it: profiles with their relationship, mutual connections,
//! member search and people you may know. Degrees and mutual counts come from the graph index;
//! members hidden from the viewer (blocked either way) are never counted, listed, or a step of a
//! path, and members who are not active are not in the index at all.

use crate::views::{Member, MemberSummary, Page, Relationship};
use crate::{cursor, member_id, node, summary, App, AppResult, PageRequest};
use rapport_domain::{MemberId, RuleError};
use rapport_graph::{Degree, Node, Reach};
use rapport_store::{InvitationRecord, MemberRecord, SearchHit};
use std::collections::HashMap;
use std::sync::Arc;

/// The most members a text search ranks; its pages stop there.
const SEARCH_CANDIDATES: u32 = 1_000;
/// Past this many members in the degree a search is filtered by, the text search runs over
/// everyone and the degree is checked after.
const SEARCH_WITHIN_MAX: usize = 50_000;
/// Longest search text.
const QUERY_MAX_CHARS: usize = 100;
/// Words of a search beyond this are ignored.
const QUERY_MAX_WORDS: usize = 8;

/// A search text as a full-text query, each word a quoted prefix (so nothing in it is FTS syntax),
/// or `None` when it holds no word.
pub(crate) fn fts_query(q: &str) -> Result<Option<String>, RuleError> {
    if q.chars().count() > QUERY_MAX_CHARS {
        return Err(RuleError::validation(
            "q",
            "is longer than 100 characters; search with fewer words",
        ));
    }
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(QUERY_MAX_WORDS)
        // One letter as a prefix would match most of the network: it must match a whole word.
        .map(|w| {
            let star = if w.chars().count() > 1 { "*" } else { "" };
            format!("\"{}\"{star}", w.to_lowercase())
        })
        .collect();
    Ok((!words.is_empty()).then(|| words.join(" ")))
}

fn parse_degree(raw: Option<&str>) -> Result<Option<Degree>, RuleError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some("1") => Ok(Some(Degree::First)),
        Some("2") => Ok(Some(Degree::Second)),
        Some("3") => Ok(Some(Degree::Third)),
        Some(_) => Err(RuleError::validation("degree", "must be 1, 2 or 3")),
    }
}

fn nodes(ids: &[MemberId]) -> Vec<Node> {
    ids.iter().map(|&m| node(m)).collect()
}

/// A member found for a list, with what the list is ranked by.
#[derive(Debug, Clone, Copy)]
struct Found {
    member: MemberId,
    degree: Degree,
    mutual: u32,
}

/// Where a page of an offset-ranked list starts, and the cursor of the next one.
fn page_offset(page: &PageRequest) -> AppResult<usize> {
    Ok(cursor::before(page.cursor.as_deref())?.unwrap_or(0).max(0) as usize)
}

/// The items `from..to` of a list of `total` that a page from `offset` shows, and the cursor of
/// the page after it.
fn page_window(offset: usize, page: &PageRequest, total: usize) -> (usize, usize, Option<String>) {
    let end = (offset + page.limit() as usize).min(total);
    let next = (end < total).then(|| cursor::encode(&[end as i64]));
    (offset.min(total), end, next)
}

impl App {
    /// A member as `viewer` sees them; hidden and unknown members are both `not_found`.
    pub async fn member(&self, viewer: MemberId, id: &str) -> AppResult<Member> {
        let id: MemberId = id.parse().map_err(|_| RuleError::NotFound)?;
        let m = self.visible_member(viewer, id).await?;
        let relationship = self.relationship(viewer, id).await?;
        Ok(member_view(&m, relationship))
    }

    /// A member `viewer` may see: unknown, deactivated, suspended, closed and blocked (either way)
    /// members all read as not found, byte for byte.
    pub(crate) async fn visible_member(
        &self,
        viewer: MemberId,
        id: MemberId,
    ) -> AppResult<Arc<MemberRecord>> {
        let m = self
            .store()
            .member(id)
            .await?
            .filter(|m| m.is_active() || m.id == viewer);
        match m {
            Some(m) if m.id == viewer || !self.hidden(viewer).await?.contains(&id) => Ok(m),
            _ => Err(RuleError::NotFound.into()),
        }
    }

    /// Members hidden from `viewer` by a block either way, sorted.
    pub(crate) async fn hidden(&self, viewer: MemberId) -> AppResult<Vec<MemberId>> {
        let mut h = self.store().hidden_from(viewer).await?;
        h.sort_unstable();
        Ok(h)
    }

    /// Mutual connections of `viewer` with each of `others` (the cards of one page), as the
    /// viewer with `hidden` members may see them: the count, and up to `preview` of them.
    pub(crate) fn mutual_page(
        &self,
        hidden: &[MemberId],
        viewer: MemberId,
        others: &[MemberId],
        preview: usize,
    ) -> Vec<(u32, Vec<MemberId>)> {
        let hidden = nodes(hidden);
        let v = self.graph().view();
        let counts = v.mutual_counts(node(viewer), &nodes(others), &hidden);
        others
            .iter()
            .zip(counts)
            .map(|(&o, count)| {
                let shown = if count == 0 {
                    Vec::new()
                } else {
                    v.mutual(node(viewer), node(o), &hidden, 0, preview)
                        .into_iter()
                        .map(member_id)
                        .collect()
                };
                (count as u32, shown)
            })
            .collect()
    }

    pub(crate) async fn relationship(
        &self,
        viewer: MemberId,
        other: MemberId,
    ) -> AppResult<Relationship> {
        if viewer == other {
            return Ok(self_relationship());
        }
        let hidden = nodes(&self.hidden(viewer).await?);
        let (degree, mutual) = {
            let v = self.graph().view();
            (
                v.degree(node(viewer), node(other), &hidden),
                v.mutual_count(node(viewer), node(other), &hidden) as u32,
            )
        };
        let pending = self.store().pending_between(viewer, other).await?;
        Ok(relationship(viewer, degree, mutual, pending.as_ref()))
    }

    /// The degree of each of `others` (member ids as text) for `viewer`, from the index alone:
    /// for lists that already hold the members (cards of invitations). Unknown or hidden
    /// members read as out of network.
    pub async fn degrees(&self, viewer: MemberId, others: &[String]) -> AppResult<Vec<Option<u8>>> {
        let hidden = self.hidden(viewer).await?;
        let hidden_nodes = nodes(&hidden);
        let v = self.graph().view();
        Ok(others
            .iter()
            .map(|o| {
                let id: MemberId = o.parse().ok()?;
                if hidden.binary_search(&id).is_ok() {
                    return None;
                }
                v.degree(node(viewer), node(id), &hidden_nodes).as_number()
            })
            .collect())
    }

    /// The connections `viewer` and member `id` share, in id order, with their `total`.
    pub async fn mutual_connections(
        &self,
        viewer: MemberId,
        id: &str,
        page: PageRequest,
    ) -> AppResult<Page<MemberSummary>> {
        // The request itself first: a cursor that is not one is refused whoever it names.
        let offset = page_offset(&page)?;
        let id: MemberId = id.parse().map_err(|_| RuleError::NotFound)?;
        self.visible_member(viewer, id).await?;
        let hidden = nodes(&self.hidden(viewer).await?);
        let (total, ids, next_cursor) = {
            let v = self.graph().view();
            let total = v.mutual_count(node(viewer), node(id), &hidden);
            let (from, to, next) = page_window(offset, &page, total);
            let ids: Vec<MemberId> = v
                .mutual(node(viewer), node(id), &hidden, from, to - from)
                .into_iter()
                .map(member_id)
                .collect();
            (total, ids, next)
        };
        let by_id = self.members_by_id(&ids).await?;
        let items = ids
            .iter()
            .filter_map(|id| by_id.get(id).map(|m| summary(m)))
            .collect();
        Ok(Page {
            items,
            next_cursor,
            total: Some(total as u64),
        })
    }

    /// Member search over name, headline and company: members whose name matches first, then by
    /// degree (1st, 2nd, 3rd, out of network), then by mutual connections, then by how well the
    /// text matches. `degree` keeps one degree only; without words, a degree of 1 or 2 lists
    /// those members, most mutual connections first.
    pub async fn search(
        &self,
        viewer: MemberId,
        q: Option<&str>,
        degree: Option<&str>,
        page: PageRequest,
    ) -> AppResult<Page<Member>> {
        let query = fts_query(q.unwrap_or(""))?;
        let degree = parse_degree(degree)?;
        let hidden = self.hidden(viewer).await?;
        let hidden_nodes = nodes(&hidden);
        let reach = self.graph().view().reach(node(viewer), &hidden_nodes);
        let Some(query) = query else {
            let found: Vec<Found> =
                match degree {
                    Some(Degree::First) => {
                        let counts = self.graph().view().mutual_counts(
                            node(viewer),
                            &reach.first,
                            &hidden_nodes,
                        );
                        reach
                            .first
                            .iter()
                            .zip(counts)
                            .map(|(&n, mutual)| Found {
                                member: member_id(n),
                                degree: Degree::First,
                                mutual: mutual as u32,
                            })
                            .collect()
                    }
                    Some(Degree::Second) => second_degree(&reach, &[]),
                    _ if q.is_some_and(|q| !q.trim().is_empty()) => Vec::new(),
                    _ => return Err(RuleError::validation(
                        "q",
                        "give words to search for (or a degree of 1 or 2 to list those members)",
                    )
                    .into()),
                };
            return self.found_page(viewer, rank_by_mutual(found), page).await;
        };
        // With a 1st or 2nd degree filter, search only those members, so none is crowded out of
        // the ranked candidates by the rest of the network.
        let within: Option<Vec<MemberId>> = match degree {
            Some(Degree::First) => Some(reach.first.iter().map(|&n| member_id(n)).collect()),
            Some(Degree::Second) => Some(reach.second.iter().map(|&(n, _)| member_id(n)).collect()),
            _ => None,
        };
        let within = within.filter(|w| w.len() <= SEARCH_WITHIN_MAX);
        if within.as_ref().is_some_and(Vec::is_empty) {
            return self.found_page(viewer, Vec::new(), page).await;
        }
        let hits = match within {
            Some(within) => {
                self.store()
                    .search_members(query, Some(within), SEARCH_CANDIDATES)
                    .await?
            }
            None => self.search_everyone(query, &reach).await?,
        };
        let mut found: Vec<(bool, Found, f64)> = {
            let v = self.graph().view();
            hits.into_iter()
                .filter(|h| h.member != viewer && hidden.binary_search(&h.member).is_err())
                .map(|h| {
                    let n = node(h.member);
                    let d = v.degree_within(&reach, node(viewer), n, &hidden_nodes);
                    let mutual = match d {
                        Degree::Second => reach.mutual_count(n),
                        Degree::First => v.mutual_count(node(viewer), n, &hidden_nodes) as u32,
                        _ => 0,
                    };
                    let found = Found {
                        member: h.member,
                        degree: d,
                        mutual,
                    };
                    (h.in_name, found, h.rank)
                })
                .filter(|(_, f, _)| degree.is_none_or(|want| f.degree == want))
                .collect()
        };
        found.sort_by(|(an, a, ar), (bn, b, br)| {
            bn.cmp(an)
                .then(a.degree.cmp(&b.degree))
                .then(b.mutual.cmp(&a.mutual))
                .then(ar.total_cmp(br))
                .then(a.member.cmp(&b.member))
        });
        let found = found.into_iter().map(|(_, f, _)| f).collect();
        self.found_page(viewer, found, page).await
    }

    /// Candidates for a search of the whole network. Ranking every match costs a bm25 score each,
    /// which for a word a large share of the network has (a common surname, a big company) is
    /// hundreds of milliseconds. So: when at most [`SEARCH_CANDIDATES`] members match, rank them
    /// all; when more do, rank only those within the viewer's 1st and 2nd degree (who rank first
    /// anyway, after name matches) and add the first others in id order, unranked.
    async fn search_everyone(&self, query: String, reach: &Reach) -> AppResult<Vec<SearchHit>> {
        let store = self.store();
        let mut first = store
            .search_members_unranked(query.clone(), SEARCH_CANDIDATES + 1)
            .await?;
        if first.len() <= SEARCH_CANDIDATES as usize {
            return Ok(store.search_members(query, None, SEARCH_CANDIDATES).await?);
        }
        first.truncate(SEARCH_CANDIDATES as usize);
        let near: Vec<MemberId> = reach
            .first
            .iter()
            .copied()
            .chain(reach.second.iter().map(|&(n, _)| n))
            .take(SEARCH_WITHIN_MAX)
            .map(member_id)
            .collect();
        let mut hits = if near.is_empty() {
            Vec::new()
        } else {
            store
                .search_members(query, Some(near), SEARCH_CANDIDATES)
                .await?
        };
        let mut seen: Vec<MemberId> = hits.iter().map(|h| h.member).collect();
        seen.sort_unstable();
        hits.extend(
            first
                .into_iter()
                .filter(|h| seen.binary_search(&h.member).is_err()),
        );
        Ok(hits)
    }

    /// People you may know: 2nd-degree members, most mutual connections first, leaving out anyone
    /// with a pending invitation either way or an invitation ignored with a reason either way.
    pub async fn suggestions(
        &self,
        viewer: MemberId,
        page: PageRequest,
    ) -> AppResult<Page<Member>> {
        let hidden = nodes(&self.hidden(viewer).await?);
        let mut skip = self.store().not_to_suggest(viewer).await?;
        skip.sort_unstable();
        let reach = self.graph().view().reach(node(viewer), &hidden);
        let found = rank_by_mutual(second_degree(&reach, &skip));
        self.found_page(viewer, found, page).await
    }

    /// One page of a ranked list, as members with their relationship to `viewer`.
    async fn found_page(
        &self,
        viewer: MemberId,
        found: Vec<Found>,
        page: PageRequest,
    ) -> AppResult<Page<Member>> {
        let (from, to, next_cursor) = page_window(page_offset(&page)?, &page, found.len());
        let found = &found[from..to];
        let ids: Vec<MemberId> = found.iter().map(|f| f.member).collect();
        let by_id = self.members_by_id(&ids).await?;
        let pending: HashMap<MemberId, InvitationRecord> = self
            .store()
            .pending_with(viewer, ids)
            .await?
            .into_iter()
            .map(|i| {
                (
                    if i.sender == viewer {
                        i.recipient
                    } else {
                        i.sender
                    },
                    i,
                )
            })
            .collect();
        let items = found
            .iter()
            .filter_map(|f| {
                let m = by_id.get(&f.member).filter(|m| m.is_active())?;
                let rel = relationship(viewer, f.degree, f.mutual, pending.get(&f.member));
                Some(member_view(m, rel))
            })
            .collect();
        Ok(Page {
            items,
            next_cursor,
            total: None,
        })
    }

    /// Rebuilds the graph index from the store and compares it with the live one: how many
    /// connections the store holds, and whether the index agrees on every one of them.
    pub async fn verify_graph(&self) -> AppResult<GraphCheck> {
        let fresh = crate::load_graph(self.store()).await?.edges();
        let live = self.graph().edges();
        Ok(GraphCheck {
            connections: fresh.len(),
            agrees: fresh == live,
        })
    }

    pub(crate) async fn members_by_id(
        &self,
        ids: &[MemberId],
    ) -> AppResult<HashMap<MemberId, Arc<MemberRecord>>> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        Ok(self
            .store()
            .members(&sorted)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect())
    }
}

/// What [`App::verify_graph`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphCheck {
    pub connections: usize,
    pub agrees: bool,
}

/// The 2nd-degree members of `reach`, without those in `skip` (sorted).
fn second_degree(reach: &Reach, skip: &[MemberId]) -> Vec<Found> {
    reach
        .second
        .iter()
        .filter(|&&(n, _)| skip.binary_search(&member_id(n)).is_err())
        .map(|&(n, mutual)| Found {
            member: member_id(n),
            degree: Degree::Second,
            mutual,
        })
        .collect()
}

fn rank_by_mutual(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_by(|a, b| b.mutual.cmp(&a.mutual).then(a.member.cmp(&b.member)));
    found
}

fn self_relationship() -> Relationship {
    Relationship {
        state: "self",
        degree: None,
        mutual_connections: 0,
        invitation_id: None,
    }
}

fn relationship(
    viewer: MemberId,
    degree: Degree,
    mutual_connections: u32,
    pending: Option<&InvitationRecord>,
) -> Relationship {
    let (state, invitation_id) = match (degree, pending) {
        (Degree::First, _) => ("connected", None),
        (_, Some(p)) if p.sender == viewer => ("invitation_sent", Some(p.id.to_string())),
        (_, Some(p)) => ("invitation_received", Some(p.id.to_string())),
        (_, None) => ("none", None),
    };
    Relationship {
        state,
        degree: degree.as_number(),
        mutual_connections,
        invitation_id,
    }
}

fn member_view(m: &MemberRecord, relationship: Relationship) -> Member {
    Member {
        id: m.id.to_string(),
        name: m.name.clone(),
        headline: m.headline.clone(),
        company: m.company.clone(),
        location: m.location.clone(),
        relationship,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_quoted_prefixes_and_nothing_else() {
        assert_eq!(
            fts_query("Ada  lovelace").expect("ok").as_deref(),
            Some("\"ada\"* \"lovelace\"*")
        );
        // FTS syntax in the text is only punctuation between words.
        assert_eq!(
            fts_query("NEAR(\"x\" OR y*) -z").expect("ok").as_deref(),
            Some("\"near\"* \"x\" \"or\"* \"y\" \"z\"")
        );
        assert_eq!(fts_query("  !! ").expect("ok"), None);
        assert_eq!(
            fts_query("J Smith").expect("ok").as_deref(),
            Some("\"j\" \"smith\"*")
        );
        assert!(fts_query(&"a".repeat(101)).is_err());
    }

    #[test]
    fn degrees_parse_as_one_two_or_three() {
        assert_eq!(parse_degree(Some("2")), Ok(Some(Degree::Second)));
        assert_eq!(parse_degree(None), Ok(None));
        assert!(parse_degree(Some("4")).is_err());
        assert!(parse_degree(Some("first")).is_err());
    }
}
