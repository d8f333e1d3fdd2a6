//! `${VAR}` interpolation in config strings.
//!
//! Runs on the typed config after deserialisation, field by field, so that unknown keys
//! and type errors keep toml's line numbers. Every missing variable of the whole file is
//! collected before failing, so one run names all of them. Substituted values are not
//! scanned again: a secret that happens to contain `${` stays as it is.

use std::collections::BTreeSet;

/// Collects what interpolation finds wrong across every field of one config.
pub(super) struct Interpolator<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Names of unset variables; a set, so they come out sorted and once each.
    pub missing: BTreeSet<String>,
    /// One message per malformed reference, naming the config key.
    pub malformed: Vec<String>,
}

impl<'a> Interpolator<'a> {
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Interpolator {
            env,
            missing: BTreeSet::new(),
            malformed: Vec::new(),
        }
    }

    /// Replaces the references in `value`, the value of config key `key`. On a malformed
    /// reference the value is left untouched and the problem recorded.
    pub fn string(&mut self, key: &str, value: &mut String) {
        match expand(value, self.env, &mut self.missing) {
            Ok(expanded) => *value = expanded,
            Err(why) => self.malformed.push(format!("{key}: {why}")),
        }
    }
}

/// `${NAME}` → the variable's value; `$${` → a literal `${`; any other `$` is literal.
/// Unset names are added to `missing` (and expand to nothing meanwhile).
pub(super) fn expand(
    input: &str,
    env: &dyn Fn(&str) -> Option<String>,
    missing: &mut BTreeSet<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let tail = &rest[dollar..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(
                    "`${` without a closing `}` (write `$${` for a literal `${`)".to_owned(),
                );
            };
            let name = &after[..end];
            if !is_var_name(name) {
                // The text is not quoted: it may be a secret pasted between the braces.
                return Err(
                    "a `${…}` reference is not a variable name (letters, digits and `_`, \
                     not starting with a digit)"
                        .to_owned(),
                );
            }
            match env(name) {
                Some(v) => out.push_str(&v),
                None => {
                    missing.insert(name.to_owned());
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            "TRICKY" => Some("${A}".into()),
            _ => None,
        }
    }

    fn run(input: &str) -> (Result<String, String>, Vec<String>) {
        let mut missing = BTreeSet::new();
        let r = expand(input, &env, &mut missing);
        (r, missing.into_iter().collect())
    }

    #[test]
    fn substitutes_escapes_and_leaves_plain_dollars() {
        assert_eq!(run("x-${A}-y").0.unwrap(), "x-alpha-y");
        assert_eq!(run("${A}${A}").0.unwrap(), "alphaalpha");
        assert_eq!(run("$${A}").0.unwrap(), "${A}");
        assert_eq!(run("cost $5 $").0.unwrap(), "cost $5 $");
        assert_eq!(run("[${EMPTY}]").0.unwrap(), "[]");
        assert_eq!(run("héllo ${A} wörld").0.unwrap(), "héllo alpha wörld");
    }

    #[test]
    fn substituted_values_are_not_rescanned() {
        assert_eq!(run("${TRICKY}").0.unwrap(), "${A}");
    }

    #[test]
    fn collects_every_missing_name() {
        let (r, missing) = run("${ZED} ${B} ${ZED} ${A}");
        assert!(r.is_ok());
        assert_eq!(missing, ["B", "ZED"]);
    }

    #[test]
    fn rejects_malformed_references() {
        assert!(run("${A").0.unwrap_err().contains("closing"));
        assert!(run("${}").0.unwrap_err().contains("not a variable name"));
        assert!(run("${1X}").0.unwrap_err().contains("not a variable name"));
        assert!(run("${A B}").0.unwrap_err().contains("not a variable name"));
    }
}
