//! restmap.conf `capability` / `capability.<method>` values: a capability name or a boolean
//! expression over names with `and`, `or` and parentheses (`and` binds tighter than `or`),
//! evaluated against the caller's capabilities before a request reaches a handler.

use std::fmt;

/// A parsed capability expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapExpr {
    /// One capability name.
    Cap(String),
    /// Every operand must hold.
    And(Vec<CapExpr>),
    /// At least one operand must hold.
    Or(Vec<CapExpr>),
}

/// Why an expression could not be parsed; the restmap stanza is then unusable (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapExprError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for CapExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid capability expression {:?}: {}",
            self.expr, self.reason
        )
    }
}

impl std::error::Error for CapExprError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(String),
    And,
    Or,
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            out.push(Token::Open);
            chars.next();
        } else if c == ')' {
            out.push(Token::Close);
            chars.next();
        } else if is_name_char(c) {
            let mut end = i;
            while let Some(&(j, c)) = chars.peek() {
                if !is_name_char(c) {
                    break;
                }
                end = j + c.len_utf8();
                chars.next();
            }
            let word = &text[i..end];
            out.push(match word.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                _ => Token::Name(word.to_string()),
            });
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<CapExpr, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(flatten(items, CapExpr::Or))
    }

    fn and(&mut self) -> Result<CapExpr, String> {
        let mut items = vec![self.atom()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            items.push(self.atom()?);
        }
        Ok(flatten(items, CapExpr::And))
    }

    fn atom(&mut self) -> Result<CapExpr, String> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Name(n)) => Ok(CapExpr::Cap(n)),
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Token::Close) => Err("unexpected ')'".into()),
            Some(Token::And) | Some(Token::Or) => {
                Err("an operator needs a capability name on each side".into())
            }
            None => Err("the expression ends too early".into()),
        }
    }
}

fn flatten(mut items: Vec<CapExpr>, wrap: fn(Vec<CapExpr>) -> CapExpr) -> CapExpr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        wrap(items)
    }
}

impl CapExpr {
    /// Parses an expression such as `list_containers or (a and b)`.
    pub fn parse(text: &str) -> Result<CapExpr, CapExprError> {
        let err = |reason: String| CapExprError {
            expr: text.to_string(),
            reason,
        };
        let tokens = tokenize(text).map_err(err)?;
        if tokens.is_empty() {
            return Err(err("it is empty".into()));
        }
        let mut p = Parser { tokens, pos: 0 };
        let expr = p.or().map_err(err)?;
        if p.pos != p.tokens.len() {
            return Err(err("unexpected text after the expression".into()));
        }
        Ok(expr)
    }

    /// Whether a caller holding the capabilities `has` accepts satisfies the expression.
    pub fn allows(&self, has: &dyn Fn(&str) -> bool) -> bool {
        match self {
            CapExpr::Cap(c) => has(c),
            CapExpr::And(items) => items.iter().all(|e| e.allows(has)),
            CapExpr::Or(items) => items.iter().any(|e| e.allows(has)),
        }
    }

    /// Every capability name the expression mentions.
    pub fn names(&self) -> Vec<&str> {
        match self {
            CapExpr::Cap(c) => vec![c.as_str()],
            CapExpr::And(items) | CapExpr::Or(items) => {
                items.iter().flat_map(CapExpr::names).collect()
            }
        }
    }
}

impl fmt::Display for CapExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[CapExpr], op: &str| {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                match item {
                    CapExpr::Cap(_) => write!(f, "{item}")?,
                    _ => write!(f, "({item})")?,
                }
            }
            Ok(())
        };
        match self {
            CapExpr::Cap(c) => f.write_str(c),
            CapExpr::And(items) => join(f, items, "and"),
            CapExpr::Or(items) => join(f, items, "or"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(expr: &str, caps: &[&str]) -> bool {
        CapExpr::parse(expr)
            .unwrap()
            .allows(&|c: &str| caps.contains(&c))
    }

    #[test]
    fn single_names() {
        assert_eq!(
            CapExpr::parse(" list_containers ").unwrap(),
            CapExpr::Cap("list_containers".into())
        );
        assert!(allows("list_containers", &["list_containers"]));
        assert!(!allows("list_containers", &["control_containers"]));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = CapExpr::parse("a or b and c").unwrap();
        assert_eq!(
            e,
            CapExpr::Or(vec![
                CapExpr::Cap("a".into()),
                CapExpr::And(vec![CapExpr::Cap("b".into()), CapExpr::Cap("c".into())]),
            ])
        );
        assert!(allows("a or b and c", &["a"]));
        assert!(allows("a or b and c", &["b", "c"]));
        assert!(!allows("a or b and c", &["b"]));
    }

    #[test]
    fn parentheses_and_case_insensitive_keywords() {
        assert!(allows("(a OR b) AND c", &["b", "c"]));
        assert!(!allows("(a or b) and c", &["a", "b"]));
        assert!(allows("((a))", &["a"]));
        assert!(allows("x and (y or (z and w))", &["x", "z", "w"]));
        assert_eq!(
            CapExpr::parse("(a or b) and c").unwrap().to_string(),
            "(a or b) and c"
        );
        assert_eq!(
            CapExpr::parse("a and (b or c)").unwrap().names(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn malformed_expressions_are_errors() {
        for bad in [
            "",
            "   ",
            "a and",
            "or a",
            "(a",
            "a)",
            "a b",
            "a and or b",
            "()",
            "a & b",
            "a,b",
        ] {
            assert!(CapExpr::parse(bad).is_err(), "{bad:?}");
        }
        let e = CapExpr::parse("(a").unwrap_err();
        assert!(e.to_string().contains("missing ')'"), "{e}");
    }
}
