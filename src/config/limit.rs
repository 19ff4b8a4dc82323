//! `limit` (MLflow's slowapi/`limits` rate limit) and our `timeouts` extension.

use std::time::Duration;

use crate::config::node::Node;
use crate::config::reader::{Ctx, Obj, Res};
use crate::config::resilience::positive_seconds;
use crate::config::types::{Granularity, Limit, RenewalPeriod, Timeouts};

/// MLflow's text (sic: the missing spaces are MLflow's).
pub(crate) const LIMIT_PARSE_ERROR: &str = "Failed to parse the rate limit configuration.Please make sure limit.calls is a positive number andlimit.renewal_period is a right granularity";

const LIMIT_KEYS: &[&str] = &["calls", "renewal_period", "key"];
const TIMEOUT_KEYS: &[&str] = &["total_seconds", "connect_seconds", "stream_idle_seconds"];

/// Parses an endpoint's `limit` (null = no limit).
///
/// MLflow validates `limits.parse(f"{calls}/{renewal_period}")`, so `calls` must be a
/// non-negative integer (0 is accepted and blocks every call) and `renewal_period` must be
/// `[N] second|minute|hour|day|month|year`, plural allowed, case-insensitive, whitespace
/// tolerant (`minute`, `10 seconds`, `2 Hours`). `limit.key` is accepted and ignored, with a
/// warning. Divergence: `limits` would also accept several limits in one string
/// (`minute;5/hour`), which MLflow then enforces all at once; we reject that form explicitly.
pub(crate) fn parse_limit(ctx: &mut Ctx<'_>, path: &str, node: &Node) -> Res<Option<Limit>> {
    if node.is_null() {
        return Ok(None);
    }
    let obj = Obj::new(
        ctx,
        path,
        node,
        "a mapping with 'calls' and 'renewal_period'",
    )?;
    obj.check_keys(ctx, LIMIT_KEYS)?;
    let calls_node = obj.req(ctx, "calls")?;
    // pydantic's lax `int` also takes numeric strings (`calls: "10"`).
    let calls = match calls_node.as_str().map(|s| s.trim().parse::<i128>()) {
        Some(Ok(n)) => n,
        _ => crate::config::reader::integer(ctx, &obj.path_of("calls"), calls_node)?,
    };
    let raw_period = obj.str_req(ctx, "renewal_period")?;
    let mut limit_key = None;
    if let Some((key, value)) = obj.entry("key").filter(|(_, v)| !v.is_null()) {
        limit_key = Some(ctx.string(&obj.path_of("key"), value)?.to_owned());
        ctx.warn(
            &obj.path_of("key"),
            key.pos,
            "'limit.key' is accepted for MLflow compatibility but ignored: limits are always per client IP",
        );
    }
    let calls = u64::try_from(calls)
        .map_err(|_| ctx.err(&obj.path_of("calls"), calls_node.pos, LIMIT_PARSE_ERROR))?;
    let period_pos = obj.pos_of("renewal_period");
    let renewal_period = match parse_period(raw_period) {
        Ok(p) => p,
        Err(PeriodError::Multiple) => {
            return Err(ctx.err(
                &obj.path_of("renewal_period"),
                period_pos,
                format!(
                    "{LIMIT_PARSE_ERROR} (llm-gateway supports one limit per endpoint; '{raw_period}' lists several)"
                ),
            ));
        }
        Err(PeriodError::Invalid) => {
            return Err(ctx.err(
                &obj.path_of("renewal_period"),
                period_pos,
                LIMIT_PARSE_ERROR,
            ));
        }
    };
    Ok(Some(Limit {
        calls,
        renewal_period,
        raw_period: raw_period.to_owned(),
        key: limit_key,
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PeriodError {
    Invalid,
    Multiple,
}

/// The part of `limits`' grammar after `{calls}/`: `\s*([0-9]+)*\s*(unit)s?\s*`, then
/// optionally more `[,;|]N/period` items (which we do not support).
pub(crate) fn parse_period(text: &str) -> Result<RenewalPeriod, PeriodError> {
    let (first, rest) = match text.find([',', ';', '|']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let period = parse_single(first).ok_or(PeriodError::Invalid)?;
    match rest {
        None => Ok(period),
        Some(rest) => {
            // Valid for `limits` only if every further item is a full `N/period`.
            let all_valid = rest.split([',', ';', '|']).all(|item| {
                item.split_once('/').is_some_and(|(amount, p)| {
                    let amount = amount.trim();
                    !amount.is_empty()
                        && amount.bytes().all(|b| b.is_ascii_digit())
                        && parse_single(p).is_some()
                })
            });
            Err(if all_valid {
                PeriodError::Multiple
            } else {
                PeriodError::Invalid
            })
        }
    }
}

fn parse_single(text: &str) -> Option<RenewalPeriod> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix('s')
        .filter(|u| !u.is_empty() && *u != "s")
        .unwrap_or(&unit);
    let granularity = match unit {
        "second" => Granularity::Second,
        "minute" => Granularity::Minute,
        "hour" => Granularity::Hour,
        "day" => Granularity::Day,
        "month" => Granularity::Month,
        "year" => Granularity::Year,
        _ => return None,
    };
    // `limits`: `multiples and int(multiples) or None`, so "0 minutes" means 1 minute.
    let multiples = if digits.is_empty() {
        1
    } else {
        match digits.parse::<u64>() {
            Ok(0) => 1,
            Ok(n) => n,
            Err(_) => return None,
        }
    };
    Some(RenewalPeriod {
        multiples,
        granularity,
    })
}

/// Parses our `timeouts` extension (null = gateway defaults).
pub(crate) fn parse_timeouts(ctx: &Ctx<'_>, path: &str, node: &Node) -> Res<Timeouts> {
    if node.is_null() {
        return Ok(Timeouts::default());
    }
    let obj = Obj::new(
        ctx,
        path,
        node,
        "a mapping with 'total_seconds', 'connect_seconds' and/or 'stream_idle_seconds'",
    )?;
    obj.check_keys(ctx, TIMEOUT_KEYS)?;
    let seconds = |key: &str| -> Res<Option<Duration>> {
        positive_seconds(ctx, &obj.path_of(key), obj.number_opt(ctx, key)?)
    };
    Ok(Timeouts {
        total: seconds("total_seconds")?,
        connect: seconds("connect_seconds")?,
        stream_idle: seconds("stream_idle_seconds")?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn p(s: &str) -> Result<(u64, Granularity), PeriodError> {
        parse_period(s).map(|r| (r.multiples, r.granularity))
    }

    #[test]
    fn period_grammar() {
        assert_eq!(p("minute"), Ok((1, Granularity::Minute)));
        assert_eq!(p("Minute"), Ok((1, Granularity::Minute)));
        assert_eq!(p("minutes"), Ok((1, Granularity::Minute)));
        assert_eq!(p("10 seconds"), Ok((10, Granularity::Second)));
        assert_eq!(p(" 2 HOURS "), Ok((2, Granularity::Hour)));
        assert_eq!(p("3day"), Ok((3, Granularity::Day)));
        assert_eq!(p("month"), Ok((1, Granularity::Month)));
        assert_eq!(p("1 year"), Ok((1, Granularity::Year)));
        assert_eq!(p("0 minutes"), Ok((1, Granularity::Minute)));
        assert_eq!(p("minute;5/hour"), Err(PeriodError::Multiple));
        for bad in [
            "",
            "s",
            "fortnight",
            "minutess",
            "1 0 minute",
            "-1 minute",
            "minute;x",
            "per minute",
            "1.5 minutes",
        ] {
            assert_eq!(p(bad), Err(PeriodError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn describe_matches_limits_item_string() {
        let r = parse_period("minute").unwrap();
        assert_eq!(r.describe(2), "2 per 1 minute");
        assert_eq!(
            parse_period("10 seconds").unwrap().describe(5),
            "5 per 10 second"
        );
        assert_eq!(
            parse_period("2 days").unwrap().window(),
            Duration::from_secs(2 * 86_400)
        );
    }
}
