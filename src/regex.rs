//! The regular expressions of `cleanup` patterns: a small Pike VM, linear in the text length.
//!
//! The engine is the crate's own so that both sides run the same dialect, and so the WASM
//! build stays small (a general regex crate costs about 20 kB compressed). Its dialect is a
//! subset of the `regex` crate's, with the same leftmost-first match semantics; a
//! differential test (`tests/regex_diff.rs`) holds it to `regex-lite` on random patterns.
//!
//! Supported: literals; `.` (any character but `\n`); classes `[a-z_]`, `[^…]`; `\d \w \s`
//! and their negations `\D \W \S` (ASCII, in and out of classes); escapes `\t \n \r \f \v`
//! and any escaped ASCII punctuation; `^` and `$` (start and end of the text); `\b \B`
//! (ASCII word boundaries); groups `(…)` and `(?:…)`; alternation `|`; repetition `* + ?`
//! `{n}` `{n,}` `{n,m}` (n, m ≤ 1000), greedy or lazy (`*?`); `(?i)` at the very start of the
//! pattern for ASCII case-insensitive matching.
//!
//! Not supported (an error at config load, never a silent difference): other flags, named
//! groups, look-around, back-references, Unicode classes (`\p{…}`), nested classes and class
//! set operations, `\x`/`\u` escapes.

use crate::prelude::*;
/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    prog: Vec<Inst>,
    /// The ranges of every class, each class a run of them.
    ranges: Vec<(char, char)>,
    /// Capture groups, counting group 0 (the whole match).
    groups: usize,
}

/// Why a pattern was refused, and the byte offset where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset into the pattern.
    pub offset: usize,
    /// What was wrong.
    pub message: &'static str,
}

/// Repetition counts above this are refused.
pub const MAX_REPEAT: u32 = 1000;
/// Programs longer than this are refused (a bound on memory and time per character).
pub const MAX_INSTRUCTIONS: usize = 20_000;
/// Groups nested deeper than this are refused.
pub const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Look {
    Start,
    End,
    Word,
    NotWord,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Inst {
    Char(char),
    /// A character in `ranges[start..end]` (not in them when negated).
    Class(usize, usize, bool),
    Any,
    Split(usize, usize),
    Jmp(usize),
    Save(usize),
    Assert(Look),
    Match,
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
const SPACE: &[(char, char)] = &[('\t', '\r'), (' ', ' ')];
// Their complements (`\D \W \S`), written out so that negated shorthands inside brackets are
// plain ranges too.
const NOT_DIGIT: &[(char, char)] = &[('\0', '/'), (':', char::MAX)];
const NOT_WORD: &[(char, char)] = &[('\0', '/'), (':', '@'), ('[', '^'), ('`', '`'), ('{', char::MAX)];
const NOT_SPACE: &[(char, char)] = &[('\0', '\u{8}'), ('\u{e}', '\u{1f}'), ('!', char::MAX)];

/// Whether `code` (taken from index `from`) can run to its end without taking a character.
fn matches_empty(code: &[Inst], from: usize) -> bool {
    // 1 once followed (`usize`, the element type the VM's vectors already have).
    let mut seen = vec![0usize; code.len()];
    let mut todo = vec![0usize];
    while let Some(i) = todo.pop() {
        let (Some(inst), Some(seen)) = (code.get(i), seen.get_mut(i)) else { return true };
        if core::mem::replace(seen, 1) == 1 {
            continue;
        }
        match *inst {
            Inst::Split(a, b) => {
                todo.push(a.wrapping_sub(from));
                todo.push(b.wrapping_sub(from));
            }
            Inst::Jmp(t) => todo.push(t.wrapping_sub(from)),
            Inst::Save(_) | Inst::Assert(_) => todo.push(i + 1),
            _ => {}
        }
    }
    false
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Adds the other ASCII case of every letter in the ranges from `start` on.
fn fold_ascii(ranges: &mut Vec<(char, char)>, start: usize) {
    for k in start..ranges.len() {
        let Some(&(a, b)) = ranges.get(k) else { break };
        for (lo, hi, other) in [('a', 'z', b'A'), ('A', 'Z', b'a')] {
            let (s, e) = (a.max(lo), b.min(hi));
            if s <= e {
                // Both ends are ASCII letters of one case: move them to the other.
                let shift = |c: char| char::from(other + (c as u8 - lo as u8));
                ranges.push((shift(s), shift(e)));
            }
        }
    }
}

/// Parses a pattern and compiles it in the same pass: each atom's instructions are emitted as
/// it is read, and a repetition takes them back and emits the copies it needs.
struct Parser<'a> {
    pattern: &'a str,
    /// Byte offset of the next character (past the end after reading beyond it).
    i: usize,
    groups: usize,
    fold: bool,
    prog: Vec<Inst>,
    ranges: Vec<(char, char)>,
    /// An instruction was refused because the program reached [`MAX_INSTRUCTIONS`]; reported
    /// after parsing, so that syntax errors come first.
    too_large: bool,
}

impl Parser<'_> {
    #[inline(never)]
    fn err(&self, message: &'static str) -> Error {
        Error { offset: self.i.min(self.pattern.len()), message }
    }

    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    /// The character `k` bytes ahead (the characters skipped must be ASCII).
    fn peek_at(&self, k: usize) -> Option<char> {
        self.pattern.get(self.i + k..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.i += c.map_or(1, char::len_utf8);
        c
    }

    /// Appends an instruction and returns its index; past the size limit it is dropped and
    /// `too_large` set.
    fn emit(&mut self, inst: Inst) -> usize {
        let at = self.prog.len();
        if at >= MAX_INSTRUCTIONS {
            self.too_large = true;
        } else {
            self.prog.push(inst);
        }
        at
    }

    fn patch(&mut self, at: usize, inst: Inst) {
        if let (false, Some(slot)) = (self.too_large, self.prog.get_mut(at)) {
            *slot = inst;
        }
    }

    /// Removes and returns the instructions from `start` on.
    fn take(&mut self, start: usize) -> Vec<Inst> {
        let code = self.prog.get(start..).unwrap_or_default().to_vec();
        self.prog.truncate(start);
        code
    }

    /// Emits `code`, taken from index `from`, with its jump targets moved to where it lands.
    fn copy(&mut self, code: &[Inst], from: usize) {
        let to = self.prog.len();
        let moved = |t: usize| t - from + to;
        for inst in code {
            if self.too_large {
                break;
            }
            self.emit(match *inst {
                Inst::Split(a, b) => Inst::Split(moved(a), moved(b)),
                Inst::Jmp(t) => Inst::Jmp(moved(t)),
                other => other,
            });
        }
    }

    fn alt(&mut self, depth: usize) -> Result<(), Error> {
        // split L1, next; L1: a; jmp end; next: split L2, …; last branch.
        let mut jumps = Vec::new();
        loop {
            let start = self.prog.len();
            self.concat(depth)?;
            if self.peek() != Some('|') {
                break;
            }
            self.i += 1;
            let branch = self.take(start);
            let split = self.emit(Inst::Split(0, 0));
            self.copy(&branch, start);
            jumps.push(self.emit(Inst::Jmp(0)));
            let next = self.prog.len();
            self.patch(split, Inst::Split(split + 1, next));
        }
        let end = self.prog.len();
        for j in jumps {
            self.patch(j, Inst::Jmp(end));
        }
        Ok(())
    }

    fn concat(&mut self, depth: usize) -> Result<(), Error> {
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let (start, too_large) = (self.prog.len(), self.too_large);
            let look = self.atom(depth)?;
            if self.repeat(start, look)? == Some(0) {
                // `x{0}`: the atom, and any overflow in it, are gone.
                self.too_large = too_large;
            }
        }
        Ok(())
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            n = n.saturating_mul(10).saturating_add(d);
            self.i += 1;
        }
        (self.i > start).then_some(n)
    }

    /// Reads the repetition after the atom compiled from `start` on, if any, and compiles it;
    /// `look` says the atom is an assertion, which cannot repeat. Returns the maximum count.
    fn repeat(&mut self, start: usize, look: bool) -> Result<Option<u32>, Error> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => {
                let at = self.i;
                self.i += 1;
                let min = self.number().ok_or_else(|| self.err("expected a number after '{'"))?;
                let max = if self.peek() == Some(',') {
                    self.i += 1;
                    self.number()
                } else {
                    Some(min)
                };
                if self.peek() != Some('}') {
                    return Err(self.err("unclosed counted repetition"));
                }
                if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
                    self.i = at;
                    return Err(self.err("repetition count above 1000"));
                }
                if max.is_some_and(|m| m < min) {
                    self.i = at;
                    return Err(self.err("invalid repetition range (max below min)"));
                }
                (min, max)
            }
            _ => return Ok(None),
        };
        if look {
            return Err(self.err("repetition of nothing"));
        }
        self.i += 1;
        let greedy = if self.peek() == Some('?') {
            self.i += 1;
            false
        } else {
            true
        };
        if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
            return Err(self.err("repetition of a repetition (use a group)"));
        }
        let order = |a: usize, b: usize| if greedy { Inst::Split(a, b) } else { Inst::Split(b, a) };
        let atom = self.take(start);
        if max.is_none() && min == 0 && !matches_empty(&atom, start) {
            // `x*`: one split that x loops back to. Re-entering the loop (from an outer
            // repetition) then meets the split already followed at that position, as in the
            // regex crate, so the thread already inside x keeps its captures.
            let split = self.emit(Inst::Split(0, 0));
            self.copy(&atom, start);
            self.emit(Inst::Jmp(split));
            let out = self.prog.len();
            self.patch(split, order(split + 1, out));
            return Ok(None);
        }
        // n copies of x, then the optional ones, each after a split that skips to the end: m-n
        // for `x{n,m}`, none for `x{n,}`, whose last copy loops back as `x+`, and one for an x
        // that can match the empty string under `*`: `(x+)?`, a loop back to the start of its
        // body, keeps leftmost-first preference right (rust-lang/regex#779).
        let optional = max.map_or(u32::from(min == 0), |m| m - min);
        let mut splits = Vec::new();
        let mut body = self.prog.len();
        for k in 0..min + optional {
            if k >= min {
                splits.push(self.emit(Inst::Split(0, 0)));
            }
            body = self.prog.len();
            self.copy(&atom, start);
        }
        if max.is_none() {
            let plus = self.emit(Inst::Split(0, 0));
            self.patch(plus, order(body, plus + 1));
        }
        let out = self.prog.len();
        for s in splits {
            self.patch(s, order(s + 1, out));
        }
        Ok(max)
    }

    /// Emits the class of the ranges pushed from `start` on, with their other ASCII case under
    /// `(?i)` (the shorthand classes already hold both cases or none).
    fn class_inst(&mut self, start: usize, negated: bool) {
        if self.fold {
            fold_ascii(&mut self.ranges, start);
        }
        self.emit(Inst::Class(start, self.ranges.len(), negated));
    }

    fn char_inst(&mut self, c: char) {
        if self.fold && c.is_ascii_alphabetic() {
            let start = self.ranges.len();
            self.ranges.push((c, c));
            self.class_inst(start, false);
        } else {
            self.emit(Inst::Char(c));
        }
    }

    /// Compiles one atom; true when it is an assertion.
    fn atom(&mut self, depth: usize) -> Result<bool, Error> {
        let at = self.i;
        let Some(c) = self.bump() else {
            return Err(self.err("unexpected end of pattern"));
        };
        match c {
            '(' => {
                if depth >= MAX_NESTING {
                    self.i = at;
                    return Err(self.err("groups nested too deeply"));
                }
                let index = if self.peek() == Some('?') {
                    if self.peek_at(1) == Some(':') {
                        self.i += 2;
                        None
                    } else {
                        return Err(self.err("unsupported group flag (only (?:…), and (?i) at the start)"));
                    }
                } else {
                    self.groups += 1;
                    Some(self.groups)
                };
                if let Some(i) = index {
                    self.emit(Inst::Save(2 * i));
                }
                self.alt(depth + 1)?;
                if self.bump() != Some(')') {
                    self.i = at;
                    return Err(self.err("unclosed group"));
                }
                if let Some(i) = index {
                    self.emit(Inst::Save(2 * i + 1));
                }
            }
            ')' => {
                self.i = at;
                return Err(self.err("unopened group"));
            }
            '*' | '+' | '?' | '{' => {
                self.i = at;
                return Err(self.err("repetition of nothing"));
            }
            '[' => self.class()?,
            '.' => {
                self.emit(Inst::Any);
            }
            '^' | '$' => {
                self.emit(Inst::Assert(if c == '^' { Look::Start } else { Look::End }));
                return Ok(true);
            }
            '\\' => match self.escape(false)? {
                Esc::Char(c) => self.char_inst(c),
                Esc::Class(set) => {
                    let start = self.ranges.len();
                    self.ranges.extend_from_slice(set);
                    self.class_inst(start, false);
                }
                Esc::Look(l) => {
                    self.emit(Inst::Assert(l));
                    return Ok(true);
                }
            },
            c => self.char_inst(c),
        }
        Ok(false)
    }

    fn escape(&mut self, in_class: bool) -> Result<Esc, Error> {
        let Some(c) = self.bump() else {
            return Err(self.err("pattern ends in a backslash"));
        };
        Ok(match c {
            'd' => Esc::Class(DIGIT),
            'D' => Esc::Class(NOT_DIGIT),
            'w' => Esc::Class(WORD),
            'W' => Esc::Class(NOT_WORD),
            's' => Esc::Class(SPACE),
            'S' => Esc::Class(NOT_SPACE),
            'b' if !in_class => Esc::Look(Look::Word),
            'B' if !in_class => Esc::Look(Look::NotWord),
            't' => Esc::Char('\t'),
            'n' => Esc::Char('\n'),
            'r' => Esc::Char('\r'),
            'f' => Esc::Char('\u{c}'),
            'v' => Esc::Char('\u{b}'),
            c if c.is_ascii_punctuation() => Esc::Char(c),
            _ => {
                self.i -= c.len_utf8();
                return Err(self.err("unsupported escape"));
            }
        })
    }

    fn class(&mut self) -> Result<(), Error> {
        let open = self.i - 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.i += 1;
        }
        let start = self.ranges.len();
        // Leading `-`s are literal, as in the regex crate.
        while self.peek() == Some('-') {
            self.i += 1;
            self.ranges.push(('-', '-'));
        }
        let mut first = self.ranges.len() == start;
        loop {
            let Some(c) = self.bump() else {
                self.i = open;
                return Err(self.err("unclosed character class"));
            };
            let lo = match c {
                ']' if !first => break,
                '-' | '&' | '~' if self.peek() == Some(c) => {
                    self.i -= 1;
                    return Err(self.err("class set operations (--, &&, ~~) are not supported"));
                }
                '[' => {
                    self.i -= 1;
                    return Err(self.err("nested classes are not supported (escape '[')"));
                }
                '\\' => match self.escape(true)? {
                    Esc::Char(c) => c,
                    Esc::Class(set) => {
                        self.ranges.extend_from_slice(set);
                        first = false;
                        if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None) {
                            return Err(self.err("a class range must start with a single character"));
                        }
                        continue;
                    }
                    Esc::Look(_) => return Err(self.err("unsupported escape")),
                },
                c => c,
            };
            first = false;
            // `a--` is not a range: `--` is the regex crate's set difference, refused above.
            if self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']' | '-') | None) {
                self.i += 1;
                let hi = match self.bump() {
                    Some('\\') => match self.escape(true)? {
                        Esc::Char(c) => c,
                        _ => return Err(self.err("a class range must end in a single character")),
                    },
                    Some('[') => {
                        self.i -= 1;
                        return Err(self.err("nested classes are not supported (escape '[')"));
                    }
                    Some(c) => c,
                    None => return Err(self.err("unclosed character class")),
                };
                if hi < lo {
                    self.i -= hi.len_utf8();
                    return Err(self.err("invalid class range (end before start)"));
                }
                self.ranges.push((lo, hi));
            } else {
                self.ranges.push((lo, lo));
            }
        }
        self.class_inst(start, negated);
        Ok(())
    }
}

enum Esc {
    Char(char),
    Class(&'static [(char, char)]),
    Look(Look),
}

/// Threads of one step: a sparse set of program counters, in priority order, with the
/// capture slots of each.
struct Threads {
    dense: Vec<usize>,
    sparse: Vec<usize>,
    slots: Vec<Option<usize>>,
    width: usize,
}

impl Threads {
    fn new(len: usize, width: usize) -> Threads {
        Threads { dense: Vec::with_capacity(len), sparse: vec![0; len], slots: vec![None; len * width], width }
    }

    fn contains(&self, pc: usize) -> bool {
        self.sparse.get(pc).is_some_and(|&i| self.dense.get(i) == Some(&pc))
    }

    fn insert(&mut self, pc: usize) {
        if let Some(s) = self.sparse.get_mut(pc) {
            *s = self.dense.len();
            self.dense.push(pc);
        }
    }

    fn slots_of(&self, pc: usize) -> &[Option<usize>] {
        self.slots.get(pc * self.width..(pc + 1) * self.width).unwrap_or_default()
    }

    fn clear(&mut self) {
        self.dense.clear();
    }
}

enum Frame {
    Explore(usize),
    Restore(usize, Option<usize>),
}

impl Regex {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        let mut p = Parser {
            pattern,
            i: 0,
            groups: 0,
            fold: false,
            prog: Vec::new(),
            ranges: Vec::new(),
            too_large: false,
        };
        if pattern.starts_with("(?i)") {
            p.i = 4;
            p.fold = true;
        }
        p.emit(Inst::Save(0));
        p.alt(0)?;
        if p.i < pattern.len() {
            return Err(p.err("unopened group"));
        }
        p.emit(Inst::Save(1));
        p.emit(Inst::Match);
        if p.too_large {
            return Err(Error { offset: 0, message: "pattern too large" });
        }
        Ok(Regex { prog: p.prog, ranges: p.ranges, groups: p.groups + 1 })
    }

    /// Capture groups, counting group 0 (the whole match).
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The byte range of `group` in the leftmost-first match: `None` when the pattern does not
    /// match, `Some(None)` when it matches but the group took no part.
    pub fn find_group(&self, text: &str, group: usize) -> Option<Option<(usize, usize)>> {
        let caps = self.captures(text)?;
        Some(match (caps.get(2 * group), caps.get(2 * group + 1)) {
            (Some(Some(a)), Some(Some(b))) => Some((*a, *b)),
            _ => None,
        })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.captures(text).is_some()
    }

    /// The capture slots (start, end of each group) of the leftmost-first match.
    fn captures(&self, text: &str) -> Option<Vec<Option<usize>>> {
        let width = 2 * self.groups;
        let mut clist = Threads::new(self.prog.len(), width);
        let mut nlist = Threads::new(self.prog.len(), width);
        let mut scratch: Vec<Option<usize>> = vec![None; width];
        let mut stack: Vec<Frame> = Vec::new();
        let mut matched: Option<Vec<Option<usize>>> = None;
        let mut prev: Option<char> = None;
        let mut pos = 0;
        let char_at = |at: usize| text.get(at..).and_then(|rest| rest.chars().next());
        loop {
            let cur = char_at(pos);
            if matched.is_none() {
                scratch.iter_mut().for_each(|s| *s = None);
                self.add(&mut clist, &mut stack, &mut scratch, 0, pos, prev, cur);
            }
            if clist.dense.is_empty() {
                break;
            }
            let next_pos = pos + cur.map_or(0, char::len_utf8);
            let next_char = char_at(next_pos);
            for k in 0..clist.dense.len() {
                let Some(&pc) = clist.dense.get(k) else { break };
                let takes = match (self.prog.get(pc), cur) {
                    (Some(Inst::Match), _) => {
                        matched = Some(clist.slots_of(pc).to_vec());
                        break;
                    }
                    (Some(Inst::Char(want)), Some(c)) => *want == c,
                    (Some(Inst::Any), Some(c)) => c != '\n',
                    (Some(Inst::Class(start, end, negated)), Some(c)) => {
                        let ranges = self.ranges.get(*start..*end).unwrap_or_default();
                        ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated
                    }
                    _ => false,
                };
                if takes {
                    crate::small::copy(&mut scratch, clist.slots_of(pc));
                    self.add(&mut nlist, &mut stack, &mut scratch, pc + 1, next_pos, cur, next_char);
                }
            }
            core::mem::swap(&mut clist, &mut nlist);
            nlist.clear();
            if cur.is_none() {
                break;
            }
            pos = next_pos;
            prev = cur;
        }
        matched
    }

    /// Follows the empty transitions from `pc` at `pos` and records the threads they reach.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        list: &mut Threads,
        stack: &mut Vec<Frame>,
        slots: &mut [Option<usize>],
        pc: usize,
        pos: usize,
        before: Option<char>,
        after: Option<char>,
    ) {
        stack.push(Frame::Explore(pc));
        while let Some(frame) = stack.pop() {
            let pc = match frame {
                Frame::Restore(slot, old) => {
                    if let Some(s) = slots.get_mut(slot) {
                        *s = old;
                    }
                    continue;
                }
                Frame::Explore(pc) => pc,
            };
            if list.contains(pc) {
                continue;
            }
            list.insert(pc);
            match self.prog.get(pc) {
                Some(Inst::Jmp(t)) => stack.push(Frame::Explore(*t)),
                Some(Inst::Split(a, b)) => {
                    stack.push(Frame::Explore(*b));
                    stack.push(Frame::Explore(*a));
                }
                Some(Inst::Save(s)) => {
                    if let Some(slot) = slots.get_mut(*s) {
                        stack.push(Frame::Restore(*s, *slot));
                        *slot = Some(pos);
                    }
                    stack.push(Frame::Explore(pc + 1));
                }
                Some(Inst::Assert(look)) => {
                    let holds = match look {
                        Look::Start => before.is_none(),
                        Look::End => after.is_none(),
                        Look::Word => is_word(before) != is_word(after),
                        Look::NotWord => is_word(before) == is_word(after),
                    };
                    if holds {
                        stack.push(Frame::Explore(pc + 1));
                    }
                }
                Some(_) => {
                    let w = list.width;
                    if let Some(dst) = list.slots.get_mut(pc * w..(pc + 1) * w) {
                        crate::small::copy(dst, slots);
                    }
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(p: &str, text: &str, g: usize) -> Option<Option<String>> {
        let re = Regex::new(p).unwrap();
        re.find_group(text, g).map(|m| m.map(|(a, b)| text[a..b].to_owned()))
    }

    fn some(s: &str) -> Option<Option<String>> {
        Some(Some(s.to_owned()))
    }

    #[test]
    fn matches_like_the_regex_crate() {
        let cases: &[(&str, &str, usize, Option<Option<String>>)] = &[
            ("A-\\d+", "Order #A-1234 ok", 0, some("A-1234")),
            ("#([A-Z])-(\\d+)", "Order #A-1234", 1, some("A")),
            ("#([A-Z])-(\\d+)", "Order #A-1234", 2, some("1234")),
            ("^Invoice", "Order", 0, None),
            ("a|ab", "ab", 0, some("a")),
            ("ab|a", "ab", 0, some("ab")),
            ("a*?b", "aaab", 0, some("aaab")),
            ("a+?", "aaa", 0, some("a")),
            ("(a)|b", "b", 1, Some(None)),
            ("x(\\s*)y", "x  y", 1, some("  ")),
            ("([0-9]+\\.[0-9]+)", "Total: 59.90 EUR", 1, some("59.90")),
            ("(?i)gold", "GoLd member", 0, some("GoLd")),
            ("(?i)[a-c]+", "xABcd", 0, some("ABc")),
            ("\\bcat\\b", "concat cat", 0, some("cat")),
            ("\\Bcat", "concat", 0, some("cat")),
            ("a{2,3}", "aaaa", 0, some("aaa")),
            ("a{2,}?", "aaaa", 0, some("aa")),
            ("a{2}", "a", 0, None),
            // A lazy star inside a greedy repetition: the repetition's second pass meets the
            // star's loop already followed, so group 1 keeps its first start.
            ("(b*?)+$", "bb", 1, some("bb")),
            ("([^a]*?){1,}$", "bb", 1, some("bb")),
            ("(b*?){2,}$", "bb", 1, some("bb")),
            ("[^0-9]+", "12ab3", 0, some("ab")),
            ("[\\d.]+", "v1.25x", 0, some("1.25")),
            ("[\\D]+", "12ab3", 0, some("ab")),
            ("[]a]+", "x]a]", 0, some("]a]")),
            ("[a-]+", "x-a-", 0, some("-a-")),
            (".+", "ab\ncd", 0, some("ab")),
            ("$", "abc", 0, some("")),
            ("^$", "", 0, some("")),
            ("(a*)*", "b", 0, some("")),
            ("(a|b)*c", "abbac", 1, some("a")),
            ("é+", "caféé!", 0, some("éé")),
            ("😀(.)", "x😀y", 1, some("y")),
            ("(?:ab)+", "ababa", 0, some("abab")),
            ("\\$([0-9,]+)", "cost $1,299", 1, some("1,299")),
            (":(.*)$", "Tier:   Gold", 1, some("   Gold")),
        ];
        for (p, text, g, want) in cases {
            assert_eq!(&group(p, text, *g), want, "{p} on {text:?} group {g}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_support_with_a_position() {
        for (p, at) in [
            ("(a", 0),
            ("a)", 1),
            ("*a", 0),
            ("a**", 2),
            ("[a", 0),
            ("[z-a]", 3),
            ("a{3,2}", 1),
            ("a{1001}", 1),
            ("(?P<n>a)", 1),
            ("(?i:a)", 1),
            ("\\p{L}", 1),
            ("\\", 1),
            ("[[:alpha:]]", 1),
            ("^*", 1),
            ("a{2", 3),
            // Offsets are in bytes, past multi-byte characters.
            ("[é-a]", 4),
            ("é\\é", 3),
            ("[é-\\-]", 5),
            ("é(a", 2),
            ("é)", 2),
        ] {
            let e = Regex::new(p).unwrap_err();
            assert_eq!(e.offset, at, "{p}: {e:?}");
        }
        assert_eq!(Regex::new(&"(".repeat(65)).unwrap_err().message, "groups nested too deeply");
        assert_eq!(Regex::new("[\\d-w]").unwrap_err().message, "a class range must start with a single character");
        assert!(Regex::new("[\\d-]").is_ok());
        for p in ["[$--]", "[a--b]", "[a&&b]", "[&&]", "[a~~]", "[]--]", "[-a--]", "[\\d--]"] {
            assert!(Regex::new(p).is_err(), "{p}");
        }
        for (p, yes, no) in [("[--a]", "-", "b"), ("[^-]", "a", "-"), ("[a-]", "-", "b"), ("[!-&]", "&", "a"), ("[&~]", "~", "a")] {
            let re = Regex::new(p).unwrap();
            assert!(re.find_group(yes, 0).is_some() && re.find_group(no, 0).is_none(), "{p}");
        }
        assert_eq!(Regex::new("((a{1000}){1000})").unwrap_err().message, "pattern too large");
    }

    #[test]
    fn linear_on_long_text() {
        let re = Regex::new("(a*)*b").unwrap();
        let text = "a".repeat(20_000);
        assert_eq!(re.find_group(&text, 0), None);
    }

    #[test]
    fn negated_shorthands_are_complements() {
        let has = |set: &[(char, char)], c: char| set.iter().any(|&(a, b)| a <= c && c <= b);
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            for (set, not) in [(DIGIT, NOT_DIGIT), (WORD, NOT_WORD), (SPACE, NOT_SPACE)] {
                assert_ne!(has(set, c), has(not, c), "{c:?}");
            }
        }
    }
}
