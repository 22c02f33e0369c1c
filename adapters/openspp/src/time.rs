//! Odoo's UTC datetimes (`YYYY-MM-DD HH:MM:SS[.ffffff]`) as microseconds since 1970, so a
//! cursor can step by one microsecond or one second across any date boundary.

const US: i64 = 1_000_000;

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM:SS`, with an optional fraction of up to six digits.
pub fn parse(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let micros = format!("{frac:0<6}").parse::<i64>().ok()?;
    let secs = days_from_civil(y, m, day) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(secs * US + micros)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`: what PostgreSQL compares at full precision.
pub fn format(us: i64) -> String {
    let secs = us.div_euclid(US);
    let micros = us.rem_euclid(US);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The start of the second `us` falls in.
pub fn second_of(us: i64) -> i64 {
    us.div_euclid(US) * US
}

/// One second, in the unit of [`parse`].
pub const SECOND: i64 = US;

/// A `write_date` as read (`YYYY-MM-DD HH:MM:SS`, UTC) in RFC 3339.
pub fn rfc3339(write_date: &str) -> String {
    format!("{}Z", write_date.trim().replacen(' ', "T", 1))
}
