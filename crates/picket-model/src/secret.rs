//! Database locations may carry a password (`postgres://user:PASSWORD@host/db`,
//! `...?password=PASSWORD`, or libpq's `host=h password=PASSWORD`). Whatever Picket shows or
//! stores about a location (an error message, a finding's verify command) goes through
//! [`without_password`] first. PostgreSQL still finds the password in `PGPASSWORD` or `~/.pgpass`.

/// `location` with every password left out: the URL's `user:password@` becomes `user@`, a
/// `password=` query parameter or libpq `password=` keyword is dropped.
pub fn without_password(location: &str) -> String {
    match location.split_once("://") {
        Some((scheme, rest)) => url_without_password(scheme, rest),
        None => keywords_without_password(location),
    }
}

fn url_without_password(scheme: &str, rest: &str) -> String {
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{hosts}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// libpq's `key=value key='quoted value'` form, without its `password` pair.
fn keywords_without_password(location: &str) -> String {
    let mut kept = Vec::new();
    let mut rest = location.trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace());
        let Some(key_end) = key_end else {
            kept.push(rest);
            break;
        };
        let key = &rest[..key_end];
        let after_key = rest[key_end..].trim_start();
        let Some(value) = after_key.strip_prefix('=') else {
            // A word without `=`: not a keyword pair, kept as it is.
            let (word, tail) = rest.split_at(key_end);
            kept.push(word);
            rest = tail.trim_start();
            continue;
        };
        let value = value.trim_start();
        let value_len = value_length(value);
        let pair_len = rest.len() - value.len() + value_len;
        if !key.eq_ignore_ascii_case("password") {
            kept.push(&rest[..pair_len]);
        }
        rest = rest[pair_len..].trim_start();
    }
    kept.join(" ")
}

/// The length of a libpq value at the start of `s`: quoted (`'a b\'c'`) or up to whitespace.
fn value_length(s: &str) -> usize {
    if !s.starts_with('\'') {
        return s.find(char::is_whitespace).unwrap_or(s.len());
    }
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return i + 1,
            _ => {}
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_in_a_shown_location() {
        for (location, shown) in [
            (
                "postgres://picket:s3cret@127.0.0.1:5432/picket_test",
                "postgres://picket@127.0.0.1:5432/picket_test",
            ),
            (
                "postgresql://u@h/db?sslmode=disable&password=s3cret",
                "postgresql://u@h/db?sslmode=disable",
            ),
            ("postgres://u@h/db?PASSWORD=s3cret", "postgres://u@h/db"),
            ("postgres://a:b:c@h?x=1", "postgres://a@h?x=1"),
            ("postgres://h:5432", "postgres://h:5432"),
            (
                "host=127.0.0.1 user=picket password=s3cret dbname=p",
                "host=127.0.0.1 user=picket dbname=p",
            ),
            ("host=h password = 'a b\\' c' dbname=p", "host=h dbname=p"),
            ("password=s3cret", ""),
            ("picket.db", "picket.db"),
        ] {
            assert_eq!(without_password(location), shown, "{location}");
            assert!(!without_password(location).contains("s3cret"));
        }
    }
}
