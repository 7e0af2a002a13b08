//! A hand-written recursive-descent parser for the textual expression syntax.
//!
//! ```text
//! expr      := and ( OR and )*
//! and       := unary ( AND unary )*
//! unary     := NOT unary | primary
//! primary   := "(" expr ")" | ALL | TRUE | "tag:" name | "trait:" name condition
//! condition := op literal | BETWEEN int AND int | IS SET | IS NOT SET
//! op        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! literal   := int | string
//! name      := (letter | digit | "_" | "-" | ".")+ | string
//! string    := '"' ( [^"\\] | '\"' | '\\' | '\n' | '\t' )* '"'
//! ```
//!
//! Keywords are case-insensitive; `NOT` binds tighter than `AND`, which binds tighter than `OR`.
//! Errors carry the byte offset and the 1-based character column where parsing stopped.

use crate::expr::{Between, CmpOp, Comparison, Expr, Value};

/// Deepest nesting of parentheses and `NOT`s accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Why a textual expression could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {message}")]
pub struct ParseError {
    /// Byte offset into the input where the problem was found.
    pub offset: usize,
    /// 1-based character column of `offset` (what a console shows under the input box).
    pub column: usize,
    /// Human-readable description of what was expected.
    pub message: String,
}

/// Parses the textual syntax into an [`Expr`].
///
/// ```
/// use cove_audience::{parse, CmpOp, Expr};
///
/// let expr = parse("tag:vip AND NOT trait:total_spend_fen < 500000").unwrap();
/// assert_eq!(
///     expr,
///     Expr::And(vec![Expr::tag("vip"), Expr::num("total_spend_fen", CmpOp::Lt, 500000).negate()])
/// );
/// ```
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser {
        src: input,
        pos: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(expr),
        Some(')') => Err(parser.error("unmatched `)`")),
        Some(_) => Err(parser.error(format!(
            "expected `AND`, `OR` or the end of the expression, found {}",
            parser.describe_here()
        ))),
    }
}

/// Whether `name` can be written without quotes after `tag:` or `trait:`.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let column = self.src.get(..offset).map_or(0, |s| s.chars().count()) + 1;
        ParseError {
            offset,
            column,
            message: message.into(),
        }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// A short description of the input at the cursor, for error messages.
    fn describe_here(&self) -> String {
        let word: String = self
            .rest()
            .chars()
            .take_while(|c| is_word_char(*c))
            .collect();
        match self.peek() {
            None => "the end of the expression".to_owned(),
            Some(_) if !word.is_empty() => format!("`{word}`"),
            Some(c) => format!("`{c}`"),
        }
    }

    /// The alphanumeric word at the cursor, without consuming it.
    fn peek_word(&self) -> &str {
        let rest = self.rest();
        let end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        rest.get(..end).unwrap_or("")
    }

    /// Consumes `keyword` (case-insensitively) if it is the next whole word.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        self.skip_ws();
        let word = self.peek_word();
        if word.eq_ignore_ascii_case(keyword) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, keyword: &str, context: &str) -> Result<(), ParseError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.error(format!(
                "expected `{keyword}` {context}, found {}",
                self.describe_here()
            )))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        while self.eat_keyword("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.unary()?];
        while self.eat_keyword("AND") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.eat_keyword("NOT") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            None => Err(self.error(
                "unexpected end of the expression: expected `tag:`, `trait:`, `NOT`, `ALL` or `(`",
            )),
            Some('(') => {
                self.bump();
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                self.skip_ws();
                if self.peek() == Some(')') {
                    self.bump();
                    Ok(inner)
                } else {
                    let opened = self.error_at(start, "").column;
                    Err(self.error(format!(
                        "expected `)` to close the `(` at column {opened}, found {}",
                        self.describe_here()
                    )))
                }
            }
            Some(_) => {
                let word = self.peek_word().to_owned();
                let after = self.src.get(self.pos + word.len()..).unwrap_or("");
                if word.eq_ignore_ascii_case("tag") && after.starts_with(':') {
                    self.pos += word.len() + 1;
                    Ok(Expr::Tag(self.name("a tag name after `tag:`")?))
                } else if word.eq_ignore_ascii_case("trait") && after.starts_with(':') {
                    self.pos += word.len() + 1;
                    let key = self.name("a trait key after `trait:`")?;
                    self.condition(key)
                } else if word.eq_ignore_ascii_case("ALL") || word.eq_ignore_ascii_case("TRUE") {
                    self.pos += word.len();
                    Ok(Expr::All)
                } else {
                    Err(self.error(format!(
                        "expected `tag:`, `trait:`, `NOT`, `ALL` or `(`, found {}",
                        self.describe_here()
                    )))
                }
            }
        }
    }

    fn name(&mut self, what: &str) -> Result<String, ParseError> {
        if self.peek() == Some('"') {
            let start = self.pos;
            let name = self.string()?;
            if name.is_empty() {
                return Err(self.error_at(start, format!("expected {what}, found `\"\"`")));
            }
            return Ok(name);
        }
        let rest = self.rest();
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        if end == 0 {
            return Err(self.error(format!("expected {what}, found {}", self.describe_here())));
        }
        let name = rest.get(..end).unwrap_or("").to_owned();
        self.pos += end;
        Ok(name)
    }

    fn condition(&mut self, key: String) -> Result<Expr, ParseError> {
        self.skip_ws();
        if let Some(op) = self.operator() {
            let op_text = op.symbol();
            self.skip_ws();
            let literal_at = self.pos;
            let value = match self.peek() {
                Some('"') => {
                    let text = self.string()?;
                    if op.is_ordering() {
                        return Err(self.error_at(
                            literal_at,
                            format!(
                                "`{op_text}` needs a number; strings only support `=` and `!=`"
                            ),
                        ));
                    }
                    Value::Str(text)
                }
                Some(c) if c == '-' || c.is_ascii_digit() => Value::Int(self.integer()?),
                _ => {
                    return Err(self.error(format!(
                        "expected a number or a quoted string after `{op_text}`, found {}",
                        self.describe_here()
                    )))
                }
            };
            return Ok(Expr::Cmp(Comparison { key, op, value }));
        }
        if self.eat_keyword("BETWEEN") {
            self.skip_ws();
            let low = self.integer()?;
            self.expect_keyword("AND", "between the bounds of `BETWEEN`")?;
            self.skip_ws();
            let high = self.integer()?;
            return Ok(Expr::Between(Between { key, low, high }));
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("SET", "after `IS`")?;
            let expr = Expr::IsSet(key);
            return Ok(if negated { expr.negate() } else { expr });
        }
        Err(self.error(format!(
            "expected a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`), `BETWEEN` or `IS SET` \
             after `trait:{key}`, found {}",
            self.describe_here()
        )))
    }

    fn operator(&mut self) -> Option<CmpOp> {
        const OPS: [(&str, CmpOp); 8] = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<>", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("=", CmpOp::Eq),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ];
        let (text, op) = OPS.iter().find(|(text, _)| self.rest().starts_with(text))?;
        self.pos += text.len();
        Some(*op)
    }

    fn integer(&mut self) -> Result<i64, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let sign = usize::from(rest.starts_with('-'));
        let digits = rest
            .get(sign..)
            .unwrap_or("")
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - sign);
        if digits == 0 {
            return Err(self.error(format!(
                "expected an integer, found {}",
                self.describe_here()
            )));
        }
        let end = sign + digits;
        let text = rest.get(..end).unwrap_or("");
        if rest
            .get(end..)
            .and_then(|r| r.chars().next())
            .is_some_and(is_name_char)
        {
            return Err(self.error_at(
                start + end,
                "invalid number: digits must be followed by a space, `)` or the end",
            ));
        }
        let value = text.parse::<i64>().map_err(|_| {
            self.error_at(
                start,
                format!("number `{text}` is out of range for a 64-bit integer"),
            )
        })?;
        self.pos += end;
        Ok(value)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.bump(); // the opening quote
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error_at(start, "unterminated string")),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c) => {
                        return Err(self.error_at(at, format!("unknown escape `\\{c}` in string")))
                    }
                    None => return Err(self.error_at(start, "unterminated string")),
                },
                Some(c) => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> ParseError {
        match parse(input) {
            Ok(e) => panic!("{input:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_the_example_from_the_console() {
        let expr = parse(
            r#"tag:gaming_laptop_viewer AND (trait:total_spend_fen >= 500000 OR NOT tag:churn_risk) AND trait:city = "Shanghai""#,
        )
        .unwrap();
        assert_eq!(
            expr,
            Expr::And(vec![
                Expr::tag("gaming_laptop_viewer"),
                Expr::Or(vec![
                    Expr::num("total_spend_fen", CmpOp::Ge, 500_000),
                    Expr::tag("churn_risk").negate(),
                ]),
                Expr::text("city", CmpOp::Eq, "Shanghai"),
            ])
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        let expr = parse("tag:a OR NOT tag:b AND tag:c").unwrap();
        assert_eq!(
            expr,
            Expr::Or(vec![
                Expr::tag("a"),
                Expr::And(vec![Expr::tag("b").negate(), Expr::tag("c")]),
            ])
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_whitespace_is_free() {
        let expr = parse("  not(tag:a or tag:b)and trait:x between -5 and 7  ").unwrap();
        assert_eq!(
            expr,
            Expr::And(vec![
                Expr::Or(vec![Expr::tag("a"), Expr::tag("b")]).negate(),
                Expr::between("x", -5, 7),
            ])
        );
    }

    #[test]
    fn every_operator_and_condition_form_parses() {
        let cases = [
            ("trait:n = 1", Expr::num("n", CmpOp::Eq, 1)),
            ("trait:n == 1", Expr::num("n", CmpOp::Eq, 1)),
            ("trait:n != -1", Expr::num("n", CmpOp::Ne, -1)),
            ("trait:n <> 1", Expr::num("n", CmpOp::Ne, 1)),
            ("trait:n<2", Expr::num("n", CmpOp::Lt, 2)),
            ("trait:n <= 2", Expr::num("n", CmpOp::Le, 2)),
            ("trait:n > 3", Expr::num("n", CmpOp::Gt, 3)),
            ("trait:n >= 3", Expr::num("n", CmpOp::Ge, 3)),
            ("trait:n IS SET", Expr::is_set("n")),
            ("trait:n is not set", Expr::is_set("n").negate()),
            (
                "trait:city != \"Bei\\\"jing\"",
                Expr::text("city", CmpOp::Ne, "Bei\"jing"),
            ),
            ("tag:\"has space\"", Expr::tag("has space")),
            ("tag:618_buyer", Expr::tag("618_buyer")),
            ("tag:高价值", Expr::tag("高价值")),
            ("ALL", Expr::All),
            ("true", Expr::All),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).unwrap(), want, "input {input:?}");
        }
    }

    #[test]
    fn display_output_parses_back_to_the_same_tree() {
        let expr = Expr::And(vec![
            Expr::Or(vec![Expr::tag("a b"), Expr::tag("c")]),
            Expr::And(vec![Expr::tag("d"), Expr::between("x", -3, 9)]).negate(),
            Expr::text("city", CmpOp::Eq, "Shang\"hai\\"),
        ]);
        let text = expr.to_string();
        assert_eq!(parse(&text).unwrap(), expr, "printed as {text}");
    }

    #[test]
    fn errors_point_at_the_offending_column() {
        let cases: [(&str, usize, &str); 14] = [
            ("", 1, "unexpected end"),
            ("tag:a AND", 10, "unexpected end"),
            ("tag:a AND OR tag:b", 11, "found `OR`"),
            ("tag:", 5, "expected a tag name"),
            ("tag:a tag:b", 7, "expected `AND`, `OR`"),
            ("(tag:a OR tag:b", 16, "close the `(` at column 1"),
            ("tag:a)", 6, "unmatched `)`"),
            ("trait:x", 8, "expected a comparison"),
            ("trait:x >= \"big\"", 12, "needs a number"),
            ("trait:x = 99999999999999999999", 11, "out of range"),
            ("trait:x = 12abc", 13, "invalid number"),
            ("trait:x = \"open", 11, "unterminated string"),
            ("trait:x BETWEEN 1 OR 2", 19, "expected `AND`"),
            ("label:x", 1, "expected `tag:`"),
        ];
        for (input, column, message) in cases {
            let e = err(input);
            assert_eq!(e.column, column, "input {input:?}: {e}");
            assert!(e.message.contains(message), "input {input:?}: {e}");
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let e = err("tag:高价值 tag:x");
        assert_eq!(e.column, 9);
        assert_eq!(e.offset, "tag:高价值 ".len());
    }

    #[test]
    fn deep_nesting_is_rejected_instead_of_overflowing_the_stack() {
        let input = format!("{}tag:a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&input).message.contains("nested"));
        let nots = format!("{}tag:a", "NOT ".repeat(10_000));
        assert!(err(&nots).message.contains("nested"));
    }
}
