//! A synthetic professional network that looks like a real one: members with plausible names,
//! titles, companies and cities; connection counts that follow a power law (most members have a
//! few dozen, a few have thousands); and connections clustered by company and by city, so that
//! mutual connections and 2nd-degree neighbourhoods look like those of a real network.
//!
//! Everything is drawn from one seeded generator, so a seed gives the same network every time.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The connection cap of PRODUCT.md: nobody has more.
pub const MAX_CONNECTIONS: usize = 30_000;

const FIRST: &[&str] = &[
    "Ada",
    "Adrian",
    "Aisha",
    "Alan",
    "Alba",
    "Alex",
    "Amara",
    "Amir",
    "Ana",
    "Andrea",
    "Anton",
    "Aria",
    "Arjun",
    "Ava",
    "Ben",
    "Bianca",
    "Boris",
    "Camila",
    "Carlos",
    "Chen",
    "Chloe",
    "Clara",
    "Daniel",
    "Daria",
    "David",
    "Deepa",
    "Diego",
    "Elena",
    "Eli",
    "Emma",
    "Erik",
    "Ethan",
    "Eva",
    "Fatima",
    "Felix",
    "Freya",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Hugo",
    "Ibrahim",
    "Ines",
    "Isaac",
    "Ivan",
    "Jade",
    "James",
    "Javier",
    "Jin",
    "Jonas",
    "Julia",
    "Kai",
    "Karim",
    "Kenji",
    "Lara",
    "Leo",
    "Lina",
    "Lucas",
    "Lucia",
    "Maya",
    "Mateo",
    "Mei",
    "Mia",
    "Mohammed",
    "Nadia",
    "Naomi",
    "Nico",
    "Nina",
    "Noah",
    "Olga",
    "Omar",
    "Oscar",
    "Priya",
    "Rafael",
    "Rania",
    "Ravi",
    "Rosa",
    "Ruth",
    "Sami",
    "Sara",
    "Sofia",
    "Stefan",
    "Tara",
    "Theo",
    "Tomas",
    "Uma",
    "Valentina",
    "Victor",
    "Wei",
    "Yara",
    "Yusuf",
    "Zara",
    "Zoe",
];

const LAST: &[&str] = &[
    "Abe",
    "Adeyemi",
    "Ali",
    "Andersen",
    "Bauer",
    "Becker",
    "Bianchi",
    "Brown",
    "Castro",
    "Chen",
    "Costa",
    "Cruz",
    "Dubois",
    "Eriksson",
    "Fernandez",
    "Fischer",
    "Garcia",
    "Gomez",
    "Gupta",
    "Haddad",
    "Hansen",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Johnson",
    "Kaur",
    "Khan",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Laurent",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Perez",
    "Petrov",
    "Rossi",
    "Russo",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Torres",
    "Virtanen",
    "Wagner",
    "Walker",
    "Wang",
    "Weber",
    "Williams",
    "Wilson",
    "Wong",
    "Yamada",
    "Yilmaz",
    "Zhang",
];

const TITLES: &[&str] = &[
    "Software Engineer",
    "Senior Software Engineer",
    "Staff Engineer",
    "Engineering Manager",
    "Product Manager",
    "Product Designer",
    "Data Scientist",
    "Data Engineer",
    "Site Reliability Engineer",
    "Security Engineer",
    "Sales Director",
    "Account Executive",
    "Marketing Manager",
    "Recruiter",
    "HR Business Partner",
    "Financial Analyst",
    "Controller",
    "Chief Executive Officer",
    "Chief Technology Officer",
    "Founder",
    "Consultant",
    "Research Scientist",
    "Operations Manager",
    "Customer Success Manager",
    "Solutions Architect",
    "UX Researcher",
    "Legal Counsel",
    "Analyst",
];

const COMPANY_HEADS: &[&str] = &[
    "Acme", "Apex", "Atlas", "Beacon", "Blue", "Bright", "Cedar", "Cobalt", "Crest", "Delta",
    "Echo", "Ember", "Falcon", "Fjord", "Granite", "Harbor", "Helix", "Indigo", "Iron", "Juniper",
    "Kestrel", "Lumen", "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Orbit", "Pioneer",
    "Quartz", "Raven", "Ridge", "Sable", "Summit", "Tidal", "Vertex", "Willow", "Zenith",
];

const COMPANY_TAILS: &[&str] = &[
    "Labs",
    "Systems",
    "Works",
    "Analytics",
    "Health",
    "Bank",
    "Logistics",
    "Energy",
    "Robotics",
    "Software",
    "Capital",
    "Media",
    "Foods",
    "Retail",
    "Consulting",
    "Networks",
    "Insurance",
    "Pharma",
    "Motors",
    "Studios",
];

const CITIES: &[&str] = &[
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Lisbon",
    "Amsterdam",
    "Dublin",
    "Stockholm",
    "Oslo",
    "Copenhagen",
    "Helsinki",
    "Warsaw",
    "Prague",
    "Vienna",
    "Zurich",
    "Milan",
    "Rome",
    "Barcelona",
    "Munich",
    "Hamburg",
    "New York",
    "San Francisco",
    "Seattle",
    "Austin",
    "Boston",
    "Chicago",
    "Toronto",
    "Vancouver",
    "Montreal",
    "Mexico City",
    "Sao Paulo",
    "Buenos Aires",
    "Bogota",
    "Lagos",
    "Nairobi",
    "Cape Town",
    "Cairo",
    "Dubai",
    "Istanbul",
    "Tel Aviv",
    "Mumbai",
    "Bangalore",
    "Delhi",
    "Singapore",
    "Jakarta",
    "Manila",
    "Tokyo",
    "Seoul",
    "Shanghai",
    "Sydney",
    "Melbourne",
    "Auckland",
];

/// One member's profile, as indices into the word lists (names are made when written).
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    first: u16,
    last: u16,
    title: u16,
    pub company: u32,
    pub city: u16,
}

impl Profile {
    pub fn name(&self) -> String {
        format!(
            "{} {}",
            FIRST[self.first as usize], LAST[self.last as usize]
        )
    }

    pub fn headline(&self) -> String {
        format!(
            "{} at {}",
            TITLES[self.title as usize],
            company_name(self.company)
        )
    }

    pub fn company(&self) -> String {
        company_name(self.company)
    }

    pub fn location(&self) -> &'static str {
        CITIES[self.city as usize]
    }
}

/// Company `i`'s name: the first thousand or so are two words, later ones get a number as well.
fn company_name(i: u32) -> String {
    let (h, t) = (COMPANY_HEADS.len() as u32, COMPANY_TAILS.len() as u32);
    let (head, tail, round) = (i % h, (i / h) % t, i / (h * t));
    let base = format!(
        "{} {}",
        COMPANY_HEADS[head as usize], COMPANY_TAILS[tail as usize]
    );
    if round == 0 {
        base
    } else {
        format!("{base} {}", round + 1)
    }
}

/// A generated network. Member `i` (from 0) is node `i`; connections are in compressed sparse
/// row form, both directions, each list sorted.
pub struct Network {
    pub profiles: Vec<Profile>,
    pub offsets: Vec<u64>,
    pub targets: Vec<u32>,
    /// Pending invitations `(sender, recipient)` between members who are not connected.
    pub pending: Vec<(u32, u32)>,
}

impl Network {
    pub fn members(&self) -> usize {
        self.profiles.len()
    }

    pub fn neighbours(&self, n: u32) -> &[u32] {
        let i = n as usize;
        &self.targets[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub fn directed_edges(&self) -> usize {
        self.targets.len()
    }

    pub fn max_degree(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }
}

/// Draws a network of `members` with about `avg` connections each. `progress` is told how many
/// members' connections have been drawn so far.
pub fn generate(members: usize, avg: usize, seed: u64, progress: &mut dyn FnMut(u64)) -> Network {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = members;
    let companies = (n / 40).max(1) as u32;
    let profiles: Vec<Profile> = (0..n)
        .map(|_| {
            // Squared and cubed uniforms: a few large companies and big cities, a long tail.
            let u: f64 = rng.gen();
            let c: f64 = rng.gen();
            Profile {
                first: rng.gen_range(0..FIRST.len()) as u16,
                last: rng.gen_range(0..LAST.len()) as u16,
                title: rng.gen_range(0..TITLES.len()) as u16,
                company: ((u * u) * f64::from(companies)) as u32,
                city: ((c * c * c) * CITIES.len() as f64) as u16,
            }
        })
        .collect();

    // Power-law targets (Pareto, exponent 2.5, so the mean is three times the minimum).
    let cap = MAX_CONNECTIONS.min(n.saturating_sub(1)).max(1);
    let min_degree = (avg as f64 / 3.0).max(1.0);
    let targets: Vec<u32> = (0..n)
        .map(|_| {
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            ((min_degree / u.powf(1.0 / 1.5)) as usize).min(cap) as u32
        })
        .collect();
    // Picking "anyone" favours members with many connections (preferential attachment).
    let mut cumulative = Vec::with_capacity(n);
    let mut sum = 0u64;
    for &t in &targets {
        sum += u64::from(t);
        cumulative.push(sum);
    }
    let by_company = group(&profiles, |p| p.company as usize, companies as usize);
    let by_city = group(&profiles, |p| p.city as usize, CITIES.len());

    let mut pairs: Vec<u64> = Vec::with_capacity(n * avg / 2 + n);
    for (i, p) in profiles.iter().enumerate() {
        // Each member draws a share of its connections and is drawn by others for the rest; the
        // share is set so the average lands near `avg` after repeats are dropped.
        let make = (f64::from(targets[i]) * 0.6).ceil() as usize;
        for _ in 0..make {
            let r: f64 = rng.gen();
            let j = if r < 0.45 {
                pick(&mut rng, &by_company[p.company as usize])
            } else if r < 0.65 {
                pick(&mut rng, &by_city[p.city as usize])
            } else {
                let x = rng.gen_range(0..sum.max(1));
                cumulative.partition_point(|&c| c <= x).min(n - 1) as u32
            };
            let (a, b) = (i as u32, j);
            if a != b {
                pairs.push((u64::from(a.min(b)) << 32) | u64::from(a.max(b)));
            }
        }
        if i % 4096 == 0 {
            progress(i as u64);
        }
    }
    progress(n as u64);
    pairs.sort_unstable();
    pairs.dedup();

    // Both directions, each list sorted: for a member, edges from smaller members arrive first
    // (in order), then its own (in order), because `pairs` is sorted by the smaller end.
    let mut degree = vec![0u64; n + 1];
    for &p in &pairs {
        degree[(p >> 32) as usize] += 1;
        degree[(p & 0xFFFF_FFFF) as usize] += 1;
    }
    let mut offsets = Vec::with_capacity(n + 1);
    let mut total = 0u64;
    offsets.push(0);
    for d in &degree[..n] {
        total += d;
        offsets.push(total);
    }
    let mut fill: Vec<u64> = offsets[..n].to_vec();
    let mut targets_out = vec![0u32; total as usize];
    for &p in &pairs {
        let (a, b) = ((p >> 32) as usize, (p & 0xFFFF_FFFF) as usize);
        targets_out[fill[a] as usize] = b as u32;
        fill[a] += 1;
        targets_out[fill[b] as usize] = a as u32;
        fill[b] += 1;
    }
    drop(pairs);
    let mut net = Network {
        profiles,
        offsets,
        targets: targets_out,
        pending: Vec::new(),
    };
    net.pending = pending_invitations(&net, &mut rng);
    net
}

/// About one pending invitation per twenty members, mostly to someone 2 steps away.
fn pending_invitations(net: &Network, rng: &mut StdRng) -> Vec<(u32, u32)> {
    let n = net.members() as u32;
    if n < 2 {
        return Vec::new();
    }
    let mut out: Vec<(u32, u32)> = Vec::new();
    for _ in 0..(n / 20).max(1) {
        let from = rng.gen_range(0..n);
        let via = net.neighbours(from);
        let to = match via {
            [] => rng.gen_range(0..n),
            _ => {
                let x = via[rng.gen_range(0..via.len())];
                let next = net.neighbours(x);
                next[rng.gen_range(0..next.len())]
            }
        };
        if to == from || net.neighbours(from).binary_search(&to).is_ok() {
            continue;
        }
        out.push((from, to));
    }
    // At most one pending invitation per pair, whoever sent it.
    let key = |&(a, b): &(u32, u32)| (u64::from(a.min(b)) << 32) | u64::from(a.max(b));
    out.sort_by_key(key);
    out.dedup_by_key(|p| key(p));
    out
}

fn group(profiles: &[Profile], key: impl Fn(&Profile) -> usize, groups: usize) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); groups];
    for (i, p) in profiles.iter().enumerate() {
        out[key(p)].push(i as u32);
    }
    out
}

fn pick(rng: &mut StdRng, list: &[u32]) -> u32 {
    list[rng.gen_range(0..list.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_network() {
        let a = generate(2_000, 20, 7, &mut |_| {});
        let b = generate(2_000, 20, 7, &mut |_| {});
        let c = generate(2_000, 20, 8, &mut |_| {});
        assert_eq!(a.targets, b.targets);
        assert_eq!(a.pending, b.pending);
        assert_ne!(a.targets, c.targets);
        assert_eq!(a.profiles[17].name(), b.profiles[17].name());
    }

    #[test]
    fn the_network_is_symmetric_sorted_and_about_the_asked_size() {
        let net = generate(5_000, 30, 1, &mut |_| {});
        for n in 0..net.members() as u32 {
            let list = net.neighbours(n);
            assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
            assert!(!list.contains(&n), "no self connection");
            for &m in list {
                assert!(net.neighbours(m).binary_search(&n).is_ok(), "symmetric");
            }
        }
        let avg = net.directed_edges() as f64 / net.members() as f64;
        assert!((20.0..45.0).contains(&avg), "average {avg}");
        assert!(net.max_degree() > 150, "a power law has hubs");
        for &(a, b) in &net.pending {
            assert!(net.neighbours(a).binary_search(&b).is_err());
        }
    }
}
