//! USQL tokens. Keywords are not told apart here: they are words the parser compares
//! case-insensitively, so a property key may look like a keyword (`stringProperties.select`).

use super::UsqlError;

/// One token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word: keyword, function name, field name or property key part.
    Word(String),
    /// A quoted string (`"…"` or `'…'`, the quote doubled inside to escape it).
    Str(String),
    /// An unsigned integer literal, kept as text so `-9223372036854775808` can be read exactly.
    Int(String),
    /// An unsigned decimal or exponent literal.
    Float(f64),
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `*`
    Star,
    /// `-`
    Minus,
    /// `+`
    Plus,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `$NAME`: a time variable (`$NOW`, `$TIME_FRAME_START`, `$TIME_FRAME_END`), name kept as written.
    Var(String),
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`
    Op(&'static str),
    /// End of input.
    End,
}

/// A token and the character position (0-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Character offset of its first character.
    pub pos: usize,
    /// Character offset just after it.
    pub end: usize,
}

/// Splits a query into tokens; the last one is always `End`.
pub fn tokenize(input: &str) -> Result<Vec<Token>, UsqlError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            ',' => {
                i += 1;
                Tok::Comma
            }
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                i += 1;
                Tok::Dot
            }
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '*' => {
                i += 1;
                Tok::Star
            }
            '-' => {
                i += 1;
                Tok::Minus
            }
            '+' => {
                i += 1;
                Tok::Plus
            }
            '/' => {
                i += 1;
                Tok::Slash
            }
            '%' => {
                i += 1;
                Tok::Percent
            }
            '$' if chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == '_') => {
                i += 1;
                while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    i += 1;
                }
                Tok::Var(chars[start + 1..i].iter().collect())
            }
            '=' => {
                i += 1;
                Tok::Op("=")
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Op("!=")
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op("<=")
                }
                Some('>') => {
                    i += 2;
                    Tok::Op("!=")
                }
                _ => {
                    i += 1;
                    Tok::Op("<")
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(">=")
                } else {
                    i += 1;
                    Tok::Op(">")
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(UsqlError::new(start, "unterminated string")),
                        Some(&q) if q == quote => {
                            if chars.get(i + 1) == Some(&quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit() || c == '.' => {
                while chars.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                let mut float = false;
                if chars.get(i) == Some(&'.') {
                    float = true;
                    i += 1;
                    while chars.get(i).is_some_and(char::is_ascii_digit) {
                        i += 1;
                    }
                }
                if matches!(chars.get(i), Some('e' | 'E')) {
                    let mut j = i + 1;
                    if matches!(chars.get(j), Some('+' | '-')) {
                        j += 1;
                    }
                    if chars.get(j).is_some_and(char::is_ascii_digit) {
                        float = true;
                        i = j;
                        while chars.get(i).is_some_and(char::is_ascii_digit) {
                            i += 1;
                        }
                    }
                }
                if chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
                    return Err(UsqlError::new(start, "malformed number"));
                }
                let text: String = chars[start..i].iter().collect();
                if float {
                    match text.parse::<f64>() {
                        Ok(x) if x.is_finite() => Tok::Float(x),
                        _ => return Err(UsqlError::new(start, "malformed number")),
                    }
                } else {
                    Tok::Int(text)
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            }
            other => return Err(UsqlError::new(start, format!("unexpected character {other:?}"))),
        };
        out.push(Token { tok, pos: start, end: i });
    }
    out.push(Token { tok: Tok::End, pos: chars.len(), end: chars.len() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn words_strings_numbers() {
        assert_eq!(
            toks("a.b >= 'it''s' <> \"x\" 12 1.5 .5 2e3"),
            vec![
                Tok::Word("a".into()),
                Tok::Dot,
                Tok::Word("b".into()),
                Tok::Op(">="),
                Tok::Str("it's".into()),
                Tok::Op("!="),
                Tok::Str("x".into()),
                Tok::Int("12".into()),
                Tok::Float(1.5),
                Tok::Float(0.5),
                Tok::Float(2000.0),
                Tok::End
            ]
        );
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(tokenize("a = 'open").unwrap_err().position, 4);
        assert_eq!(tokenize("a ; b").unwrap_err().position, 2);
        assert_eq!(tokenize("é = 1").unwrap_err().position, 0);
        assert_eq!(tokenize("ab = 12x").unwrap_err().position, 5);
    }
}
