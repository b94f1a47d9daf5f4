//! Signatures: readable TOML records that turn a service's response into a [`ServiceInfo`].
//!
//! ```toml
//! [[signature]]
//! service = "ssh"                    # the protocol name
//! product = "OpenSSH"                # as its makers spell it (optional: generic fallbacks)
//! vendor = "openbsd"                 # CPE vendor; must agree with `cpe` when both are given
//! probes = ["banner"]                # the probes whose responses this applies to
//! # A regex over the response bytes (Rust `regex` syntax, bytes mode, ASCII classes: `.`
//! # matches any byte but `\n`, `(?s)` lets it match `\n` too, `\x00` is a byte).
//! pattern = '^SSH-[\d.]+-OpenSSH_(?P<version>(?P<v>\d+(?:\.\d+)*)(?P<u>p\d+)?)'
//! version = "{version}"              # templates: `{name}` / `{1}` insert a capture
//! extrainfo = "{extra}"
//! cpe = "cpe:2.3:a:openbsd:openssh:{v}:{u}:*:*:*:*:*:*"   # absent captures become `*`
//! package = "openssh"                # distro source package, when a `revision` group matched
//! package_epoch = 1                  # the distro package's epoch (not in any banner)
//! confidence = 10                    # 0..=10; default 10 with a version, 8 with a product, 5
//!
//! [[signature.test]]                 # at least one; checked whenever the file is loaded
//! response = 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'   # escaped like ServiceInfo::raw
//! version = "9.2p1"                  # optional expectations; "" expects the field absent
//! package = "openssh 1:9.2p1-2+deb12u3"
//! ```
//!
//! Two capture names have a meaning of their own: `revision` (a distro package revision such as
//! `2+deb12u3`) and `distro` (the banner's word for the distro, `Debian`, `Ubuntu`); with
//! `package` they make [`ServiceInfo::package`] (see [`crate::distro_package`]).
//!
//! These signatures are Picket's own, written from the protocols' documentation and from real
//! banners; none is taken from Nmap's `nmap-service-probes`.

use std::collections::HashSet;
use std::path::Path;

use picket_model::{Cpe, CpeValue, DetectionMethod, ServiceInfo};
use regex::bytes::{Captures, Regex, RegexBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::ServiceError;
use crate::escape::{RAW_LIMIT, escape, unescape};
use crate::package::distro_package;
use crate::probe::Probe;

/// The built-in signature files, compiled into the binary.
const BUILTIN: [(&str, &str); 5] = [
    ("builtin:ssh.toml", include_str!("../signatures/ssh.toml")),
    ("builtin:web.toml", include_str!("../signatures/web.toml")),
    ("builtin:ftp.toml", include_str!("../signatures/ftp.toml")),
    ("builtin:mail.toml", include_str!("../signatures/mail.toml")),
    ("builtin:data.toml", include_str!("../signatures/data.toml")),
];

/// Longest text taken from one capture: a hostile service cannot fill the model with kilobytes.
const CAPTURE_LIMIT: usize = 80;

/// Bounds the compiled size of a (user-supplied) pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// An ordered set of signatures. When several match, the one with the highest confidence wins,
/// and among equals the one that comes first.
#[derive(Debug, Clone, Default)]
pub struct Signatures {
    list: Vec<Signature>,
}

impl Signatures {
    /// Picket's own signatures (the files under `crates/picket-service/signatures/`).
    pub fn builtin() -> Result<Self, ServiceError> {
        let mut all = Signatures::default();
        for (name, text) in BUILTIN {
            all.list.extend(Signatures::parse(name, text)?.list);
        }
        Ok(all)
    }

    /// Parses one signature file's text; `name` is what errors call the file.
    pub fn parse(name: &str, text: &str) -> Result<Self, ServiceError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ServiceError::Syntax {
            file: name.to_owned(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let list = raw
            .signature
            .into_iter()
            .map(|spanned| {
                let line = line_of(text, spanned.span().start);
                Signature::compile(name, line, spanned.into_inner())
            })
            .collect::<Result<_, _>>()?;
        Ok(Signatures { list })
    }

    /// Reads one signature file.
    pub fn load_file(path: &Path) -> Result<Self, ServiceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServiceError::Read {
            path: path.to_owned(),
            source,
        })?;
        Signatures::parse(&path.display().to_string(), &text)
    }

    /// Reads every `*.toml` file of a directory, in file-name order.
    pub fn load_dir(dir: &Path) -> Result<Self, ServiceError> {
        let read_err = |source| ServiceError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let path = entry.map_err(read_err)?.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut all = Signatures::default();
        for path in paths {
            all.list.extend(Signatures::load_file(&path)?.list);
        }
        Ok(all)
    }

    /// These signatures with `user`'s merged in front: on equal confidence, the user's win.
    pub fn merge(self, user: Signatures) -> Signatures {
        let mut list = user.list;
        list.extend(self.list);
        Signatures { list }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// What `response` (the answer to `probe`) says the service is, by the best matching
    /// signature; `None` when none matches. Never panics, whatever the bytes.
    pub fn identify(&self, probe: Probe, response: &[u8]) -> Option<ServiceInfo> {
        let mut best: Option<ServiceInfo> = None;
        for sig in self.list.iter().filter(|s| s.probes.contains(&probe)) {
            if best
                .as_ref()
                .is_some_and(|b| b.confidence >= sig.confidence)
            {
                continue;
            }
            if let Some(info) = sig.apply(probe, response) {
                best = Some(info);
            }
        }
        best
    }

    /// Does any signature apply to answers of `probe`?
    pub(crate) fn covers(&self, probe: Probe) -> bool {
        self.list.iter().any(|s| s.probes.contains(&probe))
    }
}

#[derive(Debug, Clone)]
struct Signature {
    file: String,
    line: usize,
    service: String,
    product: Option<String>,
    probes: Vec<Probe>,
    regex: Regex,
    version: Option<Template>,
    extrainfo: Option<Template>,
    cpe: Option<Template>,
    package: Option<Template>,
    package_epoch: Option<u32>,
    confidence: u8,
    tests: Vec<RawTest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    signature: Vec<Spanned<RawSignature>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    service: String,
    product: Option<String>,
    vendor: Option<String>,
    probes: Vec<String>,
    pattern: String,
    version: Option<String>,
    extrainfo: Option<String>,
    cpe: Option<String>,
    package: Option<String>,
    package_epoch: Option<u32>,
    confidence: Option<u8>,
    #[serde(default)]
    test: Vec<RawTest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    response: String,
    product: Option<String>,
    version: Option<String>,
    extrainfo: Option<String>,
    cpe: Option<String>,
    package: Option<String>,
    ecosystem: Option<String>,
}

impl Signature {
    fn compile(file: &str, line: usize, raw: RawSignature) -> Result<Self, ServiceError> {
        let invalid = |field: &'static str, why: String| ServiceError::Invalid {
            file: file.to_owned(),
            line,
            service: raw.service.clone(),
            field,
            why,
        };
        if raw.service.is_empty()
            || !raw
                .service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                "service",
                "want lowercase letters, digits, '-'".into(),
            ));
        }
        if raw.probes.is_empty() {
            return Err(invalid("probes", "name at least one probe".into()));
        }
        let probes = raw
            .probes
            .iter()
            .map(|p| {
                Probe::parse(p).ok_or_else(|| {
                    let known: Vec<&str> = Probe::ALL.iter().map(|p| p.name()).collect();
                    invalid("probes", format!("unknown probe {p:?}; known: {known:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let regex = RegexBuilder::new(&raw.pattern)
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| invalid("pattern", e.to_string()))?;
        let template = |field: &'static str, text: &Option<String>| {
            text.as_deref()
                .map(|t| Template::parse(t, &regex))
                .transpose()
                .map_err(|why| invalid(field, why))
        };
        let version = template("version", &raw.version)?;
        let extrainfo = template("extrainfo", &raw.extrainfo)?;
        let cpe = template("cpe", &raw.cpe)?;
        let package = template("package", &raw.package)?;
        if let Some(cpe) = &cpe {
            let sample = Cpe::parse(&cpe.render(|_| "1".to_owned()))
                .map_err(|e| invalid("cpe", e.to_string()))?;
            if let Some(vendor) = &raw.vendor
                && sample.vendor != CpeValue::value(vendor)
            {
                return Err(invalid(
                    "vendor",
                    format!("{vendor:?} is not the CPE's vendor"),
                ));
            }
        }
        if package.is_some()
            && (version.is_none() || !regex.capture_names().flatten().any(|n| n == "revision"))
        {
            return Err(invalid(
                "package",
                "needs a version and a (?P<revision>...) group".into(),
            ));
        }
        let default_confidence = match (&raw.product, &version) {
            (Some(_), Some(_)) => 10,
            (Some(_), None) => 8,
            _ => 5,
        };
        let confidence = raw.confidence.unwrap_or(default_confidence);
        if confidence > picket_model::SERVICE_CONFIDENCE_MAX {
            return Err(invalid("confidence", format!("{confidence} is above 10")));
        }
        if raw.test.is_empty() {
            return Err(invalid(
                "test",
                "give at least one [[signature.test]]".into(),
            ));
        }
        let sig = Signature {
            file: file.to_owned(),
            line,
            service: raw.service,
            product: raw.product,
            probes,
            regex,
            version,
            extrainfo,
            cpe,
            package,
            package_epoch: raw.package_epoch,
            confidence,
            tests: raw.test,
        };
        sig.check_tests()?;
        Ok(sig)
    }

    /// Runs the signature's own tests: each response must match and give what it expects.
    fn check_tests(&self) -> Result<(), ServiceError> {
        for (i, test) in self.tests.iter().enumerate() {
            let fail = |why: String| ServiceError::Invalid {
                file: self.file.clone(),
                line: self.line,
                service: self.service.clone(),
                field: "test",
                why: format!("test {}: {why}", i + 1),
            };
            let bytes = unescape(&test.response).map_err(|e| fail(format!("response: {e}")))?;
            let Some(info) = self.apply(self.probes[0], &bytes) else {
                return Err(fail("the pattern does not match the response".into()));
            };
            let cpe = info.cpe.as_ref().map(Cpe::to_string);
            let package = info.package.as_ref().map(ToString::to_string);
            let checks = [
                ("product", &test.product, &info.product),
                ("version", &test.version, &info.version),
                ("extrainfo", &test.extrainfo, &info.extrainfo),
                ("cpe", &test.cpe, &cpe),
                ("package", &test.package, &package),
                ("ecosystem", &test.ecosystem, &info.ecosystem),
            ];
            for (field, want, got) in checks {
                let Some(want) = want else { continue };
                let want = Some(want.as_str()).filter(|w| !w.is_empty());
                if want != got.as_deref() {
                    return Err(fail(format!("{field}: expected {want:?}, got {got:?}")));
                }
            }
        }
        Ok(())
    }

    fn apply(&self, probe: Probe, response: &[u8]) -> Option<ServiceInfo> {
        let caps = self.regex.captures(response)?;
        let method = match probe {
            Probe::Banner => DetectionMethod::Banner,
            other => DetectionMethod::Probe(other.name().to_owned()),
        };
        let mut info = ServiceInfo::new(&self.service, method, self.confidence);
        info.product = self.product.clone();
        let text = |t: &Option<Template>| {
            t.as_ref()
                .map(|t| t.render(|g| capture_text(&caps, g).unwrap_or_default()))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        info.version = text(&self.version);
        info.extrainfo = text(&self.extrainfo);
        info.cpe = self.cpe.as_ref().and_then(|t| {
            let rendered = t.render(|g| {
                capture_text(&caps, g)
                    .map_or_else(|| "*".to_owned(), |v| CpeValue::value(&v).to_string())
            });
            Cpe::parse(&rendered).ok()
        });
        if let (Some(source), Some(upstream), Some(revision)) = (
            text(&self.package),
            &info.version,
            capture_text(&caps, &Group::Name("revision".into())),
        ) {
            let distro = capture_text(&caps, &Group::Name("distro".into()));
            if let Some((package, ecosystem)) = distro_package(
                &source,
                self.package_epoch,
                upstream,
                distro.as_deref(),
                &revision,
            ) {
                info.package = Some(package);
                info.ecosystem = Some(ecosystem);
            }
        }
        info.raw = Some(escape(&response[..response.len().min(RAW_LIMIT)]));
        Some(info)
    }
}

/// A capture as text fit for a report: lossy UTF-8, control characters dropped, trimmed and
/// cut to [`CAPTURE_LIMIT`] characters; `None` when it did not participate or is empty.
fn capture_text(caps: &Captures<'_>, group: &Group) -> Option<String> {
    let m = match group {
        Group::Name(name) => caps.name(name),
        Group::Index(i) => caps.get(*i),
    }?;
    let text: String = String::from_utf8_lossy(m.as_bytes())
        .chars()
        .filter(|c| !c.is_control())
        .take(CAPTURE_LIMIT)
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Group {
    Name(String),
    Index(usize),
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Capture(Group),
}

/// A field template: literal text with `{name}` or `{1}` captures; `{{` and `}}` are braces.
#[derive(Debug, Clone)]
struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text` and checks that every capture it names exists in `regex`.
    fn parse(text: &str, regex: &Regex) -> Result<Self, String> {
        let names: HashSet<&str> = regex.capture_names().flatten().collect();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let group = match name.parse::<usize>() {
                        Ok(i) if i < regex.captures_len() => Group::Index(i),
                        Ok(i) => return Err(format!("{text:?}: the pattern has no group {i}")),
                        Err(_) if names.contains(name.as_str()) => Group::Name(name),
                        Err(_) => {
                            return Err(format!("{text:?}: the pattern has no group {name:?}"));
                        }
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Capture(group));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    fn render(&self, mut value: impl FnMut(&Group) -> String) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.clone(),
                Part::Capture(g) => value(g),
            })
            .collect()
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// Built once for the property tests, which call `identify` hundreds of times.
    static BUILTINS: LazyLock<Signatures> = LazyLock::new(|| Signatures::builtin().unwrap());

    #[test]
    fn every_builtin_signature_passes_its_tests_and_wins_on_them() {
        let all = Signatures::builtin().unwrap();
        assert!(all.len() >= 25, "{}", all.len());
        for sig in &all.list {
            sig.check_tests().unwrap();
            for test in &sig.tests {
                let bytes = unescape(&test.response).unwrap();
                for &probe in &sig.probes {
                    // The whole set must pick this signature (or an equal one) for its own
                    // test: no other signature shadows it.
                    let got = all.identify(probe, &bytes).unwrap();
                    assert_eq!(
                        (got.name.as_str(), got.product.as_ref(), got.confidence),
                        (sig.service.as_str(), sig.product.as_ref(), sig.confidence),
                        "{}:{} on {:?}",
                        sig.file,
                        sig.line,
                        test.response
                    );
                }
            }
        }
    }

    #[test]
    fn required_products_are_covered() {
        let all = Signatures::builtin().unwrap();
        let products: HashSet<&str> = all
            .list
            .iter()
            .filter_map(|s| s.product.as_deref())
            .collect();
        for want in [
            "OpenSSH",
            "Dropbear",
            "nginx",
            "Apache httpd",
            "lighttpd",
            "Redis",
            "Memcached",
            "vsftpd",
            "ProFTPD",
            "Pure-FTPd",
            "Postfix",
            "Exim",
            "OpenSMTPD",
            "Dovecot",
            "MySQL",
            "MariaDB",
            "PostgreSQL",
        ] {
            assert!(products.contains(want), "{want}");
        }
        for service in ["http", "tls", "ssh", "ftp", "smtp"] {
            assert!(
                all.list
                    .iter()
                    .any(|s| s.service == service && s.product.is_none()),
                "generic {service}"
            );
        }
    }

    #[test]
    fn openssh_debian_banner_in_full() {
        let all = Signatures::builtin().unwrap();
        let info = all
            .identify(Probe::Banner, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            .unwrap();
        assert_eq!(info.name, "ssh");
        assert_eq!(info.product.as_deref(), Some("OpenSSH"));
        assert_eq!(info.version.as_deref(), Some("9.2p1"));
        assert_eq!(info.extrainfo.as_deref(), Some("Debian-2+deb12u3"));
        assert_eq!(
            info.cpe.unwrap().to_string(),
            "cpe:2.3:a:openbsd:openssh:9.2:p1:*:*:*:*:*:*"
        );
        assert_eq!(
            info.package.unwrap().to_string(),
            "openssh 1:9.2p1-2+deb12u3"
        );
        assert_eq!(info.ecosystem.as_deref(), Some("Debian:12"));
        assert_eq!(info.method, DetectionMethod::Banner);
        assert_eq!(info.confidence, 10);
        assert_eq!(
            info.raw.as_deref(),
            Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\\r\\n")
        );
        // The same bytes as the answer to a probe no signature of OpenSSH names: nothing.
        assert!(
            all.identify(Probe::RedisInfo, b"SSH-2.0-OpenSSH_9.2p1\r\n")
                .is_none()
        );
    }

    const USER: &str = r#"
# A user's own signature, overriding the built-in nginx one on equal confidence.
[[signature]]
service = "http"
product = "Our nginx build"
probes = ["http-get"]
pattern = '(?im)^server:[ \t]*nginx/(?P<version>[\d.]+)'
version = "{version}"

[[signature.test]]
response = 'HTTP/1.1 200 OK\r\nServer: nginx/1.25.0\r\n\r\n'
version = "1.25.0"
"#;

    #[test]
    fn user_files_merge_in_front() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ours.toml"), USER).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a signature file").unwrap();
        let user = Signatures::load_dir(dir.path()).unwrap();
        assert_eq!(user.len(), 1);
        let merged = Signatures::builtin().unwrap().merge(user);
        let info = merged
            .identify(
                Probe::HttpGet,
                b"HTTP/1.1 200 OK\r\nServer: nginx/1.25.0\r\n\r\n",
            )
            .unwrap();
        assert_eq!(info.product.as_deref(), Some("Our nginx build"));
        let file = Signatures::load_file(&dir.path().join("ours.toml")).unwrap();
        assert_eq!(file.len(), 1);
        let missing = Signatures::load_file(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.to_string().contains("nope.toml"), "{missing}");
    }

    fn error_of(text: &str) -> String {
        Signatures::parse("user.toml", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad_regex = USER.replace("(?P<version>[\\d.]+)", "(?P<version>[\\d.]+");
        assert!(error_of(&bad_regex).starts_with("user.toml:3: signature \"http\": pattern:"));
        let bad_probe = USER.replace("\"http-get\"", "\"gopher\"");
        assert!(error_of(&bad_probe).contains("unknown probe \"gopher\""));
        let bad_group = USER.replace("{version}", "{release}");
        assert!(error_of(&bad_group).contains("no group \"release\""));
        let bad_test = USER.replace("version = \"1.25.0\"", "version = \"1.24.0\"");
        let e = error_of(&bad_test);
        assert!(
            e.starts_with("user.toml:3:") && e.contains("expected Some(\"1.24.0\")"),
            "{e}"
        );
        let no_test = USER.split("[[signature.test]]").next().unwrap();
        assert!(error_of(no_test).contains("at least one"));
        let typo = USER.replace("product =", "prodcut =");
        assert!(
            error_of(&typo).starts_with("user.toml:5:"),
            "{}",
            error_of(&typo)
        );
        assert!(error_of("[[signature]\n").starts_with("user.toml:1:"));
        let bad_cpe = USER.replace(
            "version = \"{version}\"",
            "version = \"{version}\"\nvendor = \"f5\"\ncpe = \"cpe:2.3:a:nginx:nginx:{version}\"",
        );
        assert!(error_of(&bad_cpe).contains("vendor"));
        let no_revision = USER.replace(
            "version = \"{version}\"",
            "version = \"{version}\"\npackage = \"nginx\"",
        );
        assert!(error_of(&no_revision).contains("revision"));
    }

    #[test]
    fn templates() {
        let re = RegexBuilder::new(r"(?P<a>x)(y)?").build().unwrap();
        let t = Template::parse("{{{a}}}-{2}", &re).unwrap();
        let caps = re.captures(b"x").unwrap();
        assert_eq!(
            t.render(|g| capture_text(&caps, g).unwrap_or_default()),
            "{x}-"
        );
        assert!(Template::parse("{3}", &re).is_err());
        assert!(Template::parse("{b}", &re).is_err());
    }

    #[test]
    fn captures_are_bounded_and_cleaned() {
        let all = Signatures::builtin().unwrap();
        let mut banner = b"SSH-2.0-OpenSSH_9.2p1 ".to_vec();
        banner.extend(std::iter::repeat_n(b'A', 10_000));
        banner.extend(b"\x07\r\n");
        let info = all.identify(Probe::Banner, &banner).unwrap();
        assert_eq!(info.extrainfo.unwrap().len(), CAPTURE_LIMIT);
        assert!(info.raw.unwrap().len() <= RAW_LIMIT * 4);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            probe in proptest::sample::select(Probe::ALL.to_vec()),
        ) {
            if let Some(info) = BUILTINS.identify(probe, &bytes) {
                prop_assert!(info.confidence <= 10);
            }
        }

        #[test]
        fn banner_like_bytes_never_panic(
            prefix in proptest::sample::select(vec![
                "SSH-2.0-OpenSSH_", "220 ", "HTTP/1.1 200 OK\r\nServer: ", "VERSION ",
                "$100\r\n# Server\r\nredis_version:", "* OK ", "+OK ",
            ]),
            tail in "\\PC{0,80}",
        ) {
            let bytes = format!("{prefix}{tail}").into_bytes();
            for probe in Probe::ALL {
                let _ = BUILTINS.identify(probe, &bytes);
            }
        }
    }
}
