//! Small stand-ins for standard routines whose general versions cost kilobytes of WebAssembly
//! (the standard sorts are about 10 kB; `copy_from_slice` pulls in panic formatting).

/// Sorts by key, stable; insertion sort, for the short lists the agent sorts (≤ 64 entries).
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 {
            let (Some(a), Some(b)) = (v.get(j - 1), v.get(j)) else { break };
            if key(a) <= key(b) {
                break;
            }
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Copies `src` into the start of `dst` (as much as fits).
pub fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    #[test]
    fn sorts_stably() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (0, 'd'), (1, 'e')];
        super::sort_by_key(&mut v, |p| p.0);
        assert_eq!(v, vec![(0, 'd'), (1, 'b'), (1, 'e'), (3, 'a'), (3, 'c')]);
    }
}
