//! Sets of input line numbers, kept as sorted half-open ranges.
//!
//! A dataset's journal says which lines each part file holds. Rows finish
//! nearly in input order, so a part's 65,536 lines collapse to a handful of
//! ranges (one more per slow domain that finished in a later part).

/// Line numbers as sorted, disjoint, non-adjacent `[start, end)` ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSet {
    ranges: Vec<(u64, u64)>,
}

impl LineSet {
    /// The set covering `ranges` (any order, overlaps allowed; empty ranges
    /// are ignored).
    pub fn from_ranges(mut ranges: Vec<(u64, u64)>) -> Self {
        ranges.retain(|(start, end)| start < end);
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        Self { ranges: merged }
    }

    /// The set of these line numbers (any order, repeats allowed).
    pub fn from_lines(lines: &[u64]) -> Self {
        Self::from_ranges(lines.iter().map(|&line| (line, line + 1)).collect())
    }

    /// Add every line of `other`.
    pub fn extend(&mut self, other: &LineSet) {
        let mut all = std::mem::take(&mut self.ranges);
        all.extend_from_slice(&other.ranges);
        *self = Self::from_ranges(all);
    }

    /// Whether `line` is in the set.
    pub fn contains(&self, line: u64) -> bool {
        let after = self.ranges.partition_point(|&(start, _)| start <= line);
        after > 0 && line < self.ranges[after - 1].1
    }

    /// Whether any line is in both sets.
    pub fn overlaps(&self, other: &LineSet) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            if a.0 < b.1 && b.0 < a.1 {
                return true;
            }
            if a.1 <= b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }

    /// Lines in the set.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(start, end)| end - start).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, sorted.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_collapse_to_ranges() {
        let set = LineSet::from_lines(&[5, 1, 2, 3, 9, 3, 10]);
        assert_eq!(set.ranges(), &[(1, 4), (5, 6), (9, 11)]);
        assert_eq!(set.len(), 6);
        for (line, inside) in
            [(0, false), (1, true), (3, true), (4, false), (5, true), (8, false), (10, true), (11, false)]
        {
            assert_eq!(set.contains(line), inside, "line {line}");
        }
    }

    #[test]
    fn ranges_merge_and_overlap() {
        let mut set = LineSet::from_ranges(vec![(10, 20), (1, 3), (3, 5), (7, 7)]);
        assert_eq!(set.ranges(), &[(1, 5), (10, 20)]);
        assert!(!set.overlaps(&LineSet::from_ranges(vec![(5, 10), (20, 30)])));
        assert!(set.overlaps(&LineSet::from_ranges(vec![(0, 2)])));
        assert!(set.overlaps(&LineSet::from_ranges(vec![(6, 8), (19, 21)])));
        set.extend(&LineSet::from_ranges(vec![(5, 10)]));
        assert_eq!(set.ranges(), &[(1, 20)]);
        assert!(LineSet::default().is_empty());
    }
}
