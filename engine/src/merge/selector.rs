//! Which parts of a partition to merge next: ClickHouse's simple merge selector, size
//! tiered. Candidates are runs of adjacent parts (by block number); a run is allowed when
//! its parts are of similar size (its total is at least `base` times its largest part,
//! so a big part is not rewritten for a few small ones), and among allowed runs the one
//! whose bytes per part merged away is lowest wins: many small parts first. A partition's
//! lone insert part is merged alone once it is old enough: inserts encode fast, merges
//! with the full codec choice.

/// A part as the selector sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub bytes: u64,
    /// Seconds since the part was written.
    pub age_secs: u64,
    /// 0 for an insert's part (encoded fast), more for merged ones.
    pub level: u32,
}

#[derive(Clone, Debug)]
pub struct SelectorSettings {
    /// Merged parts stay below this many bytes.
    pub max_bytes_to_merge: u64,
    pub max_parts_to_merge_at_once: usize,
    /// Runs of tiny parts (single-row inserts) may hold up to this many parts while their
    /// total stays under `tiny_run_bytes`: each merge then catches up with a second of
    /// inserts instead of a fraction of one.
    pub max_tiny_parts_to_merge_at_once: usize,
    pub tiny_run_bytes: u64,
    /// How many times its largest part a run must weigh (ClickHouse's `base`, 5).
    pub base: f64,
    /// Each part counts this many bytes more, so tiny parts are not free to leave alone.
    pub fixed_cost_per_part: u64,
    /// Parts older than this lower `base` towards 1 (merge old leftovers anyway).
    pub min_age_to_lower_base: u64,
    pub max_age_to_lower_base: u64,
    /// Runs of at most `small_run_bytes` lower `base` faster, towards 2 (ClickHouse's
    /// floor) at this age: a load's few similar parts of a partition merge within a
    /// minute instead of an hour, while a big part is still not rewritten for a tiny one.
    pub max_age_to_lower_base_small: u64,
    pub small_run_bytes: u64,
    /// A partition with this many parts merges anything adjacent (base 1): the part
    /// count matters more than write amplification (`parts_to_delay_insert`).
    pub parts_to_lower_base: usize,
    /// A partition's only part, written by an insert (fast encoding) at least this long
    /// ago, is merged alone: re-encoded with the full codec choice.
    pub min_age_to_reencode: u64,
}

impl Default for SelectorSettings {
    fn default() -> Self {
        SelectorSettings {
            max_bytes_to_merge: 150 << 30,
            max_parts_to_merge_at_once: 100,
            max_tiny_parts_to_merge_at_once: 1000,
            tiny_run_bytes: 16 << 20,
            base: 5.0,
            fixed_cost_per_part: 5 << 20,
            min_age_to_lower_base: 10,
            max_age_to_lower_base: 3600,
            max_age_to_lower_base_small: 60,
            small_run_bytes: 1 << 30,
            parts_to_lower_base: 150,
            min_age_to_reencode: 30,
        }
    }
}

/// How many times the average of a run's other parts its largest part may weigh.
const MAX_SKEW: f64 = 16.0;

/// Linear interpolation of `v` from [lo, hi] onto [1, 0], clamped.
fn lowering(v: f64, lo: f64, hi: f64) -> f64 {
    if v <= lo {
        0.0
    } else if v >= hi {
        1.0
    } else {
        (v - lo) / (hi - lo)
    }
}

/// The run `[start, end)` of `parts` (one partition's, in block order) to merge next, or
/// None when no run of at least two parts is worth merging.
pub fn select(parts: &[Candidate], s: &SelectorSettings) -> Option<(usize, usize)> {
    let n = parts.len();
    // Many parts lower the bar for every run (base 1 at parts_to_lower_base).
    let by_count = lowering(n as f64, 1.0, s.parts_to_lower_base.max(2) as f64);
    let mut best: Option<(f64, usize, usize)> = None;
    for start in 0..n {
        let (mut sum, mut max, mut min_age) = (0u64, 0u64, u64::MAX);
        for end in start + 1..=n.min(start + s.max_parts_to_merge_at_once.max(s.max_tiny_parts_to_merge_at_once)) {
            let p = parts[end - 1];
            sum += p.bytes;
            max = max.max(p.bytes);
            min_age = min_age.min(p.age_secs);
            let count = end - start;
            if sum > s.max_bytes_to_merge || (count > s.max_parts_to_merge_at_once && sum > s.tiny_run_bytes) {
                break;
            }
            if count < 2 {
                continue;
            }
            let by_age = lowering(min_age as f64, s.min_age_to_lower_base as f64, s.max_age_to_lower_base as f64);
            let mut base = 1.0 + (s.base - 1.0) * (1.0 - by_age.max(by_count));
            if sum <= s.small_run_bytes {
                let soon = lowering(min_age as f64, s.min_age_to_lower_base as f64, s.max_age_to_lower_base_small as f64);
                // Runs of tiny parts fall to 1 (rewriting them costs nothing): at 2, two
                // tiny parts of unequal size (each weighing the fixed cost) stayed apart
                // for an hour.
                let floor = if sum <= s.tiny_run_bytes { 1.0 } else { 2.0 };
                base = base.min(s.base + (floor - s.base) * soon);
            }
            let fixed = s.fixed_cost_per_part as f64;
            let ratio = (sum as f64 + count as f64 * fixed) / (max as f64 + fixed);
            if ratio < base {
                continue;
            }
            // Tiers: while parts are young, a part far larger than the others of the run
            // (a merged part among fresh inserts) is not rewritten for them: with many
            // small inserts a second it would be rewritten by every merge.
            let others = (sum - max) as f64 / (count - 1) as f64;
            if by_age < 1.0 && max as f64 > MAX_SKEW * others.max(1.0) {
                continue;
            }
            let score = (sum as f64 + count as f64 * fixed) / (count as f64 - 1.9);
            if best.is_none_or(|(b, _, _)| score < b) {
                best = Some((score, start, end));
            }
        }
    }
    match (best, parts) {
        (Some((_, start, end)), _) => Some((start, end)),
        (None, [only]) if only.level == 0 && only.age_secs >= s.min_age_to_reencode && only.bytes <= s.max_bytes_to_merge => Some((0, 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(sizes: &[u64], age: u64) -> Vec<Candidate> {
        sizes.iter().map(|&bytes| Candidate { bytes, age_secs: age, level: 1 }).collect()
    }

    #[test]
    fn fresh_small_parts_wait_for_enough_of_them() {
        let s = SelectorSettings::default();
        // Two fresh tiny parts: the run weighs twice its largest part, under base 5.
        assert_eq!(select(&parts(&[1000, 1000], 0), &s), None);
        // Five or more: merged, all of them (the lowest bytes per part merged away).
        assert_eq!(select(&parts(&[1000; 6], 0), &s), Some((0, 6)));
    }

    #[test]
    fn tiny_parts_of_unequal_size_merge_within_a_minute() {
        let s = SelectorSettings::default();
        let pair = |age| vec![Candidate { bytes: 8192, age_secs: age, level: 3 }, Candidate { bytes: 4096, age_secs: age, level: 0 }];
        assert_eq!(select(&pair(0), &s), None);
        assert_eq!(select(&pair(60), &s), Some((0, 2)));
        // Not so a big part with a small one.
        let big = vec![Candidate { bytes: 512 << 20, age_secs: 60, level: 3 }, Candidate { bytes: 4096, age_secs: 60, level: 0 }];
        assert_eq!(select(&big, &s), None);
    }

    #[test]
    fn a_big_part_is_not_rewritten_for_small_ones() {
        let s = SelectorSettings::default();
        let p = parts(&[10 << 30, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20], 0);
        assert_eq!(select(&p, &s), Some((1, 6)));
    }

    #[test]
    fn old_parts_and_many_parts_lower_the_bar() {
        let s = SelectorSettings::default();
        assert_eq!(select(&parts(&[1000, 1000], 7200), &s), Some((0, 2)));
        assert!(select(&parts(&[1 << 30, 1 << 20], 0), &s).is_none());
        let many = parts(&vec![1 << 20; 150], 0);
        assert!(select(&many, &s).is_some_and(|(a, b)| b - a >= 2 && b - a <= 100));
    }

    #[test]
    fn a_lone_insert_part_is_reencoded_once_old_enough() {
        let s = SelectorSettings::default();
        let fresh = [Candidate { bytes: 1 << 20, age_secs: 5, level: 0 }];
        assert_eq!(select(&fresh, &s), None);
        let old = [Candidate { bytes: 1 << 20, age_secs: 60, level: 0 }];
        assert_eq!(select(&old, &s), Some((0, 1)));
        let merged = [Candidate { bytes: 1 << 20, age_secs: 60, level: 1 }];
        assert_eq!(select(&merged, &s), None);
    }

    #[test]
    fn small_inserts_merge_in_tiers() {
        let s = SelectorSettings::default();
        // A merged part among 200 fresh one-row parts: the fresh ones merge without it.
        let mut p = parts(&[3 << 20], 0);
        p.extend(parts(&[1000; 200], 0));
        let (a, b) = select(&p, &s).unwrap();
        assert!(a >= 1 && b - a >= 2);
        // Once old, anything adjacent goes.
        assert_eq!(select(&parts(&[3 << 20, 1000], 7200), &s), Some((0, 2)));
    }

    #[test]
    fn a_loads_few_similar_parts_merge_within_a_minute() {
        let s = SelectorSettings::default();
        // Four similar parts of a load: below base 5 while fresh, merged once a minute old.
        let four = parts(&[23 << 20, 23 << 20, 23 << 20, 5 << 20], 5);
        assert_eq!(select(&four, &s), None);
        assert_eq!(select(&parts(&[23 << 20, 23 << 20, 23 << 20, 5 << 20], 60), &s), Some((0, 4)));
        // A big part and a tiny one a minute old: still not worth rewriting the big one.
        assert_eq!(select(&parts(&[92 << 20, 1000], 60), &s), None);
        // Runs over small_run_bytes keep the hour-long window.
        assert_eq!(select(&parts(&[1 << 30, 1 << 30, 1 << 30], 60), &s), None);
    }

    #[test]
    fn tiny_parts_merge_by_the_hundreds() {
        let s = SelectorSettings::default();
        let (a, b) = select(&parts(&[300; 600], 0), &s).unwrap();
        assert!(b - a > 100, "{a}..{b}");
        // Bigger parts keep the limit of 100 a merge.
        let (a, b) = select(&parts(&[1 << 20; 300], 0), &s).unwrap();
        assert!(b - a <= 100, "{a}..{b}");
    }

    #[test]
    fn respects_the_size_limit_and_single_parts() {
        let s = SelectorSettings { max_bytes_to_merge: 3000, ..Default::default() };
        assert_eq!(select(&parts(&[1000], 7200), &s), None);
        assert_eq!(select(&parts(&[2000, 2000, 2000], 7200), &s), None);
        assert_eq!(select(&parts(&[1000, 1000, 5000], 7200), &s), Some((0, 2)));
    }
}
