#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds taken from the crates' test fixtures and built-in data,
# so that each fuzzer starts from real inputs instead of an empty file. The corpus is git-ignored:
# run this once after a checkout (it only adds files, so a grown corpus is kept).
#
#   fuzz/seed.sh            # every target
#   fuzz/seed.sh vuln_nvd   # the named targets only
set -euo pipefail

fuzz=$(cd "$(dirname "$0")" && pwd)
crates=$(cd "$fuzz/../crates" && pwd)
ingest=$crates/picket-ingest/tests/fixtures
intel=$crates/picket-intel/tests/fixtures
vuln=$crates/picket-vuln/tests/fixtures
signatures=$crates/picket-service/signatures

selected=("$@")

# wanted TARGET: whether TARGET was named on the command line (or none was).
wanted() {
    [[ ${#selected[@]} -eq 0 ]] && return 0
    local t
    for t in "${selected[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

# seed TARGET NAME: stdin becomes corpus/TARGET/NAME. It runs at the end of a pipeline, in a
# subshell: callers count their seeds outside the pipeline.
seed() {
    mkdir -p "$fuzz/corpus/$1"
    cat >"$fuzz/corpus/$1/$2"
}

# copy TARGET FILE...: each fixture file as one seed, named after it.
copy() {
    local target=$1 f
    shift
    for f in "$@"; do seed "$target" "$(basename "$f")" <"$f"; done
}

# Targets that take a selector byte first (a probe or a feed file name), then the body: every
# fixture once with each selector, so each parser sees each real input.
with_selectors() {
    local target=$1 count=$2 f i
    shift 2
    for f in "$@"; do
        for ((i = 0; i < count; i++)); do
            { printf "\\x$(printf %02x "$i")"; cat "$f"; } | seed "$target" "$(basename "$f").$i"
        done
    done
}

# The literal strings `KEY = '...'` of the signature files, with their escapes (\r, \n, \xNN)
# turned into bytes by printf %b.
signature_strings() {
    sed -n "s/^$1 = '\\(.*\\)'\$/\\1/p" "$signatures"/*.toml
}

# Version strings the vulnerability fixtures compare: ranges, fixed and installed versions.
fixture_versions() {
    grep -ohE '"(version|versionStartIncluding|versionStartExcluding|versionEndIncluding|versionEndExcluding|introduced|fixed|InstalledVersion|FixedVersion)": *"[^"]*"' \
        "$vuln"/*.json "$vuln"/nvd/*.json | sed 's/.*: *"\(.*\)"/\1/' | sort -u
}

if wanted ingest_zeek_tsv; then copy ingest_zeek_tsv "$ingest"/zeek_conn_*.log; fi
if wanted ingest_zeek_json; then copy ingest_zeek_json "$ingest"/zeek_conn.json; fi
if wanted ingest_suricata; then
    copy ingest_suricata "$ingest"/suricata_eve.json "$ingest"/aws_network_firewall.log
fi
if wanted ingest_vpc; then copy ingest_vpc "$ingest"/aws_vpc_*.log "$ingest"/vpc_custom.log; fi
if wanted ingest_conntrack; then copy ingest_conntrack "$ingest"/conntrack*.log; fi
if wanted ingest_ndjson; then copy ingest_ndjson "$ingest"/events.ndjson; fi
if wanted ingest_detect; then
    copy ingest_detect "$ingest"/*.log "$ingest"/*.json "$ingest"/*.ndjson
fi

# intel_detect_and_parse picks one of 7 file names with its first byte.
if wanted intel_detect_and_parse; then
    with_selectors intel_detect_and_parse 7 $(ls "$intel"/* | grep -v README.md)
fi

if wanted vuln_nvd; then copy vuln_nvd "$vuln"/nvd/*.json; fi
if wanted vuln_osv; then copy vuln_osv "$vuln"/osv_*.json; fi
if wanted vuln_epss; then copy vuln_epss "$vuln"/epss_sample.csv; fi
if wanted vuln_kev; then copy vuln_kev "$vuln"/kev_subset.json; fi
if wanted vuln_report; then
    copy vuln_report "$vuln"/trivy_*.json "$vuln"/grype_*.json "$vuln"/cyclonedx_*.json
fi

# vuln_cpe: every CPE of the NVD fixtures and the signature tests alone, and pairs of lines
# (criterion, application, start bound, end bound; `=` marks an inclusive bound).
if wanted vuln_cpe; then
    mapfile -t criteria < <(grep -oh '"criteria": *"[^"]*"' "$vuln"/nvd/*.json |
        sed 's/.*"\(cpe:[^"]*\)"/\1/' | sort -u)
    mapfile -t apps < <(signature_strings cpe | grep -v '{' | sort -u)
    n=0
    for c in "${criteria[@]}" "${apps[@]}"; do
        printf '%s' "$c" | seed vuln_cpe "cpe.$n"
        n=$((n + 1))
    done
    n=0
    for c in "${criteria[@]}"; do
        for a in "${apps[@]}"; do
            printf '%s\n%s\n=8.6\n9.8\n' "$c" "$a" | seed vuln_cpe "pair.$n"
            n=$((n + 1))
        done
    done
fi

# vuln_version takes two strings, encoded as arbitrary's (&str, &str) reads them: the first
# string, then the second, then one byte with the first one's length (inputs under 256 bytes).
if wanted vuln_version; then
    mapfile -t versions < <(fixture_versions)
    n=0
    for a in "${versions[@]}"; do
        for b in "${versions[@]}"; do
            [[ $a == "$b" ]] && continue
            { printf '%s%s' "$a" "$b"; printf "\\x$(printf %02x "${#a}")"; } |
                seed vuln_version "pair.$n"
            n=$((n + 1))
        done
    done
fi

# service_identify: the first byte picks one of 7 probes; the rest is the answer. Seeds are the
# responses of the signature files' own tests, with every probe, and the signature files
# themselves (which the target also reads as a user signature file).
if wanted service_identify; then
    n=0
    while IFS= read -r response; do
        for ((i = 0; i < 7; i++)); do
            { printf "\\x$(printf %02x "$i")"; printf '%b' "$response"; } |
                seed service_identify "response.$n.$i"
        done
        n=$((n + 1))
    done < <(signature_strings response)
    with_selectors service_identify 1 "$signatures"/*.toml
fi

# picket-model has no fixture files: its targets and port specs are the forms its documentation
# and unit tests (crates/picket-model/src/target.rs, ports.rs) show, and the shipped top-ports list.
if wanted model_target; then
    n=0
    for t in 10.0.0.1 ::1 10.0.0.5/24 fd00::1/120 10.0.0.1-20 10.0.0.250-10.0.1.4 \
        fd00::1-fd00::3 Scanme.Example.ORG localhost ::ffff:192.0.2.1 192.0.2.0/30; do
        printf '%s' "$t" | seed model_target "spec.$n"
        n=$((n + 1))
    done
    printf '10.0.0.0/24\n127.0.0.1\nscanme.example.org\n--exclude\n10.0.0.7\n' |
        seed model_target targets.0
fi

if wanted model_ports; then
    n=0
    for p in 22,80,8000-8003,443 - 65530- -3 1-1023 '22, 80'; do
        printf '%s' "$p" | seed model_ports "spec.$n"
        n=$((n + 1))
    done
    awk '!/^#/ && NF && n++ < 100' "$crates"/picket-model/data/top-ports.txt | paste -sd, |
        tr -d '\n' | seed model_ports top100
fi

for dir in "$fuzz"/corpus/*/; do
    t=$(basename "$dir")
    if wanted "$t"; then echo "$t: $(find "$dir" -type f | wc -l) files"; fi
done
