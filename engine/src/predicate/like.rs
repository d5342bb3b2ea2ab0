//! SQL LIKE over bytes, as Postgres matches text.

/// Length of the UTF-8 character starting with byte `b` (1 for stray continuation bytes).
fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// SQL LIKE with the default escape `\`, as Postgres matches text: bytes compared
/// exactly, `_` consuming one whole character.
pub fn like(s: &[u8], p: &[u8]) -> bool {
    let (mut si, mut pi) = (0usize, 0usize);
    // Backtracking point: after the last `%`, and where in `s` it resumes.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'%' => {
                    pi += 1;
                    star = Some((pi, si));
                    continue;
                }
                b'_' => {
                    pi += 1;
                    si += char_len(s[si]).min(s.len() - si);
                    continue;
                }
                c => {
                    let (lit, step) = if c == b'\\' && pi + 1 < p.len() { (p[pi + 1], 2) } else { (c, 1) };
                    if s[si] == lit {
                        pi += step;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                let next = ss + char_len(s[ss]).min(s.len() - ss);
                star = Some((sp, next));
                pi = sp;
                si = next;
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'%' {
        pi += 1;
    }
    pi == p.len()
}
