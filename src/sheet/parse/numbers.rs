//! Numbers: the shortest round-trip decimal of a number cell, and numbers typed as text
//! (`$1,299.00`, `1 299,00`) read where they are unambiguous, with currency checks.

use super::*;

/// A decimal number as written: sign, integer digits (no leading zeros, `"0"` for none)
/// and fraction digits exactly as written (so `12.500` keeps three decimals).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plain {
    negative: bool,
    int: String,
    frac: String,
}

impl Plain {
    fn new(negative: bool, int: &str, frac: &str) -> Plain {
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let zero = int == "0" && frac.bytes().all(|b| b == b'0');
        // `-0` is zero, not a negative amount.
        Plain {
            negative: negative && !zero,
            int: int.to_owned(),
            frac: frac.to_owned(),
        }
    }

    /// Checks money rules; `float` is the cell's double when it arrived as a number, to
    /// tell formula noise from a value typed with too many decimals.
    pub(super) fn into_money(
        self,
        currency: &Currency,
        float: Option<f64>,
    ) -> Result<Decimal, Why> {
        if self.negative {
            return Err("is negative".to_owned());
        }
        // 10^18 has 19 integer digits.
        if self.int.len() > 18 {
            return Err(too_large_money());
        }
        let decimals = self.frac.len();
        let allowed = currency.decimals as usize;
        if decimals > allowed {
            let allows = match allowed {
                0 => "none".to_owned(),
                n => n.to_string(),
            };
            let mut why = format!(
                "has {decimals} decimal{} but {} allows {allows} (amounts are never rounded)",
                plural(decimals),
                currency.code
            );
            if float.is_some_and(|f| is_float_noise(f, currency.decimals)) {
                why.push_str(&format!(
                    "; this looks like floating-point noise from a formula: wrap it in ROUND(…, {})",
                    currency.decimals
                ));
            }
            return Err(why);
        }
        let text = if self.frac.is_empty() {
            self.int
        } else {
            format!("{}.{}", self.int, self.frac)
        };
        let amount = Decimal::from_str_exact(&text).map_err(|_| "is not a number".to_owned())?;
        if amount >= max_money() {
            return Err(too_large_money());
        }
        Ok(amount)
    }

    pub(super) fn into_quantity(self) -> Result<i64, Why> {
        if self.frac.bytes().any(|b| b != b'0') {
            return Err("is not a whole number".to_owned());
        }
        let magnitude = if self.int.len() > 10 {
            None
        } else {
            self.int.parse::<i64>().ok()
        };
        match magnitude {
            Some(q) if q <= MAX_QUANTITY => Ok(if self.negative { -q } else { q }),
            _ => Err(format!(
                "is beyond ±{MAX_QUANTITY}, which the store cannot hold"
            )),
        }
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A formula result like `19.900000000000002`: within a hair of a value that fits.
pub(super) fn is_float_noise(f: f64, decimals: u32) -> bool {
    let scale = 10f64.powi(decimals as i32);
    let rounded = (f * scale).round() / scale;
    (f - rounded).abs() <= 1e-9 * f.abs().max(1.0)
}

/// Splits the plain decimal text std prints for a number (`-12.5`, never an exponent).
pub(super) fn plain_number(text: &str) -> Option<Plain> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && digits(int) && digits(frac)).then(|| Plain::new(negative, int, frac))
}

/// What a number in text is for: money may carry a currency, quantities may not, and
/// `1,200` is thousands in a quantity (stock has no fractions) but ambiguous in money.
#[derive(Clone, Copy)]
pub(super) enum Mode<'a> {
    Money(&'a Currency),
    Quantity,
}

/// Currency symbols accepted around money text, with the currency each names when it
/// names only one (`$` and `¥` serve several).
pub(super) const SYMBOLS: &[(char, Option<&str>)] = &[
    ('$', None),
    ('¥', None),
    ('€', Some("EUR")),
    ('£', Some("GBP")),
    ('₹', Some("INR")),
    ('₩', Some("KRW")),
    ('₽', Some("RUB")),
    ('₺', Some("TRY")),
    ('₪', Some("ILS")),
    ('₫', Some("VND")),
    ('฿', Some("THB")),
    ('₱', Some("PHP")),
    ('₴', Some("UAH")),
    ('₦', Some("NGN")),
    ('₸', Some("KZT")),
    ('₼', Some("AZN")),
    ('₾', Some("GEL")),
    ('₡', Some("CRC")),
    ('₲', Some("PYG")),
    ('₵', Some("GHS")),
];

/// ISO 4217 codes, so that `12 PCS` is not taken for an amount in some currency "PCS".
pub(super) const ISO_CODES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
    BRL BSD BTN BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN \
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD \
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP \
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD \
    RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY \
    TTD TWD TZS UAH UGX USD UYI UYU UYW UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL";

pub(super) fn is_sign(c: char) -> bool {
    matches!(c, '-' | '+' | '\u{2212}')
}

/// Characters of the number itself; anything else at either end is a prefix or suffix.
pub(super) fn is_numeric_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || c == ','
}

/// Reads number text a person typed: `$1,299.00`, `1 299,00`, `1.299,00`, `€12,50`,
/// `12.50 USD`, `-3`. Separators are decided from the text alone; what cannot be decided
/// (`1,299` as money) is an error, never a guess.
pub(super) fn read_number_text(text: &str, mode: Mode<'_>) -> Result<Plain, Why> {
    const NOT_A_NUMBER: &str = "is not a number";
    let not_a_number = || NOT_A_NUMBER.to_owned();

    let mut rest = text.trim();
    let mut negative = None;
    let mut take_sign = |rest: &mut &str| {
        if negative.is_none()
            && let Some(c) = rest.chars().next().filter(|&c| is_sign(c))
        {
            negative = Some(c != '+');
            *rest = rest[c.len_utf8()..].trim_start();
        }
    };
    take_sign(&mut rest);
    let prefix_len = rest
        .find(|c: char| is_numeric_char(c) || is_sign(c) || c.is_whitespace())
        .unwrap_or(rest.len());
    let prefix = &rest[..prefix_len];
    rest = rest[prefix_len..].trim_start();
    take_sign(&mut rest);
    let suffix_start = rest
        .char_indices()
        .rev()
        .take_while(|&(_, c)| !is_numeric_char(c) && !c.is_whitespace())
        .last()
        .map_or(rest.len(), |(i, _)| i);
    let suffix = &rest[suffix_start..];
    let core = rest[..suffix_start].trim_end();

    if core.is_empty() {
        return Err(not_a_number());
    }
    for affix in [prefix, suffix] {
        match mode {
            Mode::Quantity if !affix.is_empty() => return Err(not_a_number()),
            Mode::Quantity => {}
            Mode::Money(currency) => check_currency_affix(affix, currency)?,
        }
    }

    // Split into digit groups and the separators between them. Any whitespace character
    // (space, NBSP, narrow NBSP) stands for a thousands space; two in a row are refused.
    let mut groups: Vec<String> = vec![String::new()];
    let mut seps: Vec<char> = Vec::new();
    for c in core.chars() {
        if c.is_ascii_digit() {
            if let Some(group) = groups.last_mut() {
                group.push(c);
            }
        } else if c == '.' || c == ',' || c.is_whitespace() {
            let leading = seps.is_empty() && groups[0].is_empty();
            let current_empty = groups.last().is_none_or(String::is_empty);
            // Only a decimal point may open the number (`.5`); nothing may follow a separator
            // but digits.
            if current_empty && (c.is_whitespace() || !leading) {
                return Err(not_a_number());
            }
            seps.push(if c.is_whitespace() { ' ' } else { c });
            groups.push(String::new());
        } else {
            return Err(not_a_number());
        }
    }
    if groups.last().is_none_or(String::is_empty) {
        return Err(not_a_number());
    }
    let negative = negative.unwrap_or(false);

    let Some(&last) = seps.last() else {
        return Ok(Plain::new(negative, &groups[0], ""));
    };
    let grouping_only = |sep: char| seps.iter().all(|&s| s == sep);
    let decimal_at_end = if grouping_only(last) {
        if last == ' ' || seps.len() >= 2 {
            false
        } else {
            let head = &groups[0];
            let tail = &groups[1];
            let could_group =
                tail.len() == 3 && !head.is_empty() && head.bytes().any(|b| b != b'0');
            match (could_group, mode) {
                (false, _) => true,
                (true, Mode::Quantity) => false,
                (true, Mode::Money(_)) if last == '.' => true,
                (true, Mode::Money(_)) => {
                    return Err(format!(
                        "is ambiguous: \",\" may separate thousands ({head}{tail}) or decimals ({head}.{tail}); write it without the comma or with a \".\""
                    ));
                }
            }
        }
    } else {
        // Two kinds of separator: the last one is the decimal point, and it may appear only
        // once; every earlier one must be the same thousands separator.
        let grouping = seps[0];
        if last == ' ' || grouping == last || !seps[..seps.len() - 1].iter().all(|&s| s == grouping)
        {
            return Err(not_a_number());
        }
        true
    };

    let (int_groups, frac) = if decimal_at_end {
        let (frac, int) = groups
            .split_last()
            .map_or((String::new(), &groups[..0]), |(f, i)| (f.clone(), i));
        (int, frac)
    } else {
        (&groups[..], String::new())
    };
    // Thousands grouping: 1–3 digits, then groups of exactly 3.
    if int_groups.len() > 1
        && (int_groups[0].is_empty()
            || int_groups[0].len() > 3
            || int_groups[1..].iter().any(|g| g.len() != 3))
    {
        return Err(not_a_number());
    }
    Ok(Plain::new(negative, &int_groups.concat(), &frac))
}

/// Accepts an empty affix, a currency symbol, a local form like `US$`/`R$`, or an ISO
/// code; refuses one that names another currency than the shop's, since the amount
/// would be written in the wrong currency.
pub(super) fn check_currency_affix(affix: &str, currency: &Currency) -> Result<(), Why> {
    if affix.is_empty() {
        return Ok(());
    }
    let mut chars = affix.chars();
    let named = match (chars.next(), chars.next()) {
        (Some(c), None) => match SYMBOLS.iter().find(|(s, _)| *s == c) {
            Some((_, named)) => named.map(str::to_owned),
            None => return Err("is not a number".to_owned()),
        },
        _ if affix.len() == 3 && ISO_CODES.split(' ').any(|c| c.eq_ignore_ascii_case(affix)) => {
            Some(affix.to_ascii_uppercase())
        }
        _ if is_local_symbol(affix) => None,
        _ => return Err("is not a number".to_owned()),
    };
    match named {
        Some(code) if code != currency.code => Err(format!(
            "is in {code} but the shop's currency is {}",
            currency.code
        )),
        _ => Ok(()),
    }
}

/// `US$`, `R$`, `HK$`, `E£`: one to three letters before a symbol several currencies share.
pub(super) fn is_local_symbol(affix: &str) -> bool {
    affix.strip_suffix(['$', '£', '¥']).is_some_and(|letters| {
        (1..=3).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_alphabetic())
    })
}
